import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Callback, type Logs } from "../../src/train/callback.ts";
import { DataLoader } from "../../src/train/loader.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { ConstantSchedule } from "../../src/train/schedules.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";
import { ArrayDataset, quadrantDataset, Recorder, tinyNet, useCpu } from "./helpers.ts";

await useCpu();

function tinyModel(lr = 0.1, seed = 0): Model {
  const model = new Model(tinyNet({ seed }));
  model.prepare({ optimizer: new MomentumSGD({ schedule: new ConstantSchedule(lr) }) });
  return model;
}

Deno.test("fit calls the hooks in the documented order", async () => {
  const model = tinyModel();
  const rec = new Recorder();
  // 5 examples, batch 3: two training batches; evaluation of 4 examples in batches of 3: two.
  await model.fit(quadrantDataset(5), quadrantDataset(4, 1), {
    epochs: 2,
    batchSize: 3,
    verbose: 0,
    callbacks: [rec],
  });
  const epoch = (e: number) => [
    `epochBegin ${e}`,
    "batchBegin 0",
    "batchEnd 0",
    "batchBegin 1",
    "batchEnd 1",
    "evalBegin",
    "evalBatchBegin 0",
    "evalBatchEnd 0",
    "evalBatchBegin 1",
    "evalBatchEnd 1",
    "evalEnd",
    `epochEnd ${e}`,
  ];
  assert.deepEqual(rec.calls, ["trainBegin", ...epoch(0), ...epoch(1), "trainEnd"]);
  const rec2 = new Recorder();
  await model.evaluate(quadrantDataset(2), { callbacks: [rec2] });
  const out = await model.predict(quadrantDataset(2), { callbacks: [rec2] });
  out.dispose();
  assert.deepEqual(rec2.calls, [
    "evalBegin",
    "evalBatchBegin 0",
    "evalBatchEnd 0",
    "evalEnd",
    "predictBegin",
    "predictEnd",
  ]);
  model.dispose();
});

Deno.test("batch and epoch logs carry the documented keys and values", async () => {
  const model = tinyModel();
  const rec = new Recorder();
  await model.fit(quadrantDataset(5), quadrantDataset(4, 1), {
    epochs: 2,
    batchSize: 3,
    verbose: 0,
    callbacks: [rec],
  });
  assert.deepEqual(rec.batchLogs.map((l) => l.step), [1, 2, 3, 4]);
  assert.deepEqual(rec.batchLogs.map((l) => l.batchSize), [3, 2, 3, 2]);
  assert.deepEqual(rec.batchLogs.map((l) => l.samplesSeen), [3, 5, 3, 5]);
  assert.deepEqual(rec.batchLogs.map((l) => l.epoch), [0, 0, 1, 1]);
  for (const l of rec.batchLogs) {
    assert.deepEqual(Object.keys(l).sort(), [
      "acc_top1",
      "acc_top5",
      "batch",
      "batchSize",
      "epoch",
      "loss",
      "lr",
      "samplesSeen",
      "step",
    ]);
    assert.equal(l.lr, 0.1);
    assert.equal(l.acc_top5, 1, "3 classes: every label is in the top 5");
  }
  // Epoch loss is the example-weighted mean of the step losses.
  const [b0, b1] = rec.batchLogs;
  const e0 = rec.epochLogs[0];
  assert.ok(Math.abs(e0.loss - (b0.loss * 3 + b1.loss * 2) / 5) < 1e-6);
  assert.equal(e0.acc_top1, b1.acc_top1, "epoch accuracy is the running accuracy at its end");
  assert.deepEqual(Object.keys(rec.evalLogs[0]).sort(), ["acc_top1", "acc_top5", "epoch", "loss"]);
  assert.equal(e0.eval_loss, rec.evalLogs[0].loss);
  assert.equal(e0.eval_acc_top1, rec.evalLogs[0].acc_top1);
  model.dispose();
});

Deno.test("a callback can stop training, change the rate and add its own log values", async () => {
  const model = tinyModel();
  class Meddler extends Callback {
    override onTrainBatchEnd(batch: number, logs: Logs) {
      logs.mine = batch * 10;
      this.optimizer.schedule = new ConstantSchedule(0.5);
      if (logs.step === 3) this.model.stopTraining = true;
    }
  }
  const rec = new Recorder();
  const history = await model.fit(quadrantDataset(6), undefined, {
    epochs: 5,
    batchSize: 2,
    verbose: 0,
    callbacks: [new Meddler(), rec],
  });
  assert.deepEqual(rec.batchLogs.map((l) => l.mine), [0, 10, 20]);
  assert.deepEqual(rec.batchLogs.map((l) => l.lr), [0.1, 0.5, 0.5]);
  assert.deepEqual(rec.calls.slice(-2), ["epochEnd 0", "trainEnd"]);
  assert.equal(history.length, 1);
  assert.equal(model.globalStep, 3);
  model.dispose();
});

