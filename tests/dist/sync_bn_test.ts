import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "../../src/train/gradients.ts";
import { BatchNorm, Conv2d, SeedSequence } from "../../src/nn/layers.ts";
import type { Communicator } from "../../src/dist/mpi.ts";
import { averagingHook } from "../../src/dist/reduce.ts";
import { ShardState } from "../../src/dist/shard.ts";
import { syncedMoments } from "../../src/dist/sync_bn.ts";
import { useCpu } from "../train/helpers.ts";

await useCpu();

/**
 * `k` ranks that hold identical shards, seen from one of them: every all-reduced sum is `k`
 * times this rank's value. A global batch of `k` copies of a batch has that batch's statistics
 * and loss, so synchronised training on it must give exactly the one-process gradients.
 */
function twins(k: number): Communicator & { calls: number } {
  return {
    rank: 0,
    size: k,
    calls: 0,
    allreduceSum(buf) {
      this.calls++;
      for (let i = 0; i < buf.length; i++) buf[i] *= k;
    },
    broadcast() {},
  };
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  const [x, y] = [a.dataSync(), b.dataSync()];
  let d = 0, m = 0;
  for (let i = 0; i < x.length; i++) {
    d = Math.max(d, Math.abs(x[i] - y[i]));
    m = Math.max(m, Math.abs(y[i]));
  }
  return d / m;
}

Deno.test("synchronised BatchNorm over identical shards gives the one-process gradients", () => {
  const seeds = new SeedSequence(5);
  const conv = new Conv2d({
    name: "c",
    inChannels: 3,
    outChannels: 4,
    kernel: 3,
    padding: 1,
    init: "kaiming",
    seeds,
  });
  const bn = new BatchNorm("bn", 4);
  const x = tf.randomNormal([3, 5, 5, 3], 0.5, 2, "float32", 11) as tf.Tensor4D;
  const target = tf.randomNormal([3, 5, 5, 4], 0, 1, "float32", 12);
  const vars = [...conv.variables(), ...bn.variables()];
  const trainable = vars.filter((v) => v.trainable).map((v) => v.variable);
  // A loss that depends on the normalised values non-linearly, so the gradient paths through
  // the mean and the variance both matter.
  const grads = () =>
    tf.variableGrads(() => {
      const y = bn.apply(conv.apply(x), true);
      return tf.mean(tf.mul(tf.square(tf.sub(y, target)), tf.add(y, 2))) as tf.Scalar;
    }, trainable);

  const one = grads();
  const oneMoving = bn.movingVar.clone();
  const comm = twins(2);
  const state = new ShardState();
  state.local = 3;
  state.global = 6;
  BatchNorm.syncMoments = syncedMoments(comm, state);
  try {
    const two = grads();
    // Two all-reduces per BatchNorm forward, two in its backward.
    assert.equal(comm.calls, 4);
    const averaged = tf.tidy(() => averagingHook(comm, state)(two.grads, vars));
    for (const { name, variable, trainable } of vars) {
      if (!trainable) continue;
      const rel = maxRelDiff(averaged[variable.name], one.grads[variable.name]);
      assert.ok(rel < 1e-5, `${name}: ${rel}`);
    }
    // The moving variance saw the same batch variance, updated twice from the same start.
    const movingRel = tf.tidy(() =>
      maxRelDiff(tf.sub(bn.movingVar, 1), tf.mul(tf.sub(oneMoving, 1), 1.9))
    );
    assert.ok(movingRel < 1e-5, `moving variance: ${movingRel}`);
    tf.dispose([two.value, ...Object.values(two.grads), ...Object.values(averaged)]);
  } finally {
    BatchNorm.syncMoments = null;
    tf.dispose([one.value, ...Object.values(one.grads), oneMoving, x, target]);
  }
});
