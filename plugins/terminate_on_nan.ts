/**
 * Stops training as soon as a step's loss is not finite, naming the step and the last good
 * checkpoint to resume from, and sets `model.stopReason` (kind `non_finite`, exit code 3).
 * `ModelCheckpoint` saves no state with a non-finite loss, so the last good checkpoint is the
 * newest one and `--resume latest` finds it.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { TerminateOnNaN } from "./terminate_on_nan.ts";
 * import { Model } from "../src/train/model.ts";
 * import { resnetFCN } from "../src/nn/resnet_fcn.ts";
 * import { syntheticDataset } from "../src/data/synthetic.ts";
 *
 * const data = syntheticDataset({ length: 4, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare();
 * await model.fit(data, data, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [new TerminateOnNaN()] });
 * console.log(model.stopReason); // null: the loss stayed finite
 * model.dispose();
 * ```
 *
 * @module
 */
import { Callback, type Logs } from "../src/train/callback.ts";
import { ExitCode } from "../src/train/errors.ts";

/** Options of {@linkcode TerminateOnNaN}. */
export interface TerminateOnNaNOptions {
  /** Where the message goes (default `console.error`). */
  log?: (message: string) => void;
  /** Appended as ` Resume with: <command>` when there is a checkpoint (default: nothing). */
  resumeCommand?: string;
}

/** Sets `model.stopTraining` on a non-finite loss; see the module documentation. */
export class TerminateOnNaN extends Callback {
  /** The message of the stop, once it happened. */
  stopped: string | null = null;
  readonly #log: (message: string) => void;
  readonly #resumeCommand: string | undefined;

  /**
   * Creates the plugin.
   *
   * @param opts See {@linkcode TerminateOnNaNOptions}.
   */
  constructor(opts: TerminateOnNaNOptions = {}) {
    super();
    this.#log = opts.log ?? console.error;
    this.#resumeCommand = opts.resumeCommand;
  }

  /** Forgets a stop of an earlier run. */
  override onTrainBegin(): void {
    this.stopped = null;
  }

  /** Stops training on a non-finite loss, naming the step and the last good checkpoint. */
  override onTrainBatchEnd(batch: number, logs: Logs): void {
    if (Number.isFinite(logs.loss)) return;
    const last = this.model.lastCheckpoint;
    this.stopped = `TerminateOnNaN: loss is ${logs.loss} at step ${logs.step} ` +
      `(epoch ${logs.epoch}, batch ${batch}); stopping. ` +
      (last === null
        ? "No checkpoint was saved in this run."
        : `Last good checkpoint: ${last} (resume from it, e.g. with a lower learning rate).` +
          (this.#resumeCommand === undefined ? "" : ` Resume with: ${this.#resumeCommand}`));
    this.#log(this.stopped);
    this.model.stopTraining = true;
    this.model.stopReason = {
      kind: "non_finite",
      exitCode: ExitCode.nonFinite,
      message: this.stopped,
    };
  }
}
