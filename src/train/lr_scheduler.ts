/**
 * Advances the optimiser's learning-rate schedule by the recipe's rule: after every training
 * step while the schedule is warming up, then once per epoch.
 *
 * How it counts (the recipe: LR, warm-up W steps, cosine period T epochs):
 * - `onTrainBatchEnd`: when `schedule.warmingUp`, `schedule.step()`. After `k` steps the warm-up
 *   value is `LR·k/W`, so step `k` (from 0) trains with `LR·k/W` and the first with 0.
 * - `onEpochBegin` of every epoch except epoch 0 (and except when the run resumes in the middle
 *   of an epoch): when warm-up is over, `schedule.step()`. Warm-up is over at the start of
 *   epoch `e` exactly when step W−1 ran in an earlier epoch E, so epoch `E + j` trains with the
 *   cosine's j-th value `LR·(1 + cos(π·j/T))/2`, and the steps of epoch E after step W−1 with LR.
 *
 * Stepping at the start of the next epoch rather than at the end of the last one means a
 * checkpoint written in any `onEpochEnd`, whatever the callback order, holds the schedule as it
 * was during that epoch, and the resumed run performs the epoch-boundary step itself.
 *
 * With `per: "step"` the schedule advances after every step, warm-up or not.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { LRScheduler } from "./lr_scheduler.ts";
 * import { MomentumSGD } from "./optimizer.ts";
 * import { warmupCosine } from "./schedules.ts";
 * import { Model } from "./model.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 * import { syntheticDataset } from "../data/synthetic.ts";
 *
 * const data = syntheticDataset({ length: 4, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare();
 * // `fit` adds `new LRScheduler()` itself when none is given; pass one to choose its options.
 * model.prepare({
 *   optimizer: new MomentumSGD({ schedule: warmupCosine({ lr: 0.01, warmupSteps: 2, epochs: 3 }) }),
 * });
 * const callbacks = [new LRScheduler({ per: "step" })];
 * await model.fit(data, data, { epochs: 3, batchSize: 4, verbose: 0, callbacks });
 * console.log(model.optimizer.lr < 0.01); // true: past warm-up, the cosine has begun
 * model.dispose();
 * ```
 *
 * @module
 */
import { Callback, type Logs } from "./callback.ts";

/** Options of {@linkcode LRScheduler}. */
export interface LRSchedulerOptions {
  /** Unit of the schedule after warm-up: `"epoch"` (default, the recipe) or `"step"`. */
  per?: "epoch" | "step";
}

/** Steps `model.optimizer.schedule`; see the module documentation. */
export class LRScheduler extends Callback {
  readonly #per: "epoch" | "step";

  /**
   * Creates the scheduler; by default the rate advances per epoch once warm-up is over.
   *
   * @param opts See {@linkcode LRSchedulerOptions}.
   */
  constructor(opts: LRSchedulerOptions = {}) {
    super();
    this.#per = opts.per ?? "epoch";
  }

  /** After warm-up, advances the schedule once at the start of every epoch but the first. */
  override onEpochBegin(epoch: number, logs: Logs): void {
    const schedule = this.optimizer.schedule;
    if (this.#per === "epoch" && epoch > 0 && (logs.batch ?? 0) === 0 && !schedule.warmingUp) {
      schedule.step();
      logs.lr = schedule.value;
    }
  }

  /** During warm-up (or with `per: "step"`), advances the schedule after every step. */
  override onTrainBatchEnd(): void {
    const schedule = this.optimizer.schedule;
    if (this.#per === "step" || schedule.warmingUp) schedule.step();
  }
}
