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
 * On `webgpu` the train step is split: step k+1's forward and backward passes are queued before
 * step k's `onTrainBatchEnd` (so the device works while its values are read back), and its update
 * runs after its own `onTrainBatchBegin`; a stop drops the queued step (see `Model`).
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
 * ## What `logs` hold
 *
 * Each hook's documentation below lists its keys. Two kinds of number share a `logs` object: the
 * loss and the metrics (`loss`, `acc_top1`, …, and `eval_loss`, `eval_acc_top1`, … after an
 * evaluation), and counters (`step`, `epoch`, `batch`, `batchSize`, `samplesSeen`, `lr`). In
 * `onTrainBatchEnd`, `loss` is **that step's** loss while each metric is the **running mean**
 * over the epoch so far (the recipe's `train/loss` and `train/acc_top1`); in `onEpochEnd` both
 * are means over the epoch. {@linkcode Callback.metricValues} picks the loss and metrics out of
 * `logs` by name (the names are `params.metrics`), so a logger never filters counters by hand.
 *
 * ## Order of callbacks
 *
 * The order of the list is the order of the calls, and three rules follow from what the built-in
 * callbacks do in the same hook:
 * - `DeviceGuard` goes first: it throws as soon as the device failed, before any later callback
 *   (a checkpoint writer) acts on results the device never computed.
 * - The learning-rate scheduler goes before anything that saves (`ModelCheckpoint`,
 *   `GracefulStop`): it advances the schedule in `onTrainBatchEnd`, and a checkpoint written
 *   after that step must hold the advanced schedule. `Model.fit` puts its default `LRScheduler`
 *   at the start of the list.
 * - `GracefulStop` goes after the loggers and `ModelCheckpoint`: the step's log lines are
 *   written and the epoch's checkpoint exists before it decides whether to save and stop.
 *
 * `Model.fit` adds two defaults through {@linkcode CallbackListOptions.defaults}: an
 * `LRScheduler` at the start when no callback is one (so a warm-up schedule never silently stays
 * at rate 0; `addLRScheduler: false` turns that off for a callback of another class that steps
 * the schedule), and a `ProgressBar` at the end when `verbose` is above 0 and no callback is one.
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
import type { Network } from "../nn/network.ts";
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

/** Where a run stands: the next batch to train and the steps done. */
export interface ResumeState {
  /** Epoch of the next batch. */
  epoch: number;
  /** Index of the next batch within `epoch` (0 at an epoch boundary). */
  batch: number;
  /** Training steps done over the whole run. */
  globalStep: number;
}

/**
 * Why training stopped early, and the exit code a command-line program should end with (see
 * `src/train/errors.ts` for the codes).
 */
export interface StopReason {
  /** E.g. `"interrupted"`, `"non_finite"`. */
  kind: string;
  /** Exit status for a command-line program. */
  exitCode: number;
  /** One line for the user: what happened, the checkpoint to resume from, how. */
  message: string;
}

/**
 * What a callback sees of the model it is called for: `Model` is one. Declared here rather than
 * taken from `model.ts`, so that the callback interface does not depend on the loop that calls
 * it.
 */
export interface TrainingModel {
  /** The network. */
  readonly net: Network;
  /** The optimiser; its `schedule` holds the learning rate. */
  readonly optimizer: MomentumSGD;
  /** Metric names, in log order. */
  readonly metricNames: string[];
  /** The next batch `fit` would train and the steps done. */
  readonly position: ResumeState;
  /** Set to true to end `fit` after the current batch or epoch. */
  stopTraining: boolean;
  /** Training steps done over the whole run. */
  globalStep: number;
  /** Path of the checkpoint most recently written or loaded, if any. */
  lastCheckpoint: string | null;
  /** Global step of `lastCheckpoint` (null when there is none). */
  lastCheckpointStep: number | null;
  /** Why the last `fit` ended early, set by the callback that stopped it. */
  stopReason: StopReason | null;
  /** Writes a checkpoint folder at `dir` (see `Model.save`). */
  save(dir: string): Promise<void>;
}

/**
 * The loss and metric values in `logs`, by name, in log order: `loss`, then each of `metrics`,
 * each under `prefix` (e.g. `eval_`); names absent from `logs` are left out, and so are the
 * counters (`step`, `lr`, …).
 *
 * @example
 * ```ts
 * import { metricValues } from "./callback.ts";
 *
 * const logs = { loss: 0.5, acc_top1: 0.75, step: 12, lr: 0.01, eval_loss: 0.6 };
 * console.log(metricValues(logs, ["acc_top1"])); // { loss: 0.5, acc_top1: 0.75 }
 * console.log(metricValues(logs, ["acc_top1"], "eval_")); // { eval_loss: 0.6 }
 * ```
 */
export function metricValues(
  logs: Logs,
  metrics: readonly string[],
  prefix = "",
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of ["loss", ...metrics]) {
    const key = prefix + name;
    if (key in logs) out[key] = logs[key];
  }
  return out;
}

