/**
 * Our WebGPU kernels agree with TensorFlow.js's `cpu` backend within 1e-4 relative (to the
 * reference's largest magnitude) on odd shapes, and four full-batch training steps on WebGPU
 * with them (forward and backward convolutions, BatchNorm with and without ReLU, the one-pass
 * momentum-SGD update) match the same steps on `cpu`. Skips, saying why, where no WebGPU adapter exists.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { findAdapter, startWebGPU } from "../../src/backend/webgpu.ts";
import { activeWebGPUKernels, useWebGPUKernels } from "../../src/backend/webgpu_kernels.ts";
import {
  BATCH_NORM_RELU_TRAINING,
  BATCH_NORM_TRAINING,
  MOMENTUM_SGD_UPDATE,
} from "../../src/backend/fused_ops.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { softmaxCrossEntropy } from "../../src/train/losses.ts";
import "../../src/train/gradients.ts";
import { random, relative } from "./values.ts";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { dispatchRaw } from "../../src/backend/webgpu/raw_dispatch.ts";
import { chooseConvGemm, type ConvGemm, forceConvGemm } from "../../src/backend/webgpu/limits.ts";
import { directConvInputGradient, directCovers } from "../../src/backend/webgpu/conv_direct.ts";

tf.env().set("IS_NODE", false);
const adapter = await findAdapter();
if (!adapter) console.log("webgpu kernel tests skipped: no WebGPU adapter");
const ignore = adapter === null;
const TOLERANCE = 1e-4;

async function on(backend: string, f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const values = await Promise.all(outs.map(async (t) => Float32Array.from(await t.data())));
  tf.dispose(outs);
  return values;
}

/** Asserts that `f` gives the same outputs on webgpu (our kernels) as on cpu. */
async function agree(what: string, f: () => tf.Tensor[]): Promise<void> {
  const want = await on("cpu", f);
  await startWebGPU();
  useWebGPUKernels("ours");
  const have = await on("webgpu", f);
  want.forEach((w, k) => {
    const rel = relative(w, have[k]);
    assert.ok(rel <= TOLERANCE, `${what}: output ${k} relative error ${rel}`);
  });
}

/** Runs `f` with the convolution GEMM family forced to `gemm`. */
async function withGemm<T>(gemm: ConvGemm, f: () => Promise<T>): Promise<T> {
  forceConvGemm(gemm);
  try {
    return await f();
  } finally {
    forceConvGemm(undefined);
  }
}

Deno.test("the convolution GEMM family: direct on a CPU adapter, tiled on a GPU, or as forced", () => {
  assert.equal(chooseConvGemm(undefined, true), "direct");
  assert.equal(chooseConvGemm(undefined, false), "tiled");
  assert.equal(chooseConvGemm("tiled", true), "tiled");
  assert.equal(chooseConvGemm("direct", false), "direct");
  assert.throws(
    () => chooseConvGemm("fast", true),
    /DENO_TRAINER_WEBGPU_GEMM="fast": choose tiled or direct/,
  );
});

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  k: number;
  outChannels: number;
  stride: number;
  pad: number;
}

const CONV_CASES: ConvCase[] = [
  { name: "7×7/2 stem on 17×17", x: [3, 17, 17, 3], k: 7, outChannels: 5, stride: 2, pad: 3 },
  { name: "3×3 stride 1", x: [3, 9, 9, 6], k: 3, outChannels: 7, stride: 1, pad: 1 },
  { name: "3×3 stride 2, odd width", x: [3, 9, 10, 5], k: 3, outChannels: 6, stride: 2, pad: 1 },
  { name: "1×1 stride 1", x: [3, 8, 8, 13], k: 1, outChannels: 9, stride: 1, pad: 0 },
  { name: "1×1 stride 2", x: [3, 9, 9, 7], k: 1, outChannels: 10, stride: 2, pad: 0 },
  { name: "2×2 head", x: [3, 2, 2, 11], k: 2, outChannels: 17, stride: 1, pad: 0 },
  // Long enough a reduction that the weight gradient splits it into partial products.
  { name: "3×3, split reduction", x: [5, 16, 16, 18], k: 3, outChannels: 35, stride: 1, pad: 1 },
  // Channels in whole quads, which the direct GEMMs take: the cases above again for them.
  { name: "7×7/2, quads", x: [3, 17, 17, 4], k: 7, outChannels: 8, stride: 2, pad: 3 },
  { name: "3×3 stride 1, quads", x: [3, 9, 9, 8], k: 3, outChannels: 12, stride: 1, pad: 1 },
  { name: "3×3 stride 2, quads", x: [3, 9, 10, 4], k: 3, outChannels: 20, stride: 2, pad: 1 },
  { name: "1×1 stride 1, quads", x: [3, 8, 7, 12], k: 1, outChannels: 4, stride: 1, pad: 0 },
  { name: "1×1 stride 2, quads", x: [3, 9, 9, 16], k: 1, outChannels: 36, stride: 2, pad: 0 },
  { name: "2×2 head, quads", x: [3, 2, 2, 28], k: 2, outChannels: 12, stride: 1, pad: 0 },
  { name: "3×3, split, quads", x: [5, 16, 16, 20], k: 3, outChannels: 40, stride: 1, pad: 1 },
  // Input channels one at a time (an RGB or grey stem) into output channels in quads.
  { name: "7×7/2 RGB stem, quads out", x: [3, 17, 17, 3], k: 7, outChannels: 8, stride: 2, pad: 3 },
  { name: "3×3 grey stem, quads out", x: [3, 12, 11, 1], k: 3, outChannels: 4, stride: 1, pad: 1 },
];

