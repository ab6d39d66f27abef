/**
 * Every kernel the native backend replaces agrees with TensorFlow.js's CPU backend on random
 * inputs, within 1e-4 of the reference's largest magnitude. Skips, saying why, only where
 * oneDNN (Debian libdnnl2) is not installed.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { registerNativeBackend } from "../../src/backend/native.ts";
import { tileFast } from "../../src/backend/native/tile.ts";
import { openDnnl } from "../../src/backend/native/dnnl.ts";
import { ElementwiseRunner } from "../../src/backend/native/elementwise.ts";
import {
  ADD_RELU,
  BATCH_NORM_RELU_TRAINING,
  BATCH_NORM_TRAINING,
  MOMENTUM_SGD_UPDATE,
  MOVING_AVERAGE,
  SOFTMAX_CROSS_ENTROPY,
  TOP_K_CORRECT,
} from "../../src/backend/fused_ops.ts";
import { topKAccuracy } from "../../src/train/metrics.ts";
import { softmaxCrossEntropy } from "../../src/train/losses.ts";
import { DataLoader } from "../../src/train/loader.ts";
import { arrayDataset } from "../../src/data/array_dataset.ts";
import { addRelu, BatchNorm } from "../../src/nn/layers.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import "../../src/train/gradients.ts";
import { assertSameBits, random } from "./values.ts";

tf.env().set("IS_NODE", false);
const native = await registerNativeBackend();
if (!native.ok) console.log(`native backend tests skipped: ${native.reason}`);
const ignore = !native.ok;
const TOLERANCE = 1e-4;

/** Runs `f` on a backend with fresh tensors and returns its outputs' shapes and values. */
async function on(
  backend: string,
  f: () => tf.Tensor | tf.Tensor[],
): Promise<{ shape: number[]; values: Float32Array }[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const list = Array.isArray(outs) ? outs : [outs];
  const result = list.map((t) => ({ shape: t.shape, values: Float32Array.from(t.dataSync()) }));
  tf.dispose(list);
  return result;
}

/** Asserts native and cpu agree on `f`; returns the relative errors. */
async function agree(what: string, f: () => tf.Tensor | tf.Tensor[]): Promise<number[]> {
  const ref = await on("cpu", f);
  const got = await on("native", f);
  return ref.map((r, k) => {
    assert.deepEqual(got[k].shape, r.shape, `${what}: output ${k} shape`);
    let maxRef = 0;
    let maxDiff = 0;
    for (let i = 0; i < r.values.length; i++) {
      const [want, have] = [r.values[i], got[k].values[i]];
      if (Number.isNaN(want) || Number.isNaN(have)) {
        assert.ok(Number.isNaN(want) && Number.isNaN(have), `${what}: NaN at ${i} in one only`);
        continue;
      }
      maxRef = Math.max(maxRef, Math.abs(want));
      maxDiff = Math.max(maxDiff, Math.abs(want - have));
    }
    const rel = maxDiff / Math.max(maxRef, 1e-30);
    assert.ok(rel <= TOLERANCE, `${what}: output ${k} relative error ${rel}`);
    return rel;
  });
}

type Pad = "valid" | "same" | number;

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  k: number;
  outChannels: number;
  stride: number;
  pad: Pad;
}

