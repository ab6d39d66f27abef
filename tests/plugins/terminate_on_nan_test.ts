import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ModelCheckpoint } from "../../plugins/model_checkpoint.ts";
import { TerminateOnNaN } from "../../plugins/terminate_on_nan.ts";
import { softmaxCrossEntropy } from "../../src/train/losses.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { quadrantDataset, Recorder, tinyNet, useCpu } from "../train/helpers.ts";

await useCpu();

Deno.test("a non-finite loss stops training at once, naming the step and the last good checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  let calls = 0;
  const model = new Model(tinyNet());
  model.prepare({
    optimizer: new MomentumSGD({ lr: 0.05 }),
    // The 6th step (epoch 1, batch 1) diverges.
    loss: (logits, labels) =>
      tf.tidy(() => {
        const ce = softmaxCrossEntropy(logits, labels);
        return ++calls === 6 ? tf.mul(ce, NaN) : ce;
      }),
  });
  const messages: string[] = [];
  const nan = new TerminateOnNaN({ log: (m) => messages.push(m) });
  const rec = new Recorder();
  await model.fit(quadrantDataset(12), undefined, {
    epochs: 5,
    batchSize: 3,
    verbose: 0,
    callbacks: [nan, new ModelCheckpoint({ saveDir: dir, log: (m) => messages.push(m) }), rec],
  });
  assert.deepEqual(rec.batchLogs.map((l) => l.step), [1, 2, 3, 4, 5, 6]);
  assert.equal(messages.length, 1, "ModelCheckpoint does not repeat the stop");
  assert.match(
    messages[0],
    /loss is NaN at step 6 \(epoch 1, batch 1\); stopping\. Last good checkpoint: .*\/0 /,
  );
  assert.equal(nan.stopped, messages[0]);
  assert.deepEqual(model.stopReason, { kind: "non_finite", exitCode: 3, message: messages[0] });
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names, ["0"], "neither the diverged epoch nor a final checkpoint is written");
  model.dispose();
});