function infoOf(c: ConvCase): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    c.x,
    [c.k, c.k, c.x[3], c.outChannels],
    c.stride,
    1,
    c.pad,
  );
}

/** The GEMM families a case runs under: the direct one needs output channels in quads. */
function families(c: ConvCase): ConvGemm[] {
  return directCovers(infoOf(c), "forward") ? ["direct"] : ["tiled"];
}

/** `f`'s result and the shader keys of the programs it ran on webgpu. */
async function programsOf<T>(f: () => Promise<T>): Promise<[T, string[]]> {
  await startWebGPU();
  const backend = tf.findBackend("webgpu") as WebGPUBackend;
  const run = backend.runWebGPUProgram;
  const keys: string[] = [];
  backend.runWebGPUProgram = function (program, ...rest) {
    keys.push(program.shaderKey);
    return run.call(this, program, ...rest);
  };
  try {
    return [await f(), keys];
  } finally {
    backend.runWebGPUProgram = run;
  }
}

for (const c of CONV_CASES) {
  for (const gemm of families(c)) {
    Deno.test({
      name: `convolution forward and gradients (${gemm}) equal the cpu backend: ${c.name}`,
      ignore,
      fn: () =>
        withGemm(gemm, async () => {
          const filter: [number, number, number, number] = [c.k, c.k, c.x[3], c.outChannels];
          const x = random(c.x.reduce((a, b) => a * b), 1);
          const w = random(filter.reduce((a, b) => a * b), 2);
          const pad = c.pad === 0 ? "valid" : [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]] as [
            [number, number],
            [number, number],
            [number, number],
            [number, number],
          ];
          const [, keys] = await programsOf(() =>
            agree(c.name, () => {
              const xt = tf.tensor4d(x, c.x);
              const wt = tf.tensor4d(w, filter);
              const y = tf.conv2d(xt, wt, c.stride, pad);
              const dy = tf.tensor(random(y.size, 3), y.shape);
              const grad = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
                tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, pad), dy))
              );
              return [tf.conv2d(xt, wt, c.stride, pad), ...grad([xt, wt])];
            })
          );
          // The direct programs ran where they serve the case, the tiled ones elsewhere.
          const info = infoOf(c);
          for (
            const [pass, name] of [
              ["forward", "Conv2D"],
              ["filter", "Conv2DDerFilter"],
              ["input", "Conv2DDerInput"],
            ] as const
          ) {
            const direct = gemm === "direct" && directCovers(info, pass);
            const want = direct ? `ourDirect${name}_` : `our${name}_`;
            assert.ok(keys.some((k) => k.startsWith(want)), `${want} did not run: ${keys}`);
          }
        }),
    });
  }
}

Deno.test({
  name: "the direct input gradient refuses input channels that are not in quads",
  ignore,
  fn: async () => {
    await startWebGPU();
    const info = tf.backend_util.computeConv2DInfo([1, 5, 5, 3], [3, 3, 3, 8], 1, 1, 1);
    const [dy, w] = [tf.zeros(info.outShape), tf.zeros([3, 3, 3, 8])];
    assert.throws(
      () => directConvInputGradient(tf.backend() as WebGPUBackend, info, dy, w),
      /direct convolution \(input\): needs channels in quads, got 3 → 8/,
    );
    tf.dispose([dy, w]);
  },
});

