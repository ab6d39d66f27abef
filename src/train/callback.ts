/**
 * The callback interface of {@linkcode Model}: a base class whose hooks all do nothing, and a
 * list that calls them in order.
 *
 * ## Order of hooks in `Model.fit`
 *
 * ```
 * onTrainBegin
 * for each epoch from params.initialEpoch to params.epochs - 1:
 *   onEpochBegin
 *   for each batch:  onTrainBatchBegin → (train step) → onTrainBatchEnd
 *   when the epoch is an evaluation epoch (and training was not stopped during it):
 *     onEvalBegin
 *     for each batch:  onEvalBatchBegin → (forward pass) → onEvalBatchEnd
 *     onEvalEnd
 *   onEpochEnd
 * onTrainEnd
 * ```
 *
 * When an error escapes any of these (a failed step, an out-of-memory, a lost device, a failed
 * checkpoint write, a throwing hook) after `onTrainBegin` started, `onTrainError` is called
 * instead of the remaining hooks and the error is rethrown: callbacks release there what they
 * took in `onTrainBegin` (signal listeners, open files).
 *
 * `Model.evaluate` alone calls `onEvalBegin`, the batch pairs, `onEvalEnd`; `Model.predict` calls
 * `onPredictBegin` and `onPredictEnd`. Setting `model.stopTraining = true` ends the batch loop
 * after the current `onTrainBatchEnd` (then `onEpochEnd` and `onTrainEnd` still run) or the
 * epoch loop after the current `onEpochEnd`.
 *
 * Within one hook, callbacks run in list order and each is awaited before the next starts. They
 * share one `logs` object per hook call: a value a callback adds is seen by the callbacks after
 * it. A callback changes the learning rate through `this.optimizer.schedule` (see
 * `MomentumSGD`).
 *
 * @example
 * ```ts
 * import { Callback, type Logs } from "./callback.ts";
 *
 * class PrintLoss extends Callback {
 *   override onEpochEnd(epoch: number, logs: Logs) {
 *     console.log(`epoch ${epoch}: loss ${logs.loss}`);
 *   }
 * }
 * ```
 *
 * @module
 */
import type { Model } from "./model.ts";
import type { MomentumSGD } from "./optimizer.ts";

/** Numbers a hook receives; callbacks may add their own keys. */
export type Logs = Record<string, number>;

/** What a run is about to do; set on every callback before `onTrainBegin`. */
export interface TrainParams {
  /** Epoch count the run ends at (exclusive). */
  epochs: number;
  /** First epoch the run trains (non-zero when resuming). */
  initialEpoch: number;
  /** Training batches per epoch. */
  stepsPerEpoch: number;
  /** Examples per training batch (the last may be smaller). */
  batchSize: number;
  /** Training examples per epoch. */
  samples: number;
  /** Evaluation batches, 0 when there is no evaluation set. */
  evalSteps: number;
  /** Evaluate after every `evalFreq`-th epoch. */
  evalFreq: number;
  /** Metric names, e.g. `["acc_top1", "acc_top5"]`. */
  metrics: string[];
  /** Verbosity the run was started with. */
  verbose: number;
}

/** A hook's result: callbacks may be async. */
export type HookResult = void | Promise<void>;

/**
 * Base class of callbacks: every hook is a no-op, so a callback overrides only what it needs.
 * The loop sets {@linkcode Callback.model} and {@linkcode Callback.params} before training.
 */
export class Callback {
  /** The model being trained; set by the loop. */
  model!: Model;
  /** The run's parameters; set by the loop before `onTrainBegin`. */
  params!: TrainParams;

  /** The model's optimiser (its `schedule` holds the learning rate). */
  get optimizer(): MomentumSGD {
    return this.model.optimizer;
  }

  /** Called by the loop; sets {@linkcode Callback.model}. */
  setModel(model: Model): void {
    this.model = model;
  }

  /** Called by the loop; sets {@linkcode Callback.params}. */
  setParams(params: TrainParams): void {
    this.params = params;
  }

  /** Before the first epoch. `logs`: `{step}` (global steps done so far, 0 unless resuming). */
  onTrainBegin(_logs: Logs): HookResult {}

  /**
   * After the last epoch (or after a stop). `logs`: the last `onEpochEnd` logs, `{step}` when no
   * epoch ran.
   */
  onTrainEnd(_logs: Logs): HookResult {}

  /**
   * When an error escaped `fit` after `onTrainBegin` started (see the module documentation);
   * `fit` rethrows it once every callback ran. Release resources here; do not train or save.
   * An error thrown here is reported on stderr and does not replace the original one.
   * `logs`: `{step}` (global steps done).
   */
  onTrainError(_error: unknown, _logs: Logs): HookResult {}

  /** Before epoch `epoch` (from 0). `logs`: `{epoch, step, lr}` (the rate its first step uses). */
  onEpochBegin(_epoch: number, _logs: Logs): HookResult {}

