import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import type { Communicator, FloatBuffer } from "../../src/dist/mpi.ts";
import { averageVariables, averagingHook, broadcastVariables } from "../../src/dist/reduce.ts";
import { ShardState } from "../../src/dist/shard.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { useCpu } from "../train/helpers.ts";

await useCpu();

/** Rank 1 of 2 whose partner's buffers are given; records what it was asked to reduce. */
function partner(other: (buf: FloatBuffer) => number[]): Communicator & { sent: number[][] } {
  return {
    rank: 1,
    size: 2,
    sent: [],
    allreduceSum(buf) {
      this.sent.push(Array.from(buf));
      const o = other(buf);
      for (let i = 0; i < buf.length; i++) buf[i] += o[i];
    },
    broadcast(buf) {
      buf.set(other(buf));
    },
  };
}

Deno.test("the gradient hook sends one fused buffer and applies the size-weighted mean", () => {
  const a = tf.variable(tf.tensor1d([1, 2]));
  const b = tf.variable(tf.tensor2d([[3], [4]]));
  const frozen = tf.variable(tf.tensor1d([9]), false);
  const vars = [
    { name: "a", variable: a, trainable: true },
    { name: "m", variable: frozen, trainable: false },
    { name: "b", variable: b, trainable: true },
  ];
  // This rank holds 3 of a global batch of 4; the other rank's weighted gradients are 0.25·(8…).
  const comm = partner(() => [2, 2, 2, 2]);
  const state = new ShardState();
  state.local = 3;
  state.global = 4;
  const opt = new MomentumSGD({ lr: 1, momentum: 0, weightDecay: 0 });
  opt.gradientHook = averagingHook(comm, state);
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const grads = { [a.name]: tf.tensor1d([4, 8]), [b.name]: tf.tensor2d([[-4], [0]]) };
    opt.applyGradients(vars, grads);
  });
  assert.deepEqual(comm.sent, [[3, 6, -3, 0]]);
  // w ← w − (0.75·g + 0.25·8)
  assert.deepEqual(Array.from(a.dataSync()), [1 - 5, 2 - 8]);
  assert.deepEqual(Array.from(b.dataSync()), [3 - (-1), 4 - 2]);
  assert.deepEqual(Array.from(frozen.dataSync()), [9]);
  // The hook's tensors are freed (the momentum buffers created by the first update remain).
  assert.equal(tf.memory().numTensors, before + 2);
  tf.dispose([a, b, frozen]);
  opt.dispose();
});

Deno.test("broadcast takes the root's values; averaging takes the ranks' mean", () => {
  const v = tf.variable(tf.tensor1d([1, 2, 3]));
  const w = tf.variable(tf.scalar(10));
  broadcastVariables(partner(() => [7, 8, 9, -1]), [v, w]);
  assert.deepEqual(Array.from(v.dataSync()), [7, 8, 9]);
  assert.equal(w.dataSync()[0], -1);
  averageVariables(partner(() => [1, 2, 3, 5]), [v, w]);
  assert.deepEqual(Array.from(v.dataSync()), [4, 5, 6]);
  assert.equal(w.dataSync()[0], 2);
  tf.dispose([v, w]);
});
