import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { benchAugmentation } from "../../src/data/bench_augment.ts";

await tf.setBackend("cpu");

Deno.test("benchAugmentation reports consistent rates and leaks no tensors", async () => {
  const before = tf.memory().numTensors;
  const r = await benchAugmentation({ batchSize: 16, batches: 2 });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(r.backend, "cpu");
  assert.ok(r.batchesPerSec > 0 && Number.isFinite(r.batchesPerSec));
  assert.ok(Math.abs(r.imagesPerSec - 16 * r.batchesPerSec) < 1e-6 * r.imagesPerSec);
});
