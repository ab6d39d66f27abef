import assert from "node:assert/strict";
import { GracefulStop } from "../../plugins/graceful_stop.ts";
import { ModelCheckpoint } from "../../plugins/model_checkpoint.ts";
import { listCheckpoints } from "../../src/io/checkpoint.ts";
import { Callback, type Logs } from "../../src/train/callback.ts";
import { softmaxCrossEntropy } from "../../src/train/losses.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { quadrantDataset, tinyNet, useCpu } from "../train/helpers.ts";

await useCpu();

// `deno test` answers SIGINT itself (it cancels the run), so these in-process tests use SIGTERM;
// tests/reliability/signals_test.ts sends SIGINT to a separate process.

/** Sends SIGTERM to this process after global step `step`, and waits until a listener saw it. */
class InterruptAt extends Callback {
  constructor(readonly step: number) {
    super();
  }
  override async onTrainBatchEnd(_batch: number, logs: Logs): Promise<void> {
    if (logs.step !== this.step) return;
    Deno.kill(Deno.pid, "SIGTERM");
    while (!this.model.stopTraining) await new Promise((r) => setTimeout(r, 1));
  }
}

/** Resolves when this process next receives SIGTERM (a listener of the test's own). */
function nextSigterm(): Promise<void> {
  return new Promise((resolve, reject) => {
    // A signal listener does not keep the event loop alive; this timer does.
    const timer = setTimeout(() => reject(new Error("no SIGTERM arrived")), 5000);
    const listener = () => {
      Deno.removeSignalListener("SIGTERM", listener);
      clearTimeout(timer);
      resolve();
    };
    Deno.addSignalListener("SIGTERM", listener);
  });
}

function newModel(throwAt = -1): Model {
  const model = new Model(tinyNet());
  let calls = 0;
  model.prepare({
    optimizer: new MomentumSGD({ lr: 0.05 }),
    loss: (logits, labels) => {
      if (++calls === throwAt) throw new Error("injected failure");
      return softmaxCrossEntropy(logits, labels);
    },
  });
  return model;
}

Deno.test("SIGTERM stops after the current step with a checkpoint of its position and the reason", async () => {
  const saveDir = await Deno.makeTempDir();
  const model = newModel();
  const messages: string[] = [];
  const stop = new GracefulStop({
    saveDir,
    signals: ["SIGTERM"],
    log: (m) => messages.push(m),
    resumeCommand: "again",
  });
  // 12 examples in batches of 3: 4 steps per epoch; the signal comes after step 6 (epoch 1,
  // batch 1).
  await model.fit(quadrantDataset(12), undefined, {
    epochs: 3,
    batchSize: 3,
    verbose: 0,
    callbacks: [new InterruptAt(6), new ModelCheckpoint({ saveDir }), stop],
  });
  assert.equal(model.globalStep, 6);
  assert.deepEqual(model.position, { epoch: 1, batch: 2, globalStep: 6 });
  const message = `interrupted by SIGTERM after step 6 (epoch 1, batch 1); checkpoint saved: ` +
    `${saveDir}/interrupted; resume with: again`;
  assert.deepEqual(messages.at(-1), message);
  assert.deepEqual(model.stopReason, { kind: "interrupted", exitCode: 143, message });
  const names = (await listCheckpoints(saveDir)).map((c) => [c.name, c.meta.globalStep]);
  assert.deepEqual(names, [["0", 4], ["interrupted", 6]], "no epoch-1 or final checkpoint");
  model.dispose();
});

Deno.test("the listeners are gone after fit, whether it ended or failed", async () => {
  for (const throwAt of [-1, 3]) {
    const model = newModel(throwAt);
    const messages: string[] = [];
    const stop = new GracefulStop({ signals: ["SIGTERM"], log: (m) => messages.push(m) });
    const run = model.fit(quadrantDataset(12), undefined, {
      epochs: 1,
      batchSize: 3,
      verbose: 0,
      callbacks: [stop],
    });
    if (throwAt > 0) await assert.rejects(run, /injected failure/);
    else await run;
    const seen = nextSigterm();
    Deno.kill(Deno.pid, "SIGTERM");
    await seen;
    assert.deepEqual(messages, [], "GracefulStop heard a signal after fit");
    assert.equal(stop.signal, null);
    model.dispose();
  }
});
