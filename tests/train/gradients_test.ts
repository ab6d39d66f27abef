import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { REGISTERED_GRADIENTS } from "../../src/train/gradients.ts";
import { softmaxCrossEntropy } from "../../src/train/losses.ts";
import { seededRandom } from "../../src/data/random.ts";
import { useCpu } from "./helpers.ts";

await useCpu();

function rand(shape: number[], seed: number, scale = 1, offset = 0): tf.Tensor {
  const r = seededRandom(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale + offset), shape);
}

/**
 * Compares tf.variableGrads with central finite differences at a sample of coordinates.
 * float32 limits the accuracy, so the tolerance is relative to the gradient's scale.
 */
async function gradCheck(name: string, f: () => tf.Scalar, vars: tf.Variable[], probes = 6) {
  const { grads, value } = tf.variableGrads(f, vars);
  value.dispose();
  for (const [vi, v] of vars.entries()) {
    const g = await grads[v.name].data();
    const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
    const base = (await v.data()).slice();
    for (let p = 0; p < probes; p++) {
      const i = Math.floor((p + 0.5) * base.length / probes);
      const at = (delta: number) => {
        const moved = base.slice();
        moved[i] += delta;
        v.assign(tf.tensor(moved, v.shape));
        const out = f();
        const val = out.dataSync()[0];
        out.dispose();
        return val;
      };
      const h = 3e-4;
      const numeric = (at(h) - at(-h)) / (2 * h);
      v.assign(tf.tensor(base, v.shape));
      assert.ok(
        Math.abs(numeric - g[i]) <= 2e-2 * scale,
        `${name}: var ${vi} [${i}] analytic ${g[i]} numeric ${numeric}`,
      );
    }
  }
  tf.dispose(grads);
}

Deno.test("registered gradients include the kernels of conv, BatchNorm, ReLU and the loss", () => {
  for (
    const k of [
      "Conv2D",
      "FusedBatchNorm",
      "Relu",
      "Add",
      "Mean",
      "Sum",
      "Reshape",
      "Max",
      "Exp",
      "Log",
    ]
  ) {
    assert.ok(REGISTERED_GRADIENTS.includes(k), k);
    assert.ok(tf.getGradient(k) !== undefined, k);
  }
});

Deno.test("gradients of conv (explicit padding, stride 2) → batch-stat BatchNorm → ReLU → CE match finite differences", async () => {
  const x = rand([3, 5, 5, 2], 1);
  const w = tf.variable(rand([3, 3, 2, 4], 2, 0.5));
  const gamma = tf.variable(rand([4], 3, 0.5, 1));
  const beta = tf.variable(rand([4], 4, 0.2));
  const head = tf.variable(rand([3, 3, 4, 3], 5, 0.5));
  const bias = tf.variable(rand([3], 6, 0.1));
  const labels = tf.tensor1d([0, 2, 1], "int32");
  const f = () =>
    tf.tidy(() => {
      const h = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      const n = tf.relu(tf.batchNorm(h, mean, variance, beta, gamma, 1e-5));
      const out = tf.add(tf.conv2d(n as tf.Tensor4D, head as tf.Tensor4D, 1, "valid"), bias);
      return softmaxCrossEntropy(tf.reshape(out, [3, 3]) as tf.Tensor2D, labels);
    });
  await gradCheck("conv-bn-relu-ce", f, [w, gamma, beta, head, bias]);
  tf.dispose([x, w, gamma, beta, head, bias, labels]);
});

Deno.test("gradients of broadcasting arithmetic, padding and reductions match finite differences", async () => {
  const a = tf.variable(rand([2, 3], 7));
  const b = tf.variable(rand([3], 8, 1, 2));
  const f = () =>
    tf.tidy(() => {
      const q = tf.div(tf.sub(tf.mul(a, b), tf.squaredDifference(a, b)), b);
      const p = tf.pad(tf.exp(tf.neg(q)), [[1, 0], [0, 2]]);
      return tf.add(
        tf.mean(tf.log(tf.add(p, 1))),
        tf.sum(tf.sqrt(tf.add(tf.square(a), 1))),
      ) as tf.Scalar;
    });
  await gradCheck("arith", f, [a, b]);
  tf.dispose([a, b]);
});
