import assert from "node:assert/strict";
import { Callback, CallbackList, type Logs, metricValues } from "../../src/train/callback.ts";
import { LRScheduler } from "../../src/train/lr_scheduler.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { ProgressBar } from "../../src/train/progress_bar.ts";
import { ConstantSchedule, warmupCosine } from "../../src/train/schedules.ts";
import { quadrantDataset, tinyNet, useCpu } from "./helpers.ts";

await useCpu();

class A extends Callback {}
class B extends Callback {}
class BChild extends B {}

Deno.test("the list adds each missing default at its end, and none whose kind is given", () => {
  const defaults = [
    { kind: A, create: () => new A(), at: "start" as const },
    { kind: B, create: () => new B(), at: "end" as const },
  ];
  const names = (list: CallbackList) => list.callbacks.map((c) => c.constructor.name);
  const given = new Callback();
  assert.deepEqual(names(new CallbackList([given], { defaults })), ["A", "Callback", "B"]);
  assert.deepEqual(names(new CallbackList([new BChild()], { defaults })), ["A", "BChild"]);
  const a = new A();
  const list = new CallbackList([given, a], { defaults });
  assert.deepEqual(names(list), ["Callback", "A", "B"]);
  assert.equal(list.callbacks[1], a, "the given callback is used, not a new one");
  assert.deepEqual(names(new CallbackList([given])), ["Callback"]);
});

Deno.test("fit adds no second ProgressBar when one is given", async () => {
  const model = new Model(tinyNet());
  model.prepare({ optimizer: new MomentumSGD({ schedule: new ConstantSchedule(0.01) }) });
  let text = "";
  const bar = new ProgressBar({ mode: "epoch", write: (t) => text += t });
  await model.fit(quadrantDataset(4), undefined, {
    epochs: 1,
    batchSize: 4,
    verbose: 1,
    callbacks: [bar],
  });
  assert.equal(text.split("\n").filter((l) => l.startsWith("Epoch 1/1")).length, 1, text);
  model.dispose();
});

Deno.test("metricValues picks the loss and the named metrics, leaving counters out", () => {
  const logs: Logs = {
    loss: 0.5,
    acc_top1: 0.25,
    acc_top5: 1,
    lr: 0.01,
    step: 3,
    epoch: 0,
    samplesSeen: 12,
    eval_loss: 0.75,
    eval_acc_top1: 0.5,
  };
  assert.deepEqual(metricValues(logs, ["acc_top1", "acc_top5"]), {
    loss: 0.5,
    acc_top1: 0.25,
    acc_top5: 1,
  });
  assert.deepEqual(metricValues(logs, ["acc_top1", "acc_top5"], "eval_"), {
    eval_loss: 0.75,
    eval_acc_top1: 0.5,
  });
  const cb = new Callback();
  cb.setParams({
    epochs: 1,
    initialEpoch: 0,
    stepsPerEpoch: 1,
    batchSize: 1,
    samples: 1,
    evalSteps: 0,
    evalFreq: 1,
    metrics: ["acc_top5"],
    verbose: 0,
  });
  assert.deepEqual(cb.metricValues(logs), { loss: 0.5, acc_top5: 1 });
});

Deno.test("evaluate sets params on its callbacks: metric names, batch size, evaluation steps", async () => {
  const model = new Model(tinyNet());
  model.prepare({ metrics: ["acc_top1"] });
  let seen: Callback["params"] | undefined;
  let values: Record<string, number> = {};
  class Probe extends Callback {
    override onEvalBegin(): void {
      seen = this.params;
    }
    override onEvalEnd(logs: Logs): void {
      values = this.metricValues(logs);
    }
  }
  const logs = await model.evaluate(quadrantDataset(5), { batchSize: 2, callbacks: [new Probe()] });
  assert.deepEqual(seen?.metrics, ["acc_top1"]);
  assert.equal(seen?.batchSize, 2);
  assert.equal(seen?.evalSteps, 3);
  assert.equal(seen?.epochs, 0);
  assert.deepEqual(values, { loss: logs.loss, acc_top1: logs.acc_top1 });
  model.dispose();
});

Deno.test("the default LRScheduler runs first: later callbacks see the stepped schedule", async () => {
  const model = new Model(tinyNet());
  model.prepare({
    optimizer: new MomentumSGD({ schedule: warmupCosine({ lr: 0.01, warmupSteps: 4, epochs: 1 }) }),
  });
  const seen: number[] = [];
  class Saver extends Callback {
    override onTrainBatchEnd(): void {
      seen.push(this.optimizer.lr);
    }
  }
  await model.fit(quadrantDataset(8), undefined, {
    epochs: 1,
    batchSize: 4,
    verbose: 0,
    callbacks: [new Saver()],
  });
  // After step k (from 1) a checkpoint must hold the rate of step k + 1: 0.01·k/4.
  assert.deepEqual(seen, [0.0025, 0.005]);
  model.dispose();
});

Deno.test("a given LRScheduler keeps its place in the list", async () => {
  const model = new Model(tinyNet());
  model.prepare({ optimizer: new MomentumSGD({ schedule: new ConstantSchedule(0.01) }) });
  const order: string[] = [];
  class Spy extends LRScheduler {
    override onTrainBatchEnd(): void {
      order.push("scheduler");
    }
  }
  class Saver extends Callback {
    override onTrainBatchEnd(): void {
      order.push("saver");
    }
  }
  await model.fit(quadrantDataset(4), undefined, {
    epochs: 1,
    batchSize: 4,
    verbose: 0,
    callbacks: [new Saver(), new Spy()],
  });
  assert.deepEqual(order, ["saver", "scheduler"]);
  model.dispose();
});
