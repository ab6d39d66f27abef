/**
 * What went wrong when training failed, in one line for the user, with the exit code a
 * command-line program ends with.
 *
 * Exit codes (the same for every training command):
 *
 * | code | meaning                                                               |
 * | ---- | --------------------------------------------------------------------- |
 * | 0    | training finished                                                     |
 * | 1    | any other error                                                       |
 * | 2    | bad command line (nothing was started)                                |
 * | 3    | a non-finite loss stopped training (`TerminateOnNaN`)                 |
 * | 4    | out of memory, or the GPU device was lost                             |
 * | 5    | checkpoints: save folder unwritable, disk full, checkpoint damaged    |
 * | 130  | interrupted by SIGINT (Ctrl-C); a checkpoint of the last step is kept |
 * | 143  | interrupted by SIGTERM; likewise                                      |
 *
 * Failures are recognised by the error's class and message: tfjs and V8 report an exhausted
 * heap or buffer as a `RangeError` ("Array buffer allocation failed", "Invalid typed array
 * length"), WebGPU as a `GPUOutOfMemoryError` or a lost device ("Device is lost", a `lost`
 * promise, `VK_ERROR_DEVICE_LOST`), the file system with `ENOSPC` / "No space left on device",
 * `EROFS`, `EACCES`. tfjs reports a lost or failing WebGPU device only as a vague
 * `OperationError`; when `src/backend/device_watch.ts` watched the device (`DeviceGuard` does),
 * its first recorded problem decides and is quoted. A V8 "JavaScript heap out of memory" abort ends the process with no chance
 * to report; like a SIGKILL it leaves the checkpoints complete (they are written atomically).
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { describeFailure } from "./errors.ts";
 * import { Model } from "./model.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 * import { syntheticDataset } from "../data/synthetic.ts";
 *
 * const data = syntheticDataset({ length: 4, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare();
 * try {
 *   await model.fit(data, data, { epochs: 1, batchSize: 4, verbose: 0 });
 * } catch (err) {
 *   const failure = describeFailure(err, { model, resumeCommand: "deno task train --resume latest" });
 *   console.error(failure.message);
 *   Deno.exit(failure.exitCode);
 * }
 * ```
 *
 * @module
 */
import { deviceProblem } from "../backend/device_watch.ts";
import { CheckpointError } from "../io/checkpoint.ts";
import type { Model } from "./model.ts";

/** Exit codes of training commands; see the module documentation. */
export const ExitCode = {
  /** Training finished. */
  ok: 0,
  /** Any other error. */
  error: 1,
  /** Bad command line. */
  usage: 2,
  /** A non-finite loss stopped training. */
  nonFinite: 3,
  /** Out of memory or a lost GPU device. */
  resources: 4,
  /** Save folder unwritable, disk full, or a damaged checkpoint. */
  storage: 5,
  /** SIGINT (128 + 2). */
  interrupted: 130,
  /** SIGTERM (128 + 15). */
  terminated: 143,
} as const;

/** The kinds of failure {@linkcode classifyError} tells apart. */
export type FailureKind =
  | "out_of_memory"
  | "device_lost"
  | "disk_full"
  | "unwritable"
  | "checkpoint"
  | "other";

/** A failure described for the user. */
export interface Failure {
  /** What kind of failure it was. */
  kind: FailureKind;
  /** Exit status for a command-line program. */
  exitCode: number;
  /** One line: what failed, where training stood, the checkpoint to resume from, how. */
  message: string;
}

/** Options of {@linkcode describeFailure}. */
export interface DescribeOptions {
  /** The model that was training: its position and last checkpoint go into the message. */
  model?: Model;
  /** How to resume, e.g. `deno task train --resume latest --save-dir output/X`. */
  resumeCommand?: string;
}

