/**
 * `--precision bf16` on the native backend: convolutions really take bfloat16 inputs with
 * float32 accumulation (they equal a plain loop over bfloat16-rounded inputs, and differ from
 * float32 by bfloat16's rounding), a few training steps stay within a stated tolerance of float32,
 * and a CPU without bfloat16 kernels gets a clear refusal. Skips, saying why, without oneDNN or
 * without bfloat16 instructions.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { openDnnl } from "../../src/backend/native/dnnl.ts";
import { bf16Missing, type ConvGeometry, ConvRunner } from "../../src/backend/native/conv.ts";
import { BufferPool } from "../../src/backend/native/pool.ts";
import { registerNativeBackend, setNativePrecision } from "../../src/backend/native.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { softmaxCrossEntropy } from "../../src/train/losses.ts";
import { variableGradsFreeing } from "../../src/train/backprop.ts";
import "../../src/train/gradients.ts";
import { eachTerm, geometry } from "./conv_reference.ts";
import { random, relative } from "./values.ts";

const dnnl = openDnnl();
let skip: string | null = dnnl.ok ? null : dnnl.reason;
if (dnnl.ok) {
  try {
    new ConvRunner(dnnl.lib, new BufferPool()).precision = "bf16";
  } catch (e) {
    skip = (e as Error).message;
  }
}
if (skip) console.log(`native bf16 tests skipped: ${skip}`);

Deno.test("bf16 is refused, saying why, where oneDNN has only its reference loop", () => {
  assert.match(bf16Missing("ref:any")!, /needs a CPU with bfloat16 instructions.*ref:any/);
  assert.equal(bf16Missing("brgconv:avx512_core_bf16"), null);
  assert.equal(bf16Missing("brgconv:avx512_core_amx"), null);
});

/** `v` rounded to bfloat16 (nearest, ties to even), as oneDNN's reorder rounds. */
function bf16(v: Float32Array): Float32Array {
  const out = new Float32Array(v);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    bits[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) << 16;
  }
  return out;
}

/** A plain-loop convolution (NHWC, HWIO) in double precision. */
function convLoop(g: ConvGeometry, x: Float32Array, w: Float32Array): Float64Array {
  const y = new Float64Array(g.batch * g.outHeight * g.outWidth * g.outChannels);
  eachTerm(g, (xi, yi, wi) => y[yi] += x[xi] * w[wi]);
  return y;
}

Deno.test({
  name: "bf16 convolution equals a plain loop over bfloat16-rounded inputs",
  ignore: skip !== null,
  fn() {
    if (!dnnl.ok) return;
    // Odd sizes: 3 images, 9×9, 5 → 24 channels, 3×3 stride 2 pad 1.
    const g = geometry([3, 9, 5, 24], 3, 2, 1);
    const x = random(3 * 9 * 9 * 5, 1);
    const w = random(3 * 3 * 5 * 24, 2);
    const conv = new ConvRunner(dnnl.lib, new BufferPool());
    conv.precision = "bf16";
    const y = new Float32Array(3 * 5 * 5 * 24);
    conv.forward(g, x, w, y);
    // f32 accumulation of bfloat16 products: float32 rounding of the sums only.
    assert.ok(relative(convLoop(g, bf16(x), bf16(w)), y) < 1e-5);
    // And it is not float32: bfloat16's 8 significant bits show.
    const exact = convLoop(g, x, w);
    const rel = relative(exact, y);
    assert.ok(rel > 1e-4 && rel < 2e-2, `bf16 against f32: ${rel}`);
    conv.precision = "f32";
    conv.forward(g, x, w, y);
    assert.ok(relative(exact, y) < 1e-5);
  },
});

/** Losses of four full-batch steps of ResNet18-FCN w8 (1-1-1-1) at the recipe's momentum. */
function fourSteps(): number[] {
  const net = resnetFCN({ depth: 18, width: 8, blocks: [1, 1, 1, 1], seed: 3 });
  const opt = new MomentumSGD({ lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const x = tf.randomNormal([32, 20, 20, 3], 0, 1, "float32", 5) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 10), "int32");
  const losses: number[] = [];
  try {
    for (let step = 0; step < 4; step++) {
      const vars = net.variables();
      const trainable = vars.filter((v) => v.trainable).map((v) => v.variable);
      const loss = tf.tidy(() => {
        const { value, grads } = variableGradsFreeing(
          () => softmaxCrossEntropy(net.apply(x, true) as tf.Tensor2D, y),
          trainable,
        );
        opt.applyGradients(vars, grads);
        return value;
      });
      losses.push(loss.dataSync()[0]);
      loss.dispose();
    }
  } finally {
    tf.dispose([x, y]);
    opt.dispose();
    net.dispose();
  }
  return losses;
}

Deno.test({
  name: "four bf16 training steps stay within 2% of float32's losses, and differ from them",
  ignore: skip !== null,
  async fn() {
    assert.ok((await registerNativeBackend()).ok);
    await tf.setBackend("native");
    try {
      const f32 = fourSteps();
      setNativePrecision("bf16");
      const bf = fourSteps();
      for (let i = 0; i < 4; i++) {
        const rel = Math.abs(bf[i] - f32[i]) / Math.abs(f32[i]);
        assert.ok(rel < 0.02, `step ${i}: bf16 ${bf[i]} against f32 ${f32[i]}`);
      }
      assert.notDeepEqual(bf, f32);
    } finally {
      setNativePrecision("f32");
    }
  },
});
