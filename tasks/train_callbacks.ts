/**
 * The callbacks every training command runs, in their required order (see "Order of callbacks"
 * in `src/train/callback.ts`): `DeviceGuard` first, the recipe's `LRScheduler` before anything
 * that saves, `TerminateOnNaN`, the scalar log (in the `--log-format` formats), the run's
 * `report.html` (`TrainingReport`, when `report` is given), `ModelCheckpoint`, and `GracefulStop`
 * after the loggers and the checkpoint writer (the three writers on rank 0 only of a
 * data-parallel run). `train`, `demo` and the reliability tests' fixture all build their list
 * here.
 *
 * @example
 * ```ts
 * import { trainCallbacks } from "./train_callbacks.ts";
 *
 * const callbacks = trainCallbacks({
 *   saveDir: "output/run1",
 *   saveFreq: 1,
 *   logFile: "vis_logs/run1.jsonl",
 *   resumeCommand: "deno task train --resume latest --save-dir output/run1",
 * });
 * console.log(callbacks.map((c) => c.constructor.name).join(", "));
 * // DeviceGuard, LRScheduler, TerminateOnNaN, ScalarLog, ModelCheckpoint, GracefulStop
 * ```
 *
 * @module
 */
import type { Callback } from "../src/train/callback.ts";
import type { DataLoader } from "../src/train/loader.ts";
import { LRScheduler } from "../src/train/lr_scheduler.ts";
import { DeviceGuard } from "../plugins/device_guard.ts";
import { GracefulStop } from "../plugins/graceful_stop.ts";
import { ModelCheckpoint } from "../plugins/model_checkpoint.ts";
import { type LogFormat, ScalarLog } from "../plugins/scalar_log.ts";
import { TerminateOnNaN } from "../plugins/terminate_on_nan.ts";
import { TrainingReport } from "../plugins/training_report.ts";

/** Options of {@linkcode trainCallbacks}. */
export interface TrainCallbackOptions {
  /** Checkpoint folder. */
  saveDir: string;
  /** Save a checkpoint every N epochs. */
  saveFreq: number;
  /** Scalar log file (appended to when it exists, trimmed to the resumed step). */
  logFile: string;
  /** The command line that continues the run, shown when it stops early. */
  resumeCommand: string;
  /** Scalar logs to write (`--log-format`; default all of them). */
  logFormats?: readonly LogFormat[];
  /** The run's `run.json`, copied beside the TensorBoard/VisualDL logs when given. */
  runFile?: string;
  /** Write `<saveDir>/report.html` at the end: the class names and the evaluation data. */
  report?: { classNames: readonly string[]; evalData?: DataLoader };
  /**
   * False on the ranks other than 0 of a data-parallel run: they write no files (no scalar log,
   * report or checkpoints; `GracefulStop` stops them without saving). Default true.
   */
  leader?: boolean;
}

/** The built-in callbacks of a training command, in order; see the module documentation. */
export function trainCallbacks(opts: TrainCallbackOptions): Callback[] {
  const { saveDir, saveFreq, logFile, resumeCommand, report } = opts;
  const leader = opts.leader ?? true;
  const writers: Callback[] = [
    new ScalarLog({ file: logFile, formats: opts.logFormats, runFile: opts.runFile }),
    ...(report === undefined ? [] : [
      new TrainingReport({
        saveDir,
        classNames: report.classNames,
        evalData: report.evalData,
        logFile,
      }),
    ]),
    new ModelCheckpoint({ saveDir, saveFreq }),
  ];
  return [
    new DeviceGuard(),
    new LRScheduler(),
    new TerminateOnNaN({ resumeCommand }),
    ...(leader ? writers : []),
    new GracefulStop({ saveDir: leader ? saveDir : undefined, resumeCommand }),
  ];
}