Deno.test("no tensors leak: the count after epoch 2 equals the count after epoch 1", async () => {
  const model = tinyModel();
  const counts: number[] = [];
  class Count extends Callback {
    override onEpochEnd() {
      counts.push(tf.memory().numTensors);
    }
  }
  await model.fit(quadrantDataset(12), quadrantDataset(6, 1), {
    epochs: 3,
    batchSize: 4,
    verbose: 0,
    callbacks: [new Count()],
  });
  assert.equal(counts.length, 3);
  assert.equal(counts[1], counts[0]);
  assert.equal(counts[2], counts[0]);
  model.dispose();
});

Deno.test("a tiny network learns a learnable set: eval accuracy well above chance (1/3)", async () => {
  const model = tinyModel(0.05);
  const train = new DataLoader(quadrantDataset(96), { batchSize: 16, seed: 1 });
  const before = await model.evaluate(quadrantDataset(60, 9));
  await model.fit(train, undefined, { epochs: 6, verbose: 0 });
  const after = await model.evaluate(quadrantDataset(60, 9));
  assert.ok(
    after.acc_top1 >= 0.9,
    `accuracy ${after.acc_top1} (before training ${before.acc_top1})`,
  );
  assert.ok(after.loss < before.loss);
  model.dispose();
});

Deno.test("predict returns the outputs of every example in order, in batches or from a dataset", async () => {
  const model = tinyModel();
  const ds = quadrantDataset(5);
  const x = tf.tensor4d(ds.getBatch([0, 1, 2, 3, 4]).images, [5, 4, 4, 1]);
  const whole = model.net.apply(x, false);
  const batched = await model.predict(x, { batchSize: 2 });
  const fromSet = await model.predict(ds, { batchSize: 3 });
  assert.deepEqual(batched.shape, [5, 1, 1, 3]);
  const w = await whole.data();
  const b = await batched.data();
  const s = await fromSet.data();
  w.forEach((v, i) => {
    assert.ok(Math.abs(v - b[i]) < 1e-5);
    assert.ok(Math.abs(v - s[i]) < 1e-5);
  });
  tf.dispose([x, whole, batched, fromSet]);
  model.dispose();
});

Deno.test("using the model before prepare() is a clear error", async () => {
  const model = new Model(tinyNet());
  await assert.rejects(
    model.fit(quadrantDataset(3), undefined, { verbose: 0 }),
    /call prepare\(\)/,
  );
  model.dispose();
});

Deno.test("training updates BatchNorm moving statistics; evaluation and prediction leave them alone", async () => {
  const model = tinyModel();
  const stats = () =>
    model.net.variables().filter((v) => !v.trainable).map((v) => Array.from(v.variable.dataSync()));
  const initial = stats();
  await model.evaluate(quadrantDataset(6));
  (await model.predict(quadrantDataset(6))).dispose();
  assert.deepEqual(stats(), initial);
  await model.fit(quadrantDataset(6), undefined, { epochs: 1, batchSize: 6, verbose: 0 });
  assert.notDeepEqual(stats(), initial);
  model.dispose();
});

Deno.test("the real ResNet-FCN trains without leaking tensors between epochs", async () => {
  const side = 32;
  const n = 6;
  const pixels = new Uint8Array(n * side * side * 3).map((_, i) => (i * 37) % 256);
  const ds = new ArrayDataset(pixels, Int32Array.from({ length: n }, (_, i) => i % 10), [
    side,
    side,
    3,
  ], [
    ..."abcdefghij",
  ]);
  const model = new Model(
    resnetFCN({ depth: 18, width: 2, numClasses: 10, blocks: [1, 1, 1, 1], seed: 1 }),
  );
  model.prepare({ optimizer: new MomentumSGD({ lr: 0.01 }) });
  const counts: number[] = [];
  class Count extends Callback {
    override onEpochEnd() {
      counts.push(tf.memory().numTensors);
    }
  }
  const rec = new Recorder();
  await model.fit(ds, ds, { epochs: 2, batchSize: 3, verbose: 0, callbacks: [new Count(), rec] });
  assert.equal(counts[1], counts[0]);
  assert.ok(rec.batchLogs.every((l) => Number.isFinite(l.loss)));
  model.dispose();
});

Deno.test("dispose frees the network and the optimiser's momentum buffers", async () => {
  const before = tf.memory().numTensors;
  const model = tinyModel();
  await model.fit(quadrantDataset(6), quadrantDataset(3), { epochs: 1, batchSize: 3, verbose: 0 });
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});
