import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { ConstantSchedule } from "../../src/train/schedules.ts";
import { useCpu } from "./helpers.ts";

await useCpu();

Deno.test("two momentum-SGD steps equal the hand-computed update with L2 weight decay", async () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const stat = tf.variable(tf.tensor1d([5]), false);
  const vars = [
    { name: "w", variable: w, trainable: true },
    { name: "bn.running_mean", variable: stat, trainable: false },
  ];
  const opt = new MomentumSGD({
    schedule: new ConstantSchedule(0.1),
    momentum: 0.9,
    weightDecay: 0.01,
  });
  const g1 = tf.tensor1d([0.5, 0.25]);
  opt.applyGradients(vars, { [w.name]: g1 });
  // g' = g + 0.01·w = [0.51, 0.23]; v = g'; w = w − 0.1·v = [0.949, −2.023]
  const after1 = Array.from(await w.data());
  [0.949, -2.023].forEach((x, i) => assert.ok(Math.abs(after1[i] - x) < 1e-6, `${after1}`));
  opt.schedule = new ConstantSchedule(0.05);
  const g2 = tf.tensor1d([-1, 0]);
  opt.applyGradients(vars, { [w.name]: g2 });
  // g' = [−1 + 0.00949, −0.02023]; v = 0.9·[0.51, 0.23] + g' = [−0.53151, 0.18677]
  // w = [0.949 + 0.05·0.53151, −2.023 − 0.05·0.18677]
  const after2 = Array.from(await w.data());
  [0.949 + 0.05 * 0.53151, -2.023 - 0.05 * 0.18677].forEach((x, i) =>
    assert.ok(Math.abs(after2[i] - x) < 1e-6, `${after2}`)
  );
  const buf = opt.buffers(vars);
  assert.deepEqual(buf.map((b) => b.name), ["w"]);
  const v = Array.from(await buf[0].variable.data());
  [-0.53151, 0.18677].forEach((x, i) => assert.ok(Math.abs(v[i] - x) < 1e-6));
  assert.deepEqual(Array.from(await stat.data()), [5], "non-trainable variables are untouched");
  tf.dispose([g1, g2, w, stat]);
  opt.dispose();
});

Deno.test("a step leaves no tensor behind and a missing gradient is an error naming the parameter", () => {
  const w = tf.variable(tf.ones([3, 3]));
  const vars = [{ name: "layer.weight", variable: w, trainable: true }];
  const opt = new MomentumSGD();
  const g = tf.onesLike(w);
  opt.applyGradients(vars, { [w.name]: g }); // creates the momentum buffer
  const before = tf.memory().numTensors;
  opt.applyGradients(vars, { [w.name]: g });
  assert.equal(tf.memory().numTensors, before);
  assert.throws(
    () => opt.applyGradients(vars, {}),
    /no gradient for trainable variable "layer.weight"/,
  );
  tf.dispose([g, w]);
  opt.dispose();
});

Deno.test("momentum buffers load back and refuse a shape mismatch", async () => {
  const w = tf.variable(tf.zeros([2, 2]));
  const vars = [{ name: "p", variable: w, trainable: true }];
  const opt = new MomentumSGD();
  opt.loadBuffers(vars, new Map([["p", { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }]]));
  assert.deepEqual(Array.from(await opt.buffers(vars)[0].variable.data()), [1, 2, 3, 4]);
  assert.throws(
    () =>
      opt.loadBuffers(vars, new Map([["p", { shape: [4], data: new Float32Array(4) }]]), "x.st"),
    /x.st: .*"p": momentum shape \[4\] but parameter \[2,2\]/,
  );
  assert.throws(() => opt.loadBuffers(vars, new Map()), /missing momentum for "p"/);
  w.dispose();
  opt.dispose();
});
