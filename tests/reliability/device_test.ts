import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { DeviceGuard } from "../../plugins/device_guard.ts";
import { ModelCheckpoint } from "../../plugins/model_checkpoint.ts";
import { clearDeviceProblem } from "../../src/backend/device_watch.ts";
import { findAdapter, startWebGPU } from "../../src/backend/webgpu.ts";
import { listCheckpoints } from "../../src/io/checkpoint.ts";
import { Callback, type Logs, type TrainingModel } from "../../src/train/callback.ts";
import { describeFailure } from "../../src/train/errors.ts";
import { softmaxCrossEntropy } from "../../src/train/losses.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { quadrantDataset, tinyNet } from "../train/helpers.ts";

tf.env().set("IS_NODE", false);
const hasGpu = (await findAdapter()) !== null;

/** Runs `action` after global step `step`. */
class At extends Callback {
  constructor(readonly step: number, readonly action: (model: TrainingModel) => void) {
    super();
  }
  override onTrainBatchEnd(_batch: number, logs: Logs): void {
    if (logs.step === this.step) this.action(this.model);
  }
}

async function failingRun(
  name: string,
  opts: { loss?: (step: number) => tf.Tensor | null; after?: At },
): Promise<{ model: Model; saveDir: string; error: unknown }> {
  await startWebGPU();
  // tfjs runs tiny ops on the CPU; these must reach the device.
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  clearDeviceProblem();
  const saveDir = await Deno.makeTempDir({ prefix: `reliability-${name}-` });
  const model = new Model(tinyNet());
  let step = 0;
  model.prepare({
    optimizer: new MomentumSGD({ lr: 0.05 }),
    loss: (logits, labels) => {
      const extra = opts.loss?.(++step) ?? null;
      const ce = softmaxCrossEntropy(logits, labels);
      return extra === null ? ce : tf.add(ce, tf.mul(tf.sum(extra), 0));
    },
  });
  const callbacks: Callback[] = [new DeviceGuard(), new ModelCheckpoint({ saveDir })];
  if (opts.after) callbacks.push(opts.after);
  let error: unknown = null;
  // 12 examples in batches of 3: 4 steps per epoch; checkpoint 0 after step 4.
  await model.fit(quadrantDataset(12), undefined, {
    epochs: 3,
    batchSize: 3,
    verbose: 0,
    callbacks,
  }).catch((e) => error = e);
  return { model, saveDir, error };
}

Deno.test({
  name: "an allocation the GPU refuses stops training as out of memory with exit code 4",
  ignore: !hasGpu,
  async fn() {
    const { model, saveDir, error } = await failingRun("oom", {
      // 2^30 floats: a 4 GiB buffer, over WebGPU's buffer size limit.
      loss: (step) => step === 6 ? tf.fill([1 << 28, 4], 1) : null,
    });
    assert.ok(error !== null, "training went on after a refused allocation");
    const f = describeFailure(error, { model });
    assert.equal(f.kind, "out_of_memory", f.message);
    assert.equal(f.exitCode, 4);
    assert.match(f.message, /last complete checkpoint: .*\/0 \(step 4\)/);
    const all = await listCheckpoints(saveDir);
    assert.deepEqual(all.map((c) => [c.name, c.intact]), [["0", true]]);
    clearDeviceProblem();
  },
});

// Last: the destroyed device stays the backend's for the rest of this process.
Deno.test({
  name: "a lost WebGPU device stops training with exit code 4, the last checkpoint intact",
  ignore: !hasGpu,
  async fn() {
    const { model, saveDir, error } = await failingRun("lost", {
      after: new At(6, () => (tf.backend() as unknown as { device: GPUDevice }).device.destroy()),
    });
    assert.ok(error !== null, "training went on after the device was destroyed");
    const f = describeFailure(error, { model });
    assert.equal(f.kind, "device_lost", f.message);
    assert.equal(f.exitCode, 4);
    assert.match(f.message, /^the GPU device was lost: .*destroyed/);
    assert.match(f.message, /last complete checkpoint: .*\/0 \(step 4\)/);
    const all = await listCheckpoints(saveDir);
    assert.deepEqual(all.map((c) => [c.name, c.intact]), [["0", true]]);
    clearDeviceProblem();
  },
});
