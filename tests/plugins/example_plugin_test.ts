import assert from "node:assert/strict";
import { StopAtAccuracy } from "../../plugins/example_plugin.ts";
import type { Logs, TrainingModel } from "../../src/train/callback.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { quadrantDataset, Recorder, tinyNet, useCpu } from "../train/helpers.ts";

await useCpu();

Deno.test("the example plugin keeps the best accuracy and stops exactly when it reaches the target", () => {
  const stop = new StopAtAccuracy({ target: 0.6 });
  const model = { stopTraining: false } as TrainingModel;
  stop.setModel(model);
  const seen: [number | undefined, boolean][] = [];
  for (const acc of [0.5, undefined, 0.3, 0.59, 0.6]) {
    const logs: Logs = acc === undefined ? { loss: 1 } : { loss: 1, eval_acc_top1: acc };
    stop.onEpochEnd(seen.length, logs);
    seen.push([logs.best_acc_top1, model.stopTraining]);
  }
  assert.deepEqual(seen, [
    [0.5, false],
    [undefined, false], // no evaluation that epoch: nothing added, no stop
    [0.5, false],
    [0.59, false],
    [0.6, true],
  ]);
  assert.equal(stop.best, 0.6);
});

/** Trains 6 epochs (or until the plugin stops it) from the same seed; returns the epoch logs. */
async function run(target: number) {
  const model = new Model(tinyNet({ seed: 4 }));
  model.prepare({ optimizer: new MomentumSGD({ lr: 0.05 }) });
  const rec = new Recorder();
  await model.fit(quadrantDataset(12), quadrantDataset(8, 1), {
    epochs: 6,
    batchSize: 3,
    verbose: 0,
    callbacks: [new StopAtAccuracy({ target }), rec],
  });
  model.dispose();
  return rec.epochLogs;
}

Deno.test("in fit, the example plugin stops after the first epoch that reaches the target", async () => {
  const full = await run(2); // unreachable: all six epochs run
  assert.equal(full.length, 6);
  const accs = full.map((l) => l.eval_acc_top1);
  accs.forEach((_, i) => assert.equal(full[i].best_acc_top1, Math.max(...accs.slice(0, i + 1))));
  // The best accuracy of the run, reached first at epoch `first`: the same run stops there.
  const best = Math.max(...accs);
  const first = accs.indexOf(best);
  const stopped = await run(best);
  assert.equal(stopped.length, first + 1, `accuracies ${accs}, target ${best}`);
  assert.deepEqual(stopped.map((l) => l.eval_acc_top1), accs.slice(0, first + 1));
});
