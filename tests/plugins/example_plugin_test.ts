import assert from "node:assert/strict";
import { StopAtAccuracy } from "../../plugins/example_plugin.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { quadrantDataset, Recorder, tinyNet, useCpu } from "../train/helpers.ts";

await useCpu();

Deno.test("the example plugin adds best_acc_top1 to the epoch logs and stops at its target", async () => {
  const model = new Model(tinyNet());
  model.prepare({ optimizer: new MomentumSGD({ lr: 0.05 }) });
  const rec = new Recorder();
  const stop = new StopAtAccuracy({ target: 0 });
  await model.fit(quadrantDataset(6), quadrantDataset(3, 1), {
    epochs: 4,
    batchSize: 3,
    verbose: 0,
    callbacks: [stop, rec],
  });
  assert.equal(rec.epochLogs.length, 1, "stopped after the first evaluation");
  assert.equal(rec.epochLogs[0].best_acc_top1, rec.epochLogs[0].eval_acc_top1);
  assert.equal(stop.best, rec.epochLogs[0].eval_acc_top1);
  model.dispose();
});
