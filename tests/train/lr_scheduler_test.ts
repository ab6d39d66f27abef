import assert from "node:assert/strict";
import type { Callback } from "../../src/train/callback.ts";
import { LRScheduler } from "../../src/train/lr_scheduler.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { warmupCosine } from "../../src/train/schedules.ts";
import { quadrantDataset, Recorder, tinyNet, useCpu } from "../train/helpers.ts";

await useCpu();

/** The recipe's rule, written from its text: the rate step k (from 0) trains with. */
function recipeLR(k: number, stepsPerEpoch: number, W: number, LR: number, T: number): number {
  if (k < W) return LR * k / W;
  const E = Math.floor((W - 1) / stepsPerEpoch); // epoch in which step W − 1 ran
  const j = Math.floor(k / stepsPerEpoch) - E;
  return j === 0 ? LR : LR * (1 + Math.cos(Math.PI * j / T)) / 2;
}

/**
 * Trains `epochs` epochs of 4 steps (10 examples, batch 3) and returns each step's logged rate;
 * `scheduler` is the stepping callback given to `fit` (default an `LRScheduler`; null: none, so
 * `fit` adds its own).
 */
async function trainedRates(
  W: number,
  epochs: number,
  T: number,
  scheduler: Callback | null = new LRScheduler(),
): Promise<number[]> {
  const model = new Model(tinyNet());
  model.prepare({
    optimizer: new MomentumSGD({ schedule: warmupCosine({ lr: 0.01, warmupSteps: W, epochs: T }) }),
  });
  const rec = new Recorder();
  await model.fit(quadrantDataset(10), undefined, {
    epochs,
    batchSize: 3,
    verbose: 0,
    callbacks: scheduler === null ? [rec] : [scheduler, rec],
  });
  model.dispose();
  assert.deepEqual(
    rec.batchLogs.map((l) => l.step),
    Array.from({ length: epochs * 4 }, (_, i) => i + 1),
  );
  return rec.batchLogs.map((l) => l.lr);
}

function assertRule(rates: number[], W: number, T: number) {
  rates.forEach((lr, k) => {
    const want = recipeLR(k, 4, W, 0.01, T);
    assert.ok(
      Math.abs(lr - want) < 1e-15,
      `W=${W} step ${k}: trained with ${lr}, recipe says ${want}`,
    );
  });
}

Deno.test("warm-up ending mid-epoch: every step trains with the recipe's rate", async () => {
  const rates = await trainedRates(6, 6, 6);
  assertRule(rates, 6, 6);
  // Steps 6 and 7 (epoch 1, after step W − 1 = 5) use LR; epoch 2 uses the first cosine value.
  assert.equal(rates[6], 0.01);
  assert.equal(rates[7], 0.01);
  assert.ok(rates[8] < 0.01);
});

Deno.test("warm-up ending exactly at an epoch boundary: the next epoch starts the cosine", async () => {
  const rates = await trainedRates(8, 5, 5);
  assertRule(rates, 8, 5);
  assert.equal(rates[7], 0.01 * 7 / 8);
  assert.ok(Math.abs(rates[8] - 0.01 * (1 + Math.cos(Math.PI / 5)) / 2) < 1e-15);
});

Deno.test("warm-up longer than the run: the rate rises linearly throughout", async () => {
  const rates = await trainedRates(100, 3, 3);
  assertRule(rates, 100, 3);
  assert.equal(rates[0], 0);
  assert.equal(rates[11], 0.01 * 11 / 100);
});

Deno.test("one-step warm-up: only the very first step uses 0", async () => {
  const rates = await trainedRates(1, 3, 4);
  assertRule(rates, 1, 4);
  assert.equal(rates[0], 0);
  assert.equal(rates[1], 0.01);
});

Deno.test("the full recipe (98 steps × 300 epochs, W = 2000) follows the rule at every step", () => {
  const optimizer = new MomentumSGD({ schedule: warmupCosine() });
  const plugin = new LRScheduler();
  // The plugin reads only model.optimizer; a stand-in model drives its hooks without training.
  plugin.setModel({ optimizer } as unknown as Model);
  let k = 0;
  for (let epoch = 0; epoch < 300; epoch++) {
    plugin.onEpochBegin(epoch, { epoch, batch: 0 });
    for (let b = 0; b < 98; b++, k++) {
      const want = recipeLR(k, 98, 2000, 0.001, 300);
      assert.ok(Math.abs(optimizer.lr - want) < 1e-15, `step ${k}: ${optimizer.lr} vs ${want}`);
      plugin.onTrainBatchEnd();
    }
  }
  assert.equal(Math.floor(1999 / 98), 20, "warm-up ends inside epoch 20");
  assert.ok(optimizer.lr > 0, "by epoch 299 the rate has not reached zero");
});

Deno.test("fit without an LRScheduler adds one: a warm-up schedule trains at the recipe's rates", async () => {
  const rates = await trainedRates(6, 6, 6, null);
  assertRule(rates, 6, 6);
  assert.ok(rates[5] > 0, "the rate left 0 during warm-up");
});

Deno.test("a user's own LRScheduler replaces the default (the schedule is stepped once per step)", async () => {
  // Per step after warm-up: step W + j trains with the cosine's j-th value (period T steps).
  const rates = await trainedRates(2, 3, 12, new LRScheduler({ per: "step" }));
  rates.forEach((lr, k) => {
    const want = k < 2 ? 0.01 * k / 2 : 0.01 * (1 + Math.cos(Math.PI * (k - 2) / 12)) / 2;
    assert.ok(Math.abs(lr - want) < 1e-15, `step ${k}: ${lr}, want ${want}`);
  });
});

Deno.test("a subclass of LRScheduler replaces the default too", async () => {
  let calls = 0;
  class Counting extends LRScheduler {
    override onTrainBatchEnd(): void {
      calls++;
      super.onTrainBatchEnd();
    }
  }
  const rates = await trainedRates(6, 2, 6, new Counting());
  assert.equal(calls, 8);
  // A second (default) scheduler would have stepped the warm-up twice per step.
  assert.deepEqual(rates, Array.from({ length: 8 }, (_, k) => 0.01 * Math.min(k, 6) / 6));
});

Deno.test("addLRScheduler: false leaves the stepping to the given callbacks", async () => {
  const model = new Model(tinyNet());
  model.prepare({
    optimizer: new MomentumSGD({ schedule: warmupCosine({ lr: 0.01, warmupSteps: 4, epochs: 2 }) }),
  });
  const rec = new Recorder();
  await model.fit(quadrantDataset(10), undefined, {
    epochs: 2,
    batchSize: 3,
    verbose: 0,
    addLRScheduler: false,
    callbacks: [rec],
  });
  assert.deepEqual(rec.batchLogs.map((l) => l.lr), Array(8).fill(0), "nothing stepped it");
  model.dispose();
});
