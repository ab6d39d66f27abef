/**
 * Writing your own plugin: a complete example.
 *
 * A plugin is a class extending `Callback` that overrides only the hooks it needs (all others do
 * nothing). The loop gives it `this.model`, `this.optimizer` and `this.params` (epochs, steps per
 * epoch, metric names) before training starts. Hooks may be `async`; the loop awaits them in
 * order. This one keeps the best evaluation accuracy seen, adds it to the epoch's logs as
 * `best_acc_top1` (callbacks after it, such as a logger, see the value), and stops training once
 * it reaches a target.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { StopAtAccuracy } from "./example_plugin.ts";
 * import { Model } from "../src/train/model.ts";
 * import { resnetFCN } from "../src/nn/resnet_fcn.ts";
 * import { syntheticDataset } from "../src/data/synthetic.ts";
 *
 * const data = syntheticDataset({ length: 4, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare();
 * const stop = new StopAtAccuracy({ target: 0.9 });
 * await model.fit(data, data, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [stop] });
 * console.log(`best held-out accuracy: ${stop.best}`);
 * model.dispose();
 * ```
 *
 * @module
 */
import { Callback, type Logs } from "../src/train/callback.ts";

/** Options of {@linkcode StopAtAccuracy}. */
export interface StopAtAccuracyOptions {
  /** Evaluation top-1 accuracy at which to stop (default 0.9). */
  target?: number;
}

/** Stops training when evaluation accuracy reaches a target; see the module documentation. */
export class StopAtAccuracy extends Callback {
  /** Best evaluation top-1 accuracy so far. */
  best = 0;
  readonly #target: number;

  /**
   * Creates the plugin; the default target is 0.9.
   *
   * @param opts See {@linkcode StopAtAccuracyOptions}.
   */
  constructor(opts: StopAtAccuracyOptions = {}) {
    super();
    this.#target = opts.target ?? 0.9;
  }

  /** Records the best evaluation accuracy and stops once it reaches the target. */
  override onEpochEnd(epoch: number, logs: Logs): void {
    const acc = logs.eval_acc_top1;
    if (acc === undefined) return; // no evaluation this epoch
    this.best = Math.max(this.best, acc);
    logs.best_acc_top1 = this.best;
    if (acc >= this.#target) {
      console.log(`StopAtAccuracy: eval acc_top1 ${acc.toFixed(4)} at epoch ${epoch}; stopping`);
      this.model.stopTraining = true;
    }
  }
}
