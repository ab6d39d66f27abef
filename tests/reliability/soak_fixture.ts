/**
 * The soak run of `soak_test.ts`, in a process of its own so that its resident memory is its
 * own: 200 steps of a tiny model with every plugin on, sampling `tf.memory().numTensors` and
 * `Deno.memoryUsage()` (after a full garbage collection when `--expose-gc` is given) after every
 * 20th step from step 100 on. Prints one JSON line: `{ steps, stopReason, logLines,
 * progressChars, samples: [{ step, tensors, rss, heapTotal, heapUsed }], tensorsAfterDispose,
 * tensorsBefore }`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { DeviceGuard } from "../../plugins/device_guard.ts";
import { GracefulStop } from "../../plugins/graceful_stop.ts";
import { LRScheduler } from "../../src/train/lr_scheduler.ts";
import { ModelCheckpoint } from "../../plugins/model_checkpoint.ts";
import { ProgressBar } from "../../src/train/progress_bar.ts";
import { ScalarLog } from "../../plugins/scalar_log.ts";
import { TerminateOnNaN } from "../../plugins/terminate_on_nan.ts";
import { Callback, type Logs } from "../../src/train/callback.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { warmupCosine } from "../../src/train/schedules.ts";
import { quadrantDataset, tinyNet, useCpu } from "../train/helpers.ts";

const WARM_UP = 100;
const EVERY = 20;
const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Samples live tensors, resident memory and V8's heap (reserved, and used after the collection)
 * after every `EVERY`-th step past warm-up.
 */
class MemoryProbe extends Callback {
  readonly samples: {
    step: number;
    tensors: number;
    rss: number;
    heapTotal: number;
    heapUsed: number;
  }[] = [];
  override onTrainBatchEnd(_batch: number, logs: Logs): void {
    if (logs.step < WARM_UP || logs.step % EVERY !== 0) return;
    gc?.();
    const { rss, heapTotal, heapUsed } = Deno.memoryUsage();
    this.samples.push({
      step: logs.step,
      tensors: tf.memory().numTensors,
      rss,
      heapTotal,
      heapUsed,
    });
  }
}

await useCpu();
const dir = await Deno.makeTempDir({ prefix: "reliability-soak-" });
const saveDir = `${dir}/ckpt`;
const tensorsBefore = tf.memory().numTensors;
const model = new Model(tinyNet({ side: 8, hidden: 8, seed: 1 }));
const epochs = 20;
model.prepare({
  optimizer: new MomentumSGD({ schedule: warmupCosine({ lr: 0.05, warmupSteps: 30, epochs }) }),
});
const probe = new MemoryProbe();
let progressChars = 0;
// 40 examples in batches of 4: 10 steps per epoch, 200 steps; evaluation and a checkpoint
// every epoch.
await model.fit(quadrantDataset(40, 0, 8), quadrantDataset(12, 5, 8), {
  epochs,
  batchSize: 4,
  verbose: 0,
  callbacks: [
    new DeviceGuard(),
    new LRScheduler(),
    new TerminateOnNaN(),
    new ScalarLog({ file: `${dir}/log.jsonl` }),
    new ModelCheckpoint({ saveDir }),
    new GracefulStop({ saveDir }),
    new ProgressBar({ write: (t) => progressChars += t.length, isTerminal: false }),
    probe,
  ],
});
const logLines = (await Deno.readTextFile(`${dir}/log.jsonl`)).split("\n").filter((l) => l).length;
const steps = model.globalStep;
const stopReason = model.stopReason;
model.dispose();
console.log(JSON.stringify({
  steps,
  stopReason,
  logLines,
  progressChars,
  samples: probe.samples,
  tensorsBefore,
  tensorsAfterDispose: tf.memory().numTensors,
}));
await Deno.remove(dir, { recursive: true });