const OOM = new RegExp(
  [
    "out of memory",
    "OutOfMemory",
    "allocation failed",
    "failed to allocate",
    "Invalid typed array length",
    "Invalid array buffer length",
    "Array buffer allocation",
    "Cannot allocate memory",
    "ENOMEM",
  ].join("|"),
  "i",
);
const DEVICE_LOST = /device (is |was |has been )?lost|DeviceLost|DEVICE_LOST|device.*destroyed/i;
const DISK_FULL = /ENOSPC|No space left on device|Disk quota exceeded|EDQUOT|os error 28/i;
const UNWRITABLE =
  /EROFS|Read-only file system|EACCES|Permission denied|EPERM|Operation not permitted|not writable/i;

/** The messages of an error and its causes, joined, for matching. */
function allMessages(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof Error) {
      parts.push(`${e.name}: ${e.message}`);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(" / ");
}

/**
 * The kind of a training failure, from the error's class and message (and its `cause`s).
 *
 * @example
 * ```ts
 * import { classifyError } from "./errors.ts";
 * classifyError(new RangeError("Array buffer allocation failed")); // "out_of_memory"
 * classifyError(new Error("No space left on device (os error 28)")); // "disk_full"
 * ```
 */
export function classifyError(err: unknown): FailureKind {
  const text = allMessages(err);
  if (DEVICE_LOST.test(text)) return "device_lost";
  if (OOM.test(text)) return "out_of_memory";
  if (DISK_FULL.test(text)) return "disk_full";
  if (err instanceof Deno.errors.PermissionDenied || UNWRITABLE.test(text)) return "unwritable";
  if (err instanceof CheckpointError) return "checkpoint";
  // tfjs surfaces a device failure as a vague OperationError; the watched device knows more.
  const device = deviceProblem();
  if (device !== null && device.kind !== "gpu_error") return device.kind;
  return "other";
}

const EXIT: Record<FailureKind, number> = {
  out_of_memory: ExitCode.resources,
  device_lost: ExitCode.resources,
  disk_full: ExitCode.storage,
  unwritable: ExitCode.storage,
  checkpoint: ExitCode.storage,
  other: ExitCode.error,
};

const HEADLINE: Record<FailureKind, string> = {
  out_of_memory: "out of memory",
  device_lost: "the GPU device was lost",
  disk_full: "the disk is full",
  unwritable: "cannot write there",
  checkpoint: "checkpoint error",
  other: "training failed",
};

const ADVICE: Record<FailureKind, string> = {
  out_of_memory: "try a smaller --batch-size",
  device_lost: "check the GPU driver (a reset or a crash); --backend cpu also works",
  disk_full: "free some space, or choose another --save-dir / --log-dir",
  unwritable: "choose writable folders with --save-dir / --log-dir",
  checkpoint: "--resume latest picks the newest intact checkpoint",
  other: "",
};

/**
 * Describes a failure of `Model.fit` (or of preparing a run) in one line, naming where
 * training stood and the last complete checkpoint, with the matching exit code.
 *
 * @example
 * ```ts
 * import { describeFailure } from "./errors.ts";
 * const f = describeFailure(new RangeError("Array buffer allocation failed"));
 * console.log(f.exitCode, f.message); // 4 "out of memory: RangeError: Array buffer ..."
 * ```
 */
export function describeFailure(err: unknown, opts: DescribeOptions = {}): Failure {
  const kind = classifyError(err);
  const cause = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  let message = `${HEADLINE[kind]}: ${cause.split("\n")[0]}`;
  const device = deviceProblem();
  if (device !== null && !cause.includes(device.message)) {
    message += ` (the GPU reported: ${device.message})`;
  }
  const { model, resumeCommand } = opts;
  if (model !== undefined) {
    const { epoch, batch, globalStep } = model.position;
    message += `; ${globalStep} steps done (next: epoch ${epoch}, batch ${batch})`;
    message += model.lastCheckpoint === null
      ? "; no checkpoint was saved in this run"
      : `; last complete checkpoint: ${model.lastCheckpoint} (step ${model.lastCheckpointStep})`;
    if (model.lastCheckpoint !== null && resumeCommand !== undefined) {
      message += `; resume with: ${resumeCommand}`;
    }
  }
  if (ADVICE[kind] !== "") message += ` (${ADVICE[kind]})`;
  return { kind, exitCode: EXIT[kind], message };
}