// 13 channels one at a time; 36 as nine quads of vec4 accesses, more than one workgroup takes.
for (const channels of [13, 36]) {
  Deno.test({
    name:
      `fused BatchNorm training forward and backward equal the plain ops on cpu: ${channels} channels`,
    ignore,
    fn: async () => {
      const shape: [number, number, number, number] = [3, 5, 7, channels];
      const x = random(3 * 5 * 7 * channels, 4).map((v, i) => 3 * v + (i % channels) * 0.5);
      const scale = random(channels, 5);
      const offset = random(channels, 6);
      const dy = random(x.length, 7);
      await agree(`batch norm, ${channels} channels`, () => {
        const xt = tf.tensor4d(x, shape);
        const s = tf.tensor1d(scale);
        const o = tf.tensor1d(offset);
        const fused = tf.getKernel(BATCH_NORM_TRAINING, tf.getBackend()) !== undefined;
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
          if (fused) {
            const [y] = tf.engine().runKernel(
              BATCH_NORM_TRAINING,
              { x: a, scale: b, offset: c },
              { varianceEpsilon: 1e-5 },
            ) as tf.Tensor[];
            return tf.sum(tf.mul(y, tf.tensor(dy, shape)));
          }
          const { mean, variance } = tf.moments(a, [0, 1, 2]);
          const y = tf.batchNorm(a, mean, variance, c as tf.Tensor1D, b as tf.Tensor1D, 1e-5);
          return tf.sum(tf.mul(y, tf.tensor(dy, shape)));
        };
        const stats = fused
          ? (tf.engine().runKernel(BATCH_NORM_TRAINING, { x: xt, scale: s, offset: o }, {
            varianceEpsilon: 1e-5,
          }) as tf.Tensor[])
          : (() => {
            const m = tf.moments(xt, [0, 1, 2]);
            return [
              tf.batchNorm(xt, m.mean, m.variance, o, s, 1e-5),
              m.mean,
              m.variance,
            ];
          })();
        return [...stats, ...tf.grads(f)([xt, s, o])];
      });
    },
  });

  Deno.test({
    name:
      `fused BatchNorm+ReLU training forward and backward equal the plain ops on cpu: ${channels} channels`,
    ignore,
    fn: async () => {
      const shape: [number, number, number, number] = [3, 5, 7, channels];
      const x = random(3 * 5 * 7 * channels, 14).map((v, i) => 3 * v + (i % channels) * 0.5);
      const scale = random(channels, 15);
      const offset = random(channels, 16);
      const dy = random(x.length, 17);
      await agree(`batch norm + relu, ${channels} channels`, () => {
        const fused = tf.getKernel(BATCH_NORM_RELU_TRAINING, tf.getBackend()) !== undefined;
        const forward = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): tf.Tensor[] => {
          if (fused) {
            return tf.engine().runKernel(
              BATCH_NORM_RELU_TRAINING,
              { x: a, scale: b, offset: c },
              { varianceEpsilon: 1e-5 },
            ) as tf.Tensor[];
          }
          const { mean, variance } = tf.moments(a, [0, 1, 2]);
          const y = tf.batchNorm(a, mean, variance, c as tf.Tensor1D, b as tf.Tensor1D, 1e-5);
          return [tf.relu(y), mean, variance];
        };
        const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(tf.mul(forward(a, b, c)[0], tf.tensor(dy, shape)));
        const args = [tf.tensor4d(x, shape), tf.tensor1d(scale), tf.tensor1d(offset)];
        const outputs = forward(args[0], args[1], args[2]);
        const zeros = tf.sum(tf.cast(tf.equal(outputs[0], 0), "float32"));
        return [...outputs, ...tf.grads(loss)(args), zeros];
      });
    },
  });
}

Deno.test({
  name: "the fused momentum-SGD update equals the op sequence on cpu",
  ignore,
  fn: async () => {
    const w = random(37, 8);
    const v = random(37, 9);
    const g = random(37, 10);
    // A clone shares the weights' buffer: the update must then leave it (and so w) unchanged.
    for (const [weightDecay, shared] of [[0, false], [5e-4, false], [5e-4, true]] as const) {
      await agree(`momentum SGD, decay ${weightDecay}, shared ${shared}`, () => {
        const [wt, vt, gt] = [w, v, g].map((a) => tf.tensor1d(a));
        const before = shared ? [tf.clone(wt), tf.clone(vt)] : [];
        if (tf.getKernel(MOMENTUM_SGD_UPDATE, tf.getBackend()) !== undefined) {
          const out = tf.engine().runKernel(
            MOMENTUM_SGD_UPDATE,
            { variable: wt, velocity: vt, gradient: gt },
            { lr: 0.05, momentum: 0.9, weightDecay },
          ) as tf.Tensor[];
          return [...out, ...before];
        }
        const decayed = weightDecay === 0 ? gt : tf.add(gt, tf.mul(wt, weightDecay));
        const vNew = tf.add(tf.mul(vt, 0.9), decayed);
        return [tf.sub(wt, tf.mul(vNew, 0.05)), vNew, ...before];
      });
    }
  },
});