const CONV_CASES: ConvCase[] = [
  {
    name: "3×3 pad 1, odd 5×7 input, 3 channels, batch 1",
    x: [1, 5, 7, 3],
    k: 3,
    outChannels: 4,
    stride: 1,
    pad: 1,
  },
  {
    name: "3×3 stride 2 pad 1, batch 3",
    x: [3, 9, 11, 5],
    k: 3,
    outChannels: 6,
    stride: 2,
    pad: 1,
  },
  { name: "1×1 valid", x: [3, 8, 8, 6], k: 1, outChannels: 4, stride: 1, pad: "valid" },
  {
    name: "1×1 stride 2 (shortcut)",
    x: [3, 7, 9, 6],
    k: 1,
    outChannels: 8,
    stride: 2,
    pad: "valid",
  },
  { name: "7×7 stride 2 pad 3 (stem)", x: [2, 17, 15, 3], k: 7, outChannels: 8, stride: 2, pad: 3 },
  {
    name: "3×3 pad 1, 16→16 channels (the weight gradient times its implementations)",
    x: [4, 16, 16, 16],
    k: 3,
    outChannels: 16,
    stride: 1,
    pad: 1,
  },
  { name: "2×2 valid (head)", x: [3, 3, 5, 7], k: 2, outChannels: 5, stride: 1, pad: "valid" },
  {
    name: "3×3 same stride 2, odd size",
    x: [1, 7, 5, 4],
    k: 3,
    outChannels: 3,
    stride: 2,
    pad: "same",
  },
  {
    name: "3×3 same stride 2, even size (uneven padding)",
    x: [3, 8, 6, 4],
    k: 3,
    outChannels: 3,
    stride: 2,
    pad: "same",
  },
];

function tfPad(
  p: Pad,
): "valid" | "same" | [[number, number], [number, number], [number, number], [number, number]] {
  return typeof p === "number" ? [[0, 0], [p, p], [p, p], [0, 0]] : p;
}

