/**
 * A tiny training program for the reliability tests: the CLI's callbacks, built by the same
 * `trainCallbacks` the training commands use, around a seeded tiny network on the cpu backend,
 * with the CLI's exit codes and messages, plus ways to fail or pause on purpose.
 *
 * ```
 * deno run -A tests/reliability/train_fixture.ts --save-dir D --log-file F [--resume latest|DIR]
 *   [--epochs 3] [--nan-at K] [--fail-at K --fail-with oom|device-lost]
 * ```
 *
 * `FIXTURE_PAUSE=<where>:<n>` prints `PAUSED <where> <n>` on stdout and then waits, so that a test
 * can signal or kill the process at a known point:
 * - `step:n` blocks the thread inside the gradient computation of global step n (for SIGKILL);
 * - `batch:n` waits (asynchronously, so signals are handled) before global step n, until training
 *   is told to stop or 60 s pass;
 * - `hold:n` waits likewise before global step n, but until the file `$FIXTURE_RELEASE` exists;
 * - `write:n` blocks in the n-th checkpoint write of this process, after its weights file was
 *   written into the temporary folder;
 * - `rename:n` blocks in the n-th checkpoint write just before the complete temporary folder is
 *   renamed into place.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename, dirname, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { Callback, type Logs } from "../../src/train/callback.ts";
import { describeFailure, ExitCode } from "../../src/train/errors.ts";
import { softmaxCrossEntropy } from "../../src/train/losses.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { findResumePoint } from "../../src/io/checkpoint.ts";
import { warmupCosine } from "../../src/train/schedules.ts";
import { trainCallbacks } from "../../tasks/train_callbacks.ts";
import { quadrantDataset, tinyNet, useCpu } from "../train/helpers.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    "save-dir": { type: "string" },
    "log-file": { type: "string" },
    resume: { type: "string" },
    epochs: { type: "string", default: "3" },
    "nan-at": { type: "string" },
    "fail-at": { type: "string" },
    "fail-with": { type: "string", default: "oom" },
  },
});
const saveDir = flags["save-dir"];
const logFile = flags["log-file"];
if (saveDir === undefined || logFile === undefined) {
  console.error("error: --save-dir and --log-file are required");
  Deno.exit(ExitCode.usage);
}
const epochs = Number(flags.epochs);
const nanAt = flags["nan-at"] === undefined ? -1 : Number(flags["nan-at"]);
const failAt = flags["fail-at"] === undefined ? -1 : Number(flags["fail-at"]);
const [pauseWhere, pauseAtText] = (Deno.env.get("FIXTURE_PAUSE") ?? ":").split(":");
const pauseAt = Number(pauseAtText);
const resumeCommand = `train_fixture --save-dir ${saveDir} --log-file ${logFile} --resume latest`;

function announce(where: string, n: number): void {
  console.log(`PAUSED ${where} ${n}`);
}

/** Blocks the whole thread (no event loop): only SIGKILL-style ends are possible meanwhile. */
function blockThread(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// Checkpoint writes go through Deno.open / Deno.rename of a hidden temporary folder in saveDir.
const TMP = /^\.[^/]+\.tmp-\d+-[0-9a-f]+$/;
let writes = 0;
const open = Deno.open;
const rename = Deno.rename;
Deno.open = (path: string | URL, options?: Deno.OpenOptions) => {
  const p = String(path);
  if (
    pauseWhere === "write" && basename(p) === "optimizer.safetensors" &&
    TMP.test(basename(dirname(p)))
  ) {
    if (++writes === pauseAt) {
      announce("write", writes);
      blockThread(60_000);
    }
  }
  return open(path, options);
};
Deno.rename = (from: string | URL, to: string | URL) => {
  const f = String(from);
  if (
    pauseWhere === "rename" && TMP.test(basename(f)) && resolve(dirname(f)) === resolve(saveDir)
  ) {
    if (++writes === pauseAt) {
      announce("rename", writes);
      blockThread(60_000);
    }
  }
  return rename(from, to);
};

function released(): boolean {
  const file = Deno.env.get("FIXTURE_RELEASE");
  if (file === undefined) return false;
  try {
    Deno.statSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Pauses before a step when asked; remembers whether a step began (see the failure message). */
class Hooks extends Callback {
  started = false;
  override async onTrainBatchBegin(_batch: number, _logs: Logs): Promise<void> {
    this.started = true;
    const step = this.model.globalStep + 1;
    if ((pauseWhere !== "batch" && pauseWhere !== "hold") || step !== pauseAt) return;
    announce(pauseWhere, step);
    const until = Date.now() + 60_000;
    const done = () => pauseWhere === "batch" ? this.model.stopTraining : released();
    while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }
}

await useCpu();
const model = new Model(tinyNet({ seed: 7 }));
let step = 0;
model.prepare({
  optimizer: new MomentumSGD({ schedule: warmupCosine({ lr: 0.05, warmupSteps: 7, epochs }) }),
  loss: (logits, labels) => {
    // Called once per training step, inside its gradient computation.
    step = model.globalStep + 1;
    if (pauseWhere === "step" && step === pauseAt) {
      announce("step", step);
      blockThread(60_000);
    }
    if (step === failAt) {
      throw flags["fail-with"] === "device-lost"
        ? new Error("GPUDevice was lost: Device is lost (reason: unknown)")
        : new RangeError("Array buffer allocation failed");
    }
    const ce = softmaxCrossEntropy(logits, labels);
    return step === nanAt ? tf.mul(ce, NaN) : ce;
  },
});

const hooks = new Hooks();
try {
  let resumeFrom: string | undefined;
  if (flags.resume === "latest") {
    const point = await findResumePoint(saveDir);
    for (const s of point.skipped) console.error(`skipping ${s.dir}: ${s.problem}`);
    if (point.dir === null) {
      console.error(`error: --resume latest: no intact checkpoint in ${saveDir}`);
      Deno.exit(ExitCode.usage);
    }
    resumeFrom = point.dir;
    console.error(`resuming from ${resumeFrom}`);
  } else if (flags.resume !== undefined) {
    resumeFrom = flags.resume;
  }
  await model.fit(quadrantDataset(20), quadrantDataset(9, 5), {
    epochs,
    batchSize: 4,
    seed: 3,
    verbose: 0,
    resumeFrom,
    callbacks: [hooks, ...trainCallbacks({ saveDir, saveFreq: 1, logFile, resumeCommand })],
  });
} catch (err) {
  const failure = describeFailure(err, hooks.started ? { model, resumeCommand } : {});
  console.error(`error: ${failure.message}`);
  Deno.exit(failure.exitCode);
}
if (model.stopReason !== null) Deno.exit(model.stopReason.exitCode);
console.log(`DONE step ${model.globalStep}`);
