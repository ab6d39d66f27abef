/**
 * Ctrl-C (SIGINT) and SIGTERM end training cleanly: the current step finishes, a checkpoint of
 * the last completed step is written (its position inside the epoch included), the scalar log is
 * closed, and `model.stopReason` holds the exit code (130 for SIGINT, 143 for SIGTERM) and a
 * line saying how to resume. A second signal exits the process at once with that code; the
 * checkpoints on disk stay complete, since every write is atomic.
 *
 * The listeners are installed in `onTrainBegin` and removed in `onTrainEnd` (or `onTrainError`),
 * so outside `fit` a signal has its default effect. While training on the CPU a step never
 * waits for the event loop, so after every batch this callback yields to it once (a zero-delay
 * timer) to let a signal in.
 *
 * The checkpoint is `<saveDir>/interrupted` (written atomically like every checkpoint). It is
 * skipped when the last checkpoint written or loaded already holds the last completed step
 * (e.g. the signal came during the evaluation of an epoch that was then saved). `--resume
 * latest` takes the checkpoint with the highest step, so it finds this one.
 *
 * Put it after `ScalarLog` and `ModelCheckpoint` in the callback list, so that the log is closed
 * and the epoch checkpoint exists before it decides whether to save.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { GracefulStop } from "./graceful_stop.ts";
 * import { Model } from "../src/train/model.ts";
 * import { resnetFCN } from "../src/nn/resnet_fcn.ts";
 * import { syntheticDataset } from "../src/data/synthetic.ts";
 *
 * const data = syntheticDataset({ length: 4, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare();
 * const stop = new GracefulStop({
 *   saveDir: await Deno.makeTempDir(),
 *   resumeCommand: "deno task train --resume latest",
 * });
 * await model.fit(data, data, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [stop] });
 * if (model.stopReason) Deno.exit(model.stopReason.exitCode);
 * model.dispose();
 * ```
 *
 * @module
 */
import { Callback, type Logs } from "../src/train/callback.ts";
import { ExitCode } from "../src/train/errors.ts";

/** The signals this callback handles. */
export type StopSignal = "SIGINT" | "SIGTERM";

/** Options of {@linkcode GracefulStop}. */
export interface GracefulStopOptions {
  /** Folder for the checkpoint of the last completed step (default: none, nothing is saved). */
  saveDir?: string;
  /** Name of that checkpoint inside `saveDir` (default `interrupted`). */
  name?: string;
  /** Shown after `resume with: ` (default: a `fit(..., { resumeFrom })` call). */
  resumeCommand?: string;
  /** Signals to handle (default SIGINT and SIGTERM; SIGINT only on Windows). */
  signals?: StopSignal[];
  /** Where messages go (default `console.error`). */
  log?: (message: string) => void;
  /** Ends the process on a second signal (default `Deno.exit`). */
  exit?: (code: number) => void;
}

const CODES: Record<StopSignal, number> = {
  SIGINT: ExitCode.interrupted,
  SIGTERM: ExitCode.terminated,
};

/** Stops training on SIGINT/SIGTERM with a checkpoint; see the module documentation. */
export class GracefulStop extends Callback {
  /** The first signal received during the current (or last) `fit`, if any. */
  signal: StopSignal | null = null;
  /** The one-line message of the stop, once `onTrainEnd` ran. */
  message: string | null = null;
  readonly #saveDir: string | undefined;
  readonly #name: string;
  readonly #resumeCommand: string | undefined;
  readonly #signals: StopSignal[];
  readonly #log: (message: string) => void;
  readonly #exit: (code: number) => void;
  #listeners: [StopSignal, () => void][] = [];
  #last: { epoch: number; batch: number } | null = null;

  /**
   * Creates the callback; nothing is installed before `fit` starts.
   *
   * @param opts See {@linkcode GracefulStopOptions}.
   */
  constructor(opts: GracefulStopOptions = {}) {
    super();
    this.#saveDir = opts.saveDir?.replace(/\/+$/, "");
    this.#name = opts.name ?? "interrupted";
    this.#resumeCommand = opts.resumeCommand;
    this.#signals = opts.signals ??
      (Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"]);
    this.#log = opts.log ?? console.error;
    this.#exit = opts.exit ?? ((code) => Deno.exit(code));
  }

  /** Installs the signal listeners. */
  override onTrainBegin(): void {
    this.signal = null;
    this.message = null;
    this.#last = null;
    this.#removeListeners();
    for (const sig of this.#signals) {
      const listener = () => this.#onSignal(sig);
      Deno.addSignalListener(sig, listener);
      this.#listeners.push([sig, listener]);
    }
  }

  /** Notes the step and lets a pending signal in. */
  override async onTrainBatchEnd(batch: number, logs: Logs): Promise<void> {
    this.#last = { epoch: logs.epoch, batch };
    await yieldToEventLoop();
  }

  /** Lets a pending signal in. */
  override async onEvalBatchEnd(): Promise<void> {
    await yieldToEventLoop();
  }

  /** Removes the listeners; after a signal, saves the last step and sets `model.stopReason`. */
  override async onTrainEnd(): Promise<void> {
    this.#removeListeners();
    const sig = this.signal;
    if (sig === null) return;
    const model = this.model;
    const step = model.globalStep;
    let where = `after step ${step}`;
    if (this.#last !== null) where += ` (epoch ${this.#last.epoch}, batch ${this.#last.batch})`;
    else where += " (no step ran in this run)";
    let dir = model.lastCheckpointStep === step ? model.lastCheckpoint : null;
    if (dir === null && this.#saveDir !== undefined) {
      dir = `${this.#saveDir}/${this.#name}`;
      await model.save(dir);
    }
    let message = `interrupted by ${sig} ${where}; `;
    if (dir !== null) {
      const resume = this.#resumeCommand ?? `fit(..., { resumeFrom: "${dir}" })`;
      message += `checkpoint saved: ${dir}; resume with: ${resume}`;
    } else if (model.lastCheckpoint !== null) {
      message += `no save folder given; last checkpoint: ${model.lastCheckpoint} ` +
        `(step ${model.lastCheckpointStep}; the steps after it are lost)`;
    } else {
      message += "no save folder given and no checkpoint exists; nothing to resume from";
    }
    this.message = message;
    model.stopReason = { kind: "interrupted", exitCode: CODES[sig], message };
    this.#log(message);
  }

  /** Removes the listeners. */
  override onTrainError(): void {
    this.#removeListeners();
  }

  #onSignal(sig: StopSignal): void {
    if (this.signal !== null) {
      const last = this.model.lastCheckpoint;
      this.#log(
        `${sig} again: exiting at once; last complete checkpoint: ${last ?? "none"}` +
          (last === null ? "" : ` (step ${this.model.lastCheckpointStep})`),
      );
      this.#exit(CODES[sig]);
      return;
    }
    this.signal = sig;
    this.model.stopTraining = true;
    // Set now, so that ModelCheckpoint (earlier in the list) writes no `final` checkpoint.
    this.model.stopReason = {
      kind: "interrupted",
      exitCode: CODES[sig],
      message: `interrupted by ${sig}`,
    };
    this.#log(
      `${sig}: stopping after the current step and saving a checkpoint; ` +
        `${sig === "SIGINT" ? "press Ctrl-C" : "send SIGTERM"} again to exit at once`,
    );
  }

  #removeListeners(): void {
    for (const [sig, listener] of this.#listeners) Deno.removeSignalListener(sig, listener);
    this.#listeners = [];
  }
}

/** Lets pending events (signals) run: a CPU training step only ever awaits settled promises. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