for (const c of CONV_CASES) {
  Deno.test({
    name: `native conv2d forward and both gradients match cpu: ${c.name}`,
    ignore,
    fn: async () => {
      const wShape: [number, number, number, number] = [c.k, c.k, c.x[3], c.outChannels];
      const xv = random(tf.util.sizeFromShape(c.x), 1);
      const wv = random(tf.util.sizeFromShape(wShape), 2);
      const pad = tfPad(c.pad);
      await agree(`${c.name} forward`, () => {
        const x = tf.tensor4d(xv, c.x);
        return tf.conv2d(x, tf.tensor4d(wv, wShape), c.stride, pad);
      });
      const yShape = (await on("cpu", () =>
        tf.conv2d(tf.tensor4d(xv, c.x), tf.tensor4d(wv, wShape), c.stride, pad)))[0].shape;
      const dyv = random(tf.util.sizeFromShape(yShape), 3);
      const attrs = { strides: [c.stride, c.stride], pad, dataFormat: "NHWC" };
      await agree(`${c.name} backprop input`, () =>
        tf.engine().runKernel(
          tf.Conv2DBackpropInput,
          { dy: tf.tensor(dyv, yShape), filter: tf.tensor4d(wv, wShape) },
          { ...attrs, inputShape: c.x } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor);
      await agree(`${c.name} backprop filter`, () =>
        tf.engine().runKernel(
          tf.Conv2DBackpropFilter,
          { x: tf.tensor4d(xv, c.x), dy: tf.tensor(dyv, yShape) },
          { ...attrs, filterShape: wShape } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor);
    },
  });
}

Deno.test({
  name: "native conv2d with dilation falls back to the cpu kernel and still matches",
  ignore,
  fn: async () => {
    const xv = random(2 * 9 * 9 * 3, 4);
    const wv = random(3 * 3 * 3 * 2, 5);
    await agree(
      "dilated conv",
      () =>
        tf.conv2d(
          tf.tensor4d(xv, [2, 9, 9, 3]),
          tf.tensor4d(wv, [3, 3, 3, 2]),
          1,
          "same",
          "NHWC",
          2,
        ),
    );
  },
});

const BINARY: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
  ["add", tf.add],
  ["sub", tf.sub],
  ["mul", tf.mul],
  ["div", tf.div],
  ["maximum", tf.maximum],
  ["minimum", tf.minimum],
  ["squaredDifference", tf.squaredDifference],
];

const BROADCASTS: [string, number[], number[]][] = [
  ["same shape", [3, 7, 5, 40], [3, 7, 5, 40]],
  ["per channel", [3, 7, 5, 40], [40]],
  ["per channel, 4-D", [3, 7, 5, 40], [1, 1, 1, 40]],
  ["scalar", [3, 7, 5, 40], []],
  ["broadcast first operand", [40], [3, 7, 5, 40]],
  ["per row", [64, 97], [64, 1]],
  ["both broadcast", [64, 1], [1, 97]],
];

for (const [op, f] of BINARY) {
  Deno.test({
    name: `native ${op} matches cpu under every broadcast pattern`,
    ignore,
    fn: async () => {
      for (const [name, as, bs] of BROADCASTS) {
        const av = random(tf.util.sizeFromShape(as), 6);
        // Away from zero, so that division stays well conditioned.
        const bv = random(tf.util.sizeFromShape(bs), 7).map((v) => v + Math.sign(v) * 0.5);
        await agree(`${op} ${name}`, () => f(tf.tensor(av, as), tf.tensor(bv, bs)));
      }
    },
  });
}

Deno.test({
  name: "native relu, square, neg and step match cpu, NaN included",
  ignore,
  fn: async () => {
    const v = random(3 * 11 * 13 * 17, 8);
    v[5] = NaN;
    v[6] = 0;
    const shape = [3, 11, 13, 17];
    await agree("relu", () => tf.relu(tf.tensor(v, shape)));
    await agree("square", () => tf.square(tf.tensor(v, shape)));
    await agree("neg", () => tf.neg(tf.tensor(v, shape)));
    await agree("step", () => tf.step(tf.tensor(v, shape), 0.25));
    const stepped = (await on("native", () => tf.step(tf.tensor(v, shape))))[0].values;
    assert.ok(Number.isNaN(stepped[5]), "step keeps NaN");
    assert.equal(stepped[6], 0);
    const relued = (await on("native", () => tf.relu(tf.tensor(v, shape))))[0].values;
    assert.ok(Number.isNaN(relued[5]), "relu keeps NaN");
    // Without NaN, ReLU is oneDNN's and Step takes its branch-free loop.
    const finite = random(3 * 11 * 13 * 17, 18);
    await agree("relu without NaN", () => tf.relu(tf.tensor(finite, shape)));
    await agree("step without NaN", () => tf.step(tf.tensor(finite, shape)));
  },
});

Deno.test({
  name: "native batchNorm matches cpu with and without scale and offset",
  ignore,
  fn: async () => {
    const shape: [number, number, number, number] = [3, 7, 9, 24];
    const xv = random(tf.util.sizeFromShape(shape), 9);
    const mean = random(24, 10);
    const variance = random(24, 11).map((v) => v + 1.5);
    const scale = random(24, 12);
    const offset = random(24, 13);
    await agree("batchNorm full", () =>
      tf.batchNorm4d(
        tf.tensor4d(xv, shape),
        tf.tensor1d(mean),
        tf.tensor1d(variance),
        tf.tensor1d(offset),
        tf.tensor1d(scale),
        1e-5,
      ));
    await agree(
      "batchNorm bare",
      () => tf.batchNorm4d(tf.tensor4d(xv, shape), tf.tensor1d(mean), tf.tensor1d(variance)),
    );
    await agree("moments", () => {
      const m = tf.moments(tf.tensor4d(xv, shape), [0, 1, 2]);
      return [m.mean, m.variance];
    });
  },
});

for (const relu of [false, true]) {
  Deno.test({
    name: `native fused training batch norm${relu ? " with ReLU" : ""} matches the cpu ops: ` +
      "output, moving statistics, gradients",
    ignore,
    fn: async () => {
      await tf.setBackend("native");
      const kernel = relu ? BATCH_NORM_RELU_TRAINING : BATCH_NORM_TRAINING;
      assert.ok(tf.getKernel(kernel, "native"), "native has the fused kernel");
      assert.equal(tf.getKernel(kernel, "cpu"), undefined, "cpu keeps the plain ops");
      const shape: [number, number, number, number] = [4, 6, 5, 24];
      const xv = random(tf.util.sizeFromShape(shape), 19).map((v) => 3 * v + 0.5);
      const wv = random(tf.util.sizeFromShape(shape), 20);
      const gammaV = random(24, 21).map((v) => v + 1.2);
      const betaV = random(24, 22);
      await agree(`batch norm training${relu ? " with ReLU" : ""}`, () => {
        const bn = new BatchNorm("bn", 24);
        bn.gamma.assign(tf.tensor1d(gammaV));
        bn.beta.assign(tf.tensor1d(betaV));
        const x = tf.variable(tf.tensor4d(xv, shape));
        // A weighted sum, so that every output element gets a different gradient.
        const loss = () =>
          tf.sum(tf.mul(bn.apply(x, true, relu), tf.tensor4d(wv, shape))) as tf.Scalar;
        const { value, grads } = tf.variableGrads(loss, [x, bn.gamma, bn.beta]);
        const y = bn.apply(x, true, relu);
        const out = [
          y,
          value,
          grads[x.name],
          grads[bn.gamma.name],
          grads[bn.beta.name],
          bn.movingMean.clone(),
          bn.movingVar.clone(),
        ];
        tf.dispose([x, bn.gamma, bn.beta, bn.movingMean, bn.movingVar]);
        return out;
      });
    },
  });
}

Deno.test({
  name: "native batch norm with ReLU keeps a NaN input's NaN outputs, as the cpu ops do",
  ignore,
  fn: async () => {
    const shape: [number, number, number, number] = [2, 5, 5, 16];
    const xv = random(tf.util.sizeFromShape(shape), 25);
    xv[37] = NaN;
    const out = async (backend: string) =>
      (await on(backend, () => {
        const bn = new BatchNorm("bn", 16);
        const y = bn.apply(tf.tensor4d(xv, shape), true, true);
        tf.dispose([bn.gamma, bn.beta, bn.movingMean, bn.movingVar]);
        return y;
      }))[0].values;
    const [want, got] = [await out("cpu"), await out("native")];
    // The NaN's channel (37 % 16 = 5) is NaN everywhere; the others are finite and agree.
    want.forEach((w, i) => {
      const g = got[i];
      if (Number.isNaN(w)) assert.ok(Number.isNaN(g), `NaN kept at ${i}`);
      else assert.ok(Math.abs(w - g) <= 1e-5 * Math.max(1, Math.abs(w)), `value at ${i}`);
    });
    assert.ok(Number.isNaN(got[5]) && !Number.isNaN(got[4]), "only channel 5 is NaN");
  },
});

Deno.test({
  name: "native fused residual add and ReLU matches the cpu ops, gradients and NaN included",
  ignore,
  fn: async () => {
    await tf.setBackend("native");
    assert.ok(tf.getKernel(ADD_RELU, "native"), "native has the fused kernel");
    for (const shape of [[4, 8, 8, 32], [3, 5, 7, 3]] as [number, number, number, number][]) {
      const n = tf.util.sizeFromShape(shape);
      const [av, bv, wv] = [random(n, 26), random(n, 27), random(n, 28)];
      await agree(`add and ReLU [${shape}]`, () => {
        const a = tf.variable(tf.tensor4d(av, shape));
        const b = tf.variable(tf.tensor4d(bv, shape));
        const f = () => tf.sum(tf.mul(addRelu(a, b), tf.tensor4d(wv, shape))) as tf.Scalar;
        const { value, grads } = tf.variableGrads(f, [a, b]);
        const out = [addRelu(a, b), value, grads[a.name], grads[b.name]];
        tf.dispose([a, b]);
        return out;
      });
      av[3] = NaN;
      const y = (await on("native", () =>
        addRelu(tf.tensor4d(av, shape), tf.tensor4d(bv, shape))))[0].values;
      assert.ok(Number.isNaN(y[3]) && y.filter(Number.isNaN).length === 1, "NaN kept, once");
    }
    await tf.setBackend("native");
    assert.throws(
      () => tf.tidy(() => tf.engine().runKernel(ADD_RELU, { a: tf.ones([2, 3]), b: tf.ones([3]) })),
      /NativeAddRelu: expects two float32 tensors of one shape, got float32\[2,3\] and float32\[3\]/,
    );
  },
});

Deno.test({
  name: "native fused momentum SGD equals the cpu update bit for bit, with and without decay, " +
    "in the JavaScript loop (small) and on oneDNN (large)",
  ignore,
  fn: async () => {
    assert.ok(tf.getKernel(MOMENTUM_SGD_UPDATE, "native"), "native has the fused kernel");
    for (const [rows, cols] of [[40, 30], [160, 301]]) {
      for (const weightDecay of [5e-4, 0]) {
        const run = (backend: string) =>
          on(backend, () => {
            const w = tf.variable(tf.tensor2d(random(rows * cols, 23), [rows, cols]));
            const vars = [{ name: "w", variable: w, trainable: true }];
            const opt = new MomentumSGD({ lr: 0.1, momentum: 0.9, weightDecay });
            for (let step = 0; step < 3; step++) {
              // Gradients of mixed magnitudes, so that many products round.
              const g = random(rows * cols, 24 + step).map((x, i) => x * 10 ** (i % 7 - 3));
              opt.applyGradients(vars, { [w.name]: tf.tensor2d(g, [rows, cols]) });
            }
            const out = [w.clone(), opt.buffers(vars)[0].variable.clone()];
            opt.dispose();
            w.dispose();
            return out;
          });
        const [ref, got] = [await run("cpu"), await run("native")];
        for (const [k, name] of ["weight", "velocity"].entries()) {
          assertSameBits(
            ref[k].values,
            got[k].values,
            `${name} [${rows}, ${cols}], weight decay ${weightDecay}`,
          );
        }
      }
    }
  },
});

Deno.test({
  name: "native sum and mean match cpu over leading, trailing, all and middle axes",
  ignore,
  fn: async () => {
    const shape = [5, 6, 7, 33];
    const v = random(tf.util.sizeFromShape(shape), 14);
    const cases: [number[] | null, boolean][] = [
      [[0, 1, 2], false],
      [[0, 1, 2], true],
      [[3], false],
      [[2, 3], true],
      [null, false],
      [[1], false],
    ];
    for (const [axes, keep] of cases) {
      await agree(
        `sum ${axes} keepDims ${keep}`,
        () => tf.sum(tf.tensor(v, shape), axes ?? undefined, keep),
      );
      await agree(
        `mean ${axes} keepDims ${keep}`,
        () => tf.mean(tf.tensor(v, shape), axes ?? undefined, keep),
      );
    }
  },
});

Deno.test("tileFast repeats along every axis like numpy.tile", () => {
  const x = new Float32Array([1, 2, 3, 4, 5, 6]);
  const out = new Float32Array(2 * 2 * 3 * 2);
  tileFast(x, [2, 3], [2, 2], out);
  assert.deepEqual(
    Array.from(out),
    [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6],
  );
});

Deno.test({
  name: "native tile matches cpu",
  ignore,
  fn: async () => {
    const v = random(4 * 1 * 5, 15);
    await agree("tile", () => tf.tile(tf.tensor(v, [4, 1, 5]), [3, 70, 2]));
  },
});

Deno.test({
  name: "native buffers read by dataSync or aliased by a slice survive disposal and reuse",
  ignore,
  fn: async () => {
    await tf.setBackend("native");
    const shape = [64, 128];
    const a = tf.tensor(random(64 * 128, 16), shape);
    const b = tf.tensor(random(64 * 128, 17), shape);
    const sum = tf.add(a, b);
    const read = sum.dataSync();
    const expected = Float32Array.from(read);
    const sliced = tf.slice(sum, [0, 0], [32, 128]);
    const slicedBefore = Float32Array.from(sliced.dataSync());
    const prod = tf.mul(a, b);
    const sliceOfProd = tf.slice(prod, [0, 0], [16, 128]);
    const sliceOfProdBefore = Float32Array.from(sliceOfProd.dataSync());
    sum.dispose();
    prod.dispose();
    // Same-size outputs: each would take a recycled buffer if one had been wrongly released.
    const others = [tf.sub(a, b), tf.mul(a, 3), tf.add(b, 1)];
    assert.deepEqual(read, expected);
    assert.deepEqual(sliced.dataSync(), slicedBefore);
    assert.deepEqual(sliceOfProd.dataSync(), sliceOfProdBefore);
    tf.dispose([a, b, sliced, sliceOfProd, ...others]);
  },
});

Deno.test({
  name: "native kernels read float32 tensors cast from int32 and bool (storage not relabelled)",
  ignore,
  fn: async () => {
    // The CPU backend casts int32 and bool to float32 by relabelling the same Int32Array or
    // Uint8Array; a kernel reading raw float bits got 0 or denormals for every pixel of an
    // int32 image divided by 255.
    const n = 8 * 16 * 16 * 3;
    const pixels = Int32Array.from({ length: n }, (_, i) => (i * 37) % 256);
    const kernel = random(3 * 3 * 3 * 4, 18);
    await agree("int32 image cast, ÷255, − mean, ÷ std, convolved, relu", () => {
      const x = tf.cast(tf.tensor4d(pixels, [8, 16, 16, 3], "int32"), "float32");
      const scaled = tf.div(tf.sub(tf.div(x, 255), tf.tensor1d([0.5, 0.4, 0.3])), 0.25);
      return [
        scaled,
        tf.relu(tf.conv2d(scaled as tf.Tensor4D, tf.tensor4d(kernel, [3, 3, 3, 4]), 1, "same")),
      ];
    });
    await agree("bool cast to float32, summed and squared", () => {
      const hits = tf.cast(tf.greater(tf.tensor(random(n, 19), [8, 768]), 0), "float32");
      return [tf.sum(hits, 1), tf.square(hits), tf.mul(hits, tf.tensor(random(n, 20), [8, 768]))];
    });
  },
});

Deno.test({
  name: "registerNativeBackend reports the library and threads and is idempotent",
  ignore,
  fn: async () => {
    const again = await registerNativeBackend();
    assert.deepEqual(again, native);
    assert.ok(again.ok && again.library.includes("oneDNN") && again.threads >= 1);
    assert.ok(tf.findBackendFactory("native"));
  },
});

Deno.test({
  name: "a oneDNN primitive refuses buffers smaller than its arguments, before running",
  ignore,
  fn: () => {
    const dnnl = openDnnl();
    assert.ok(dnnl.ok);
    const plan = new ElementwiseRunner(dnnl.lib).planBinary("add", [64, 64], [64, 64], [64, 64]);
    assert.ok(plan);
    const out = new Float32Array(4096).fill(7);
    assert.throws(
      () => plan.run(new Float32Array(4096), new Float32Array(4095), out),
      /argument 1 needs 16384 bytes, got 16380/,
    );
    assert.ok(out.every((v) => v === 7), "nothing written");
  },
});

Deno.test({
  name: "native moving-average update equals the three cpu ops bit for bit",
  ignore,
  fn: async () => {
    const [m, v] = [random(37, 29), random(37, 30).map((x) => 50 * x)];
    const want = await on("cpu", () => tf.add(tf.mul(tf.tensor1d(m), 0.9), tf.mul(v, 1 - 0.9)));
    const got = await on(
      "native",
      () =>
        tf.engine().runKernel(MOVING_AVERAGE, { moving: tf.tensor1d(m), value: tf.tensor1d(v) }, {
          momentum: 0.9,
        }) as tf.Tensor,
    );
    assert.deepEqual(got, want);
  },
});

/** Logits with ties, a NaN row, an infinite logit, and labels inside and outside the classes. */
function classificationBatch(): { logits: tf.Tensor2D; labels: tf.Tensor1D } {
  const [n, c] = [37, 10];
  const v = random(n * c, 41).map((x) => Math.round(x * 4) / 4);
  v.fill(0.5, 3 * c, 4 * c);
  v[5 * c + 2] = NaN;
  v[6 * c + 7] = Infinity;
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % c);
  labels[8] = -1;
  labels[9] = c;
  return { logits: tf.tensor2d(v, [n, c]), labels: tf.tensor1d(labels, "int32") };
}