/** A hook's result: callbacks may be async. */
export type HookResult = void | Promise<void>;

/**
 * Base class of callbacks: every hook is a no-op, so a callback overrides only what it needs.
 * The loop sets {@linkcode Callback.model} and {@linkcode Callback.params} before training.
 */
export class Callback {
  /** The model being trained; set by the loop. */
  model!: TrainingModel;
  /**
   * The run's parameters; set by the loop before `onTrainBegin` (by `Model.evaluate` before
   * `onEvalBegin`, with `epochs` 0 and the evaluation's own `evalSteps` and `batchSize`).
   */
  params!: TrainParams;

  /** The model's optimiser (its `schedule` holds the learning rate). */
  get optimizer(): MomentumSGD {
    return this.model.optimizer;
  }

  /** Called by the loop; sets {@linkcode Callback.model}. */
  setModel(model: TrainingModel): void {
    this.model = model;
  }

  /**
   * The loss and metrics in `logs` (see {@linkcode metricValues}), named by `params.metrics`:
   * `{loss, acc_top1, acc_top5}` from batch or epoch logs, or with `prefix` `"eval_"` the
   * evaluation's values of an epoch's logs.
   */
  metricValues(logs: Logs, prefix = ""): Record<string, number> {
    return metricValues(logs, this.params.metrics, prefix);
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

/** A callback the list adds unless the given callbacks already hold one of its kind. */
export interface DefaultCallback {
  /** The kind: the default is left out when a given callback is an instance of this class. */
  // deno-lint-ignore no-explicit-any -- any constructor signature: only `instanceof` is used.
  kind: abstract new (...args: any[]) => Callback;
  /** Makes the default. */
  create: () => Callback;
  /** Before the given callbacks (`"start"`) or after them (`"end"`). */
  at: "start" | "end";
}

/** Options of {@linkcode CallbackList}. */
export interface CallbackListOptions {
  /** Callbacks added unless one of their kind is given (default none). */
  defaults?: readonly DefaultCallback[];
}

/**
 * Fans every hook out to a list of callbacks, in order, awaiting each. Defaults (the progress
 * bar, the learning-rate scheduler of `Model.fit`) are added by the list itself, as Keras's
 * `CallbackList` adds its progress bar, so the loop never names a callback.
 *
 * @example
 * ```ts
 * import { Callback, CallbackList } from "./callback.ts";
 *
 * class Quiet extends Callback {}
 * class Printer extends Callback {}
 * const list = new CallbackList([new Quiet()], {
 *   defaults: [{ kind: Printer, create: () => new Printer(), at: "end" }],
 * });
 * console.log(list.callbacks.map((c) => c.constructor.name)); // ["Quiet", "Printer"]
 * ```
 */
export class CallbackList {
  /** The callbacks, in call order (defaults included). */
  readonly callbacks: Callback[];

  /**
   * Creates the list; callbacks run in the given order, with the defaults that are missing at
   * the start or the end.
   *
   * @param callbacks Callbacks in call order.
   * @param opts See {@linkcode CallbackListOptions}.
   */
  constructor(callbacks: readonly Callback[] = [], opts: CallbackListOptions = {}) {
    const missing = (opts.defaults ?? []).filter((d) =>
      !callbacks.some((c) => c instanceof d.kind)
    );
    this.callbacks = [
      ...missing.filter((d) => d.at === "start").map((d) => d.create()),
      ...callbacks,
      ...missing.filter((d) => d.at === "end").map((d) => d.create()),
    ];
  }

  /** Sets the model on every callback. */
  setModel(model: TrainingModel): void {
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
