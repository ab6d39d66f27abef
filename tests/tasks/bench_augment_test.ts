import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { benchAugmentation } from "../../tasks/bench_augment.ts";

await tf.setBackend("cpu");

Deno.test("benchAugmentation times the batches after the warm-up and leaks no tensors", async () => {
  const before = tf.memory().numTensors;
  // The clock is read at the start and the end of the timed batches: 250 ms apart.
  const reads = [1000, 1250];
  const r = await benchAugmentation({ batchSize: 16, batches: 2, clock: () => reads.shift()! });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(reads, [], "the clock is read exactly twice");
  assert.equal(r.backend, "cpu");
  assert.equal(r.batches, 2);
  // 2 batches of 16 in 0.25 s.
  assert.equal(r.batchesPerSec, 8);
  assert.equal(r.imagesPerSec, 128);
});

Deno.test("benchAugmentation rejects empty runs", async () => {
  await assert.rejects(benchAugmentation({ batchSize: 0 }), /batchSize and batches must be ≥ 1/);
  await assert.rejects(benchAugmentation({ batches: 0 }), /batchSize and batches must be ≥ 1/);
});