/** Asserts that on native `f` of a classification batch runs the one kernel `name`, no other. */
async function onlyKernel(
  name: string,
  f: (logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Tensor,
): Promise<void> {
  await tf.setBackend("native");
  const { logits, labels } = classificationBatch();
  const { kernels } = await tf.profile(() => f(logits, labels));
  assert.deepEqual(kernels.map((k) => k.name), [name]);
  tf.dispose([logits, labels]);
}

Deno.test({
  name: "native top-k hit count is one kernel and counts as the plain ops do (ties, NaN, ∞)",
  ignore,
  fn: async () => {
    for (const k of [1, 2, 5, 10, 11]) {
      const metric = topKAccuracy(k);
      const count = () => {
        const { logits, labels } = classificationBatch();
        return metric.correct(logits, labels);
      };
      const [ref] = await on("cpu", count);
      const [got] = await on("native", count);
      assert.deepEqual(got.values, ref.values, `k=${k}`);
      assert.ok(ref.values[0] > 0 && (k >= 10 || ref.values[0] < 37), `k=${k}: a telling case`);
    }
    await onlyKernel(TOP_K_CORRECT, (logits, labels) => topKAccuracy(5).correct(logits, labels));
  },
});

Deno.test({
  name: "native softmax cross-entropy and its gradient match the plain ops within 1e-6",
  ignore,
  fn: async () => {
    const lossAndGrad = (withBadRows: boolean) => () => {
      const { logits, labels } = classificationBatch();
      const x = withBadRows ? logits : tf.where(tf.isFinite(logits), logits, 0) as tf.Tensor2D;
      const g = tf.valueAndGrad((l: tf.Tensor) =>
        tf.mul(softmaxCrossEntropy(l as tf.Tensor2D, labels), 3)
      );
      const { value, grad } = g(tf.mul(x, 7));
      return [value, grad];
    };
    for (const bad of [false, true]) {
      const errors = await agree(`loss (bad rows: ${bad})`, lossAndGrad(bad));
      for (const e of errors) assert.ok(e <= 1e-6, `relative error ${e}`);
    }
    await onlyKernel(SOFTMAX_CROSS_ENTROPY, softmaxCrossEntropy);
  },
});

Deno.test({
  name: "native loader batches come from the buffer pool, go back on dispose, and hold x / 255",
  ignore,
  fn: async () => {
    await tf.setBackend("native");
    const pixels = Uint8Array.from({ length: 2 * 4 * 4 * 3 }, (_, i) => (i * 37) % 256);
    const ds = arrayDataset(
      { dtype: "uint8", shape: [2, 4, 4, 3], data: pixels },
      { dtype: "int32", shape: [2], data: Int32Array.of(0, 1) },
    );
    const loader = new DataLoader(ds, { batchSize: 2, shuffle: false });
    const buffers: unknown[] = [];
    for (const epoch of [0, 1]) {
      for await (const { images, labels } of loader.batches(epoch)) {
        const backend = tf.backend() as unknown as { data: Map<tf.DataId, { values: unknown }> };
        buffers.push(backend.data.get(images.dataId)!.values);
        assert.deepEqual(
          Array.from(images.dataSync()),
          Array.from(pixels, (x) => Math.fround(x / 255)),
        );
        tf.dispose([images, labels]);
      }
    }
    // dataSync hands the first buffer to user code, so the pool gives it up: a second epoch
    // gets a new one. Without the read, the same buffer comes back.
    assert.notStrictEqual(buffers[1], buffers[0]);
    const again: unknown[] = [];
    for (const epoch of [2, 3]) {
      for await (const { images, labels } of loader.batches(epoch)) {
        const backend = tf.backend() as unknown as { data: Map<tf.DataId, { values: unknown }> };
        again.push(backend.data.get(images.dataId)!.values);
        tf.dispose([images, labels]);
      }
    }
    assert.strictEqual(again[1], again[0]);
  },
});