  /**
   * After epoch `epoch`. `logs`: `loss` (mean over the epoch's examples), each metric (over the
   * epoch), `lr` (rate of the epoch's last step), `step`, `epoch`, `samplesSeen`, and after an
   * evaluation `eval_loss` and `eval_<metric>`.
   */
  onEpochEnd(_epoch: number, _logs: Logs): HookResult {}

  /** Before training batch `batch` (within the epoch). `logs`: `{batch, batchSize, epoch, lr}`. */
  onTrainBatchBegin(_batch: number, _logs: Logs): HookResult {}

  /**
   * After training batch `batch`. `logs`: `loss` (this step's), each metric (running over the
   * epoch so far), `lr` (the rate this step trained with), `step` (global, from 1 after the first
   * step), `epoch`, `batch`, `batchSize`, `samplesSeen` (in this epoch).
   */
  onTrainBatchEnd(_batch: number, _logs: Logs): HookResult {}

  /** Before an evaluation pass. `logs`: `{epoch}` inside `fit`, `{}` from `evaluate`. */
  onEvalBegin(_logs: Logs): HookResult {}

  /**
   * After an evaluation pass. `logs`: `loss` and each metric over the whole evaluation set
   * (plus `epoch` inside `fit`).
   */
  onEvalEnd(_logs: Logs): HookResult {}

  /** Before evaluation batch `batch`. `logs`: `{batch, batchSize}`. */
  onEvalBatchBegin(_batch: number, _logs: Logs): HookResult {}

  /**
   * After evaluation batch `batch`. `logs`: `loss` and metrics running over the pass so far,
   * `batch`, `batchSize`, `samplesSeen`.
   */
  onEvalBatchEnd(_batch: number, _logs: Logs): HookResult {}

  /** Before `predict`. `logs`: `{}`. */
  onPredictBegin(_logs: Logs): HookResult {}

  /** After `predict`. `logs`: `{samples}`. */
  onPredictEnd(_logs: Logs): HookResult {}
}

/** Fans every hook out to a list of callbacks, in order, awaiting each. */
export class CallbackList {
  /** The callbacks, in call order. */
  readonly callbacks: Callback[];

  /**
   * Creates the list; callbacks run in the given order.
   *
   * @param callbacks Callbacks in call order.
   */
  constructor(callbacks: readonly Callback[] = []) {
    this.callbacks = [...callbacks];
  }

  /** Sets the model on every callback. */
  setModel(model: Model): void {
    for (const c of this.callbacks) c.setModel(model);
  }

  /** Sets the run parameters on every callback. */
  setParams(params: TrainParams): void {
    for (const c of this.callbacks) c.setParams(params);
  }

  /** See {@linkcode Callback.onTrainBegin}. */
  async onTrainBegin(logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onTrainBegin(logs);
  }
  /** See {@linkcode Callback.onTrainEnd}. */
  async onTrainEnd(logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onTrainEnd(logs);
  }
  /** See {@linkcode Callback.onTrainError}; runs every callback even if one throws. */
  async onTrainError(error: unknown, logs: Logs): Promise<void> {
    for (const c of this.callbacks) {
      // A plugin built on an older copy of `Callback` may lack this hook.
      if (typeof c.onTrainError !== "function") continue;
      try {
        await c.onTrainError(error, logs);
      } catch (e) {
        // The training error is the one to report; this one must not hide it.
        console.error(
          `${c.constructor.name}.onTrainError failed: ${e instanceof Error ? e.message : e}`,
        );
      }
    }
  }
  /** See {@linkcode Callback.onEpochBegin}. */
  async onEpochBegin(epoch: number, logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onEpochBegin(epoch, logs);
  }
  /** See {@linkcode Callback.onEpochEnd}. */
  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onEpochEnd(epoch, logs);
  }
  /** See {@linkcode Callback.onTrainBatchBegin}. */
  async onTrainBatchBegin(batch: number, logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onTrainBatchBegin(batch, logs);
  }
  /** See {@linkcode Callback.onTrainBatchEnd}. */
  async onTrainBatchEnd(batch: number, logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onTrainBatchEnd(batch, logs);
  }
  /** See {@linkcode Callback.onEvalBegin}. */
  async onEvalBegin(logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onEvalBegin(logs);
  }
  /** See {@linkcode Callback.onEvalEnd}. */
  async onEvalEnd(logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onEvalEnd(logs);
  }
  /** See {@linkcode Callback.onEvalBatchBegin}. */
  async onEvalBatchBegin(batch: number, logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onEvalBatchBegin(batch, logs);
  }
  /** See {@linkcode Callback.onEvalBatchEnd}. */
  async onEvalBatchEnd(batch: number, logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onEvalBatchEnd(batch, logs);
  }
  /** See {@linkcode Callback.onPredictBegin}. */
  async onPredictBegin(logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onPredictBegin(logs);
  }
  /** See {@linkcode Callback.onPredictEnd}. */
  async onPredictEnd(logs: Logs): Promise<void> {
    for (const c of this.callbacks) await c.onPredictEnd(logs);
  }
}