Deno.test({
  name: "a dispatch with more storage buffers than the device allows is refused, not dropped",
  ignore,
  fn: async () => {
    await startWebGPU();
    const backend = tf.backend() as WebGPUBackend;
    const most = backend.device.limits.maxStorageBuffersPerShaderStage;
    const x = tf.zeros([4]);
    const bindings = Array.from({ length: most + 1 }, (_, i) => ({ name: `b${i}`, tensor: x }));
    assert.throws(
      () => dispatchRaw(backend, { name: "tooMany", key: "tooMany", bindings, count: 4, body: "" }),
      new RegExp(`${most + 1} storage buffers, the device allows ${most}`),
    );
    x.dispose();
  },
});

Deno.test({
  name: "stock puts TensorFlow.js's kernels back and ours replaces them again",
  ignore,
  fn: async () => {
    await startWebGPU();
    useWebGPUKernels("stock");
    assert.equal(activeWebGPUKernels(), "stock");
    const stock = tf.getKernel(tf.Conv2DBackpropFilter, "webgpu")!.kernelFunc;
    assert.equal(tf.getKernel(MOMENTUM_SGD_UPDATE, "webgpu"), undefined);
    useWebGPUKernels("ours");
    assert.notEqual(tf.getKernel(tf.Conv2DBackpropFilter, "webgpu")!.kernelFunc, stock);
    assert.notEqual(tf.getKernel(MOMENTUM_SGD_UPDATE, "webgpu"), undefined);
    useWebGPUKernels("stock");
    assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, "webgpu")!.kernelFunc, stock);
    useWebGPUKernels("ours");
    assert.throws(() => useWebGPUKernels("fast" as "ours"), /unknown WebGPU kernel set "fast"/);
  },
});

/** Losses of four full-batch steps and every parameter after them, on one backend. */
async function fourSteps(backend: string): Promise<{ losses: number[]; params: Float32Array[] }> {
  await tf.setBackend(backend);
  const net = resnetFCN({ depth: 18, width: 4, numClasses: 5, blocks: [1, 1, 1, 1], seed: 11 });
  const optimizer = new MomentumSGD({ lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const images = tf.tensor4d(random(3 * 17 * 17 * 3, 12), [3, 17, 17, 3]);
  const labels = tf.tensor1d([1, 4, 2], "int32");
  const losses: number[] = [];
  for (let step = 0; step < 4; step++) {
    const loss = tf.tidy(() => {
      const vars = net.variables();
      const trainable = vars.filter((v) => v.trainable).map((v) => v.variable);
      const { value, grads } = tf.variableGrads(
        () => softmaxCrossEntropy(tf.reshape(net.apply(images, true), [3, 5]), labels),
        trainable,
      );
      optimizer.applyGradients(vars, grads);
      return value;
    });
    losses.push((await loss.data())[0]);
    loss.dispose();
  }
  const params = await Promise.all(
    net.variables().map(async (v) => Float32Array.from(await v.variable.data())),
  );
  tf.dispose([images, labels]);
  optimizer.dispose();
  net.dispose();
  return { losses, params };
}

for (const gemm of ["tiled", "direct"] as const) {
  Deno.test({
    name:
      `four full-batch training steps on webgpu with our kernels (${gemm}) match cpu within 1e-4`,
    ignore,
    fn: () =>
      withGemm(gemm, async () => {
        const cpu = await fourSteps("cpu");
        await startWebGPU();
        useWebGPUKernels("ours");
        const gpu = await fourSteps("webgpu");
        cpu.losses.forEach((l, i) => {
          const rel = Math.abs(gpu.losses[i] - l) / Math.abs(l);
          assert.ok(rel <= TOLERANCE, `loss of step ${i + 1}: ${gpu.losses[i]} vs ${l} (${rel})`);
        });
        cpu.params.forEach((p, i) => {
          const rel = relative(p, gpu.params[i]);
          assert.ok(rel <= TOLERANCE, `parameter ${i}: relative error ${rel}`);
        });
      }),
  });
}
