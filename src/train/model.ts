/**
 * `Model`: a network with an optimiser, a loss and metrics, and the training loop around them.
 *
 * The loop reads as the sequence of callback hooks documented in `callback.ts`. Each training
 * step runs under `tf.tidy`: the loss of `net.apply(x, true)` (BatchNorm on batch statistics)
 * is differentiated with `variableGradsFreeing` (`tf.variableGrads`'s numbers, freeing
 * activations as backpropagation passes them); then the optimiser updates the variables and
 * the moving statistics are assigned, and the step's loss and metric counts come back with one
 * `data()` call. On `webgpu` the read-back lags one step: step k+1's forward and backward
 * passes are queued before step k's values are read, so the device never idles on a read-back;
 * step k+1's update still waits for step k's `onTrainBatchEnd` and its own
 * `onTrainBatchBegin` (which sets its learning rate), and a stop requested by a callback drops
 * the queued step without trace. Every step's values reach the callbacks, in order, before the
 * epoch ends.
 * Evaluation and prediction run `net.apply(x, false)` (BatchNorm on moving statistics).
 *
 * `fit` adds two default callbacks (see `CallbackList`): an `LRScheduler` when none is given, so
 * the optimiser's schedule moves by the recipe's rule, and a `ProgressBar` when `verbose > 0`.
 *
 * A checkpoint written by {@linkcode Model.save} is a folder (see `checkpoint_format.ts`) with the
 * weights, the momentum buffers and the schedule state; `fit(..., { resumeFrom })` restores all
 * of it and continues with the same step count, schedule position, momentum and data order.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { Model } from "./model.ts";
 * import { MomentumSGD } from "./optimizer.ts";
 * import { warmupCosine } from "./schedules.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 * import { syntheticDataset } from "../data/synthetic.ts";
 *
 * const data = syntheticDataset({ length: 8, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare({
 *   optimizer: new MomentumSGD({ schedule: warmupCosine({ lr: 0.01, warmupSteps: 2, epochs: 2 }) }),
 *   metrics: ["acc_top1"],
 * });
 * const history = await model.fit(data, data, { epochs: 2, batchSize: 4, verbose: 0 });
 * console.log(history.length, model.globalStep); // 2 4
 * model.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Tensor, Tensor4D } from "../tensor_types.ts";
import type { Dataset } from "../data/dataset.ts";
import type { Network } from "../nn/network.ts";
import { BatchNorm } from "../nn/layers.ts";
import { formatSummary } from "../nn/summary.ts";
import {
  type Callback,
  CallbackList,
  type Logs,
  type ResumeState,
  type StopReason,
  type TrainingModel,
  type TrainParams,
} from "./callback.ts";
import { readTrainingCheckpoint, writeTrainingCheckpoint } from "./checkpoint_format.ts";
import "./gradients.ts";
import { DataLoader } from "./loader.ts";
import { variableGradsFreeing } from "./backprop.ts";
import { type LossFn, resolveLoss } from "./losses.ts";
import { LRScheduler } from "./lr_scheduler.ts";
import { type Metric, resolveMetric } from "./metrics.ts";
import { MomentumSGD } from "./optimizer.ts";
import { ProgressBar } from "./progress_bar.ts";

export type { ResumeState, StopReason } from "./callback.ts";
export { CHECKPOINT_FILES } from "./checkpoint_format.ts";

/** Options of {@linkcode Model.prepare}. */
export interface PrepareOptions {
  /** The optimiser (default: `new MomentumSGD()`, the recipe's with a constant 0.001 rate). */
  optimizer?: MomentumSGD;
  /** Loss name or function (default `"softmax_cross_entropy"`). */
  loss?: string | LossFn;
  /** Metric names or objects (default `["acc_top1", "acc_top5"]`). */
  metrics?: (string | Metric)[];
}

/** Options of {@linkcode Model.fit}. */
export interface FitOptions {
  /** Epoch to stop before (default 1). */
  epochs?: number;
  /** Batch size when `train`/`eval` are datasets (default 32; the recipe uses 512). */
  batchSize?: number;
  /** Batch size of evaluation when `eval` is a dataset (default `batchSize`). */
  evalBatchSize?: number;
  /** Shuffle the training set every epoch, when it is a dataset (default true). */
  shuffle?: boolean;
  /** Drop the last partial training batch, when it is a dataset (default false). */
  dropLast?: boolean;
  /** Shuffle seed, when `train` is a dataset (default 0). */
  seed?: number;
  /** Evaluate after every `evalFreq`-th epoch, i.e. when `(epoch + 1) % evalFreq === 0` (default 1). */
  evalFreq?: number;
  /**
   * Callbacks, called in this order (default none). An `LRScheduler` is put first unless one
   * (or an instance of a subclass) is given: the schedule then moves by the recipe's rule.
   */
  callbacks?: Callback[];
  /**
   * Whether to add the default `LRScheduler` when `callbacks` holds none (default true). Set it
   * to false when a callback of another class steps the schedule, so it is not stepped twice.
   */
  addLRScheduler?: boolean;
  /**
   * 0: silent; 1: progress bar (plain lines when not a terminal); 2: one line per epoch
   * (default 1). A `ProgressBar` is added at the end unless `callbacks` already holds one.
   */
  verbose?: 0 | 1 | 2;
  /** First epoch to train (default 0); ignored with `resumeFrom`. */
  initialEpoch?: number;
  /** Checkpoint folder to restore and continue from (weights, momentum, schedule, position). */
  resumeFrom?: string;
}

/** Options of {@linkcode Model.evaluate} and {@linkcode Model.predict}. */
export interface RunOptions {
  /** Batch size when the input is a dataset or tensor (default 32). */
  batchSize?: number;
  /** Callbacks (default none). */
  callbacks?: Callback[];
}

/** A network with its training setup; see the module documentation. */
export class Model implements TrainingModel {
  /** The network. */
  readonly net: Network;
  /** Set to true (e.g. from a callback) to end `fit` after the current batch or epoch. */
  stopTraining = false;
  /** Training steps done over the whole run (restored from checkpoints). */
  globalStep = 0;
  /** Path of the checkpoint most recently written or loaded, if any. */
  lastCheckpoint: string | null = null;
  /** Global step of {@linkcode Model.lastCheckpoint} (null when there is none). */
  lastCheckpointStep: number | null = null;
  /**
   * Why the last `fit` ended early, set by the callback that stopped it (e.g. `GracefulStop`,
   * `TerminateOnNaN`); null when it ran to its last epoch or was stopped without a reason.
   * `fit` clears it when it starts.
   */
  stopReason: StopReason | null = null;
  #optimizer: MomentumSGD | null = null;
  #loss: LossFn | null = null;
  #metrics: Metric[] = [];
  #position = { epoch: 0, batch: 0 };

  /**
   * Wraps `net`; call {@linkcode Model.prepare} before training.
   *
   * @param net The network to train.
   */
  constructor(net: Network) {
    this.net = net;
  }

  /** Sets the optimiser, loss and metrics; see {@linkcode PrepareOptions} for defaults. */
  prepare(opts: PrepareOptions = {}): void {
    const metrics = (opts.metrics ?? ["acc_top1", "acc_top5"]).map(resolveMetric);
    const names = metrics.map((m) => m.name);
    const clash = names.find((n, i) => names.indexOf(n) !== i || n === "loss");
    if (clash !== undefined) throw new Error(`Model.prepare: metric name "${clash}" is not unique`);
    this.#optimizer = opts.optimizer ?? new MomentumSGD();
    this.#loss = resolveLoss(opts.loss ?? "softmax_cross_entropy");
    this.#metrics = metrics;
  }

  /** The optimiser; throws before {@linkcode Model.prepare}. */
  get optimizer(): MomentumSGD {
    if (this.#optimizer === null) {
      throw new Error("Model: call prepare() before using the optimiser");
    }
    return this.#optimizer;
  }

  /** Metric names, in log order. */
  get metricNames(): string[] {
    return this.#metrics.map((m) => m.name);
  }

  /** The next batch `fit` would train and the steps done. */
  get position(): ResumeState {
    return { ...this.#position, globalStep: this.globalStep };
  }

  /**
   * Trains on `train` (a dataset or a loader), evaluating on `evalData` after every
   * `evalFreq`-th epoch. Resolves to the logs of each epoch that ran; when a callback stopped
   * it early, {@linkcode Model.stopReason} may say why. An error after training began is
   * rethrown after every callback's `onTrainError`; {@linkcode Model.lastCheckpoint} is then the
   * last complete checkpoint (see `describeFailure` in `errors.ts` for a message).
   */
  async fit(
    train: Dataset | DataLoader,
    evalData?: Dataset | DataLoader,
    opts: FitOptions = {},
  ): Promise<Logs[]> {
    if (this.#optimizer === null) throw new Error("Model: call prepare() before fit()");
    const { epochs = 1, batchSize = 32, evalFreq = 1, verbose = 1 } = opts;
    if (!Number.isInteger(evalFreq) || evalFreq < 1) {
      throw new Error(`Model.fit: evalFreq must be an integer >= 1, got ${evalFreq}`);
    }
    const loader = train instanceof DataLoader ? train : new DataLoader(train, {
      batchSize,
      shuffle: opts.shuffle ?? true,
      dropLast: opts.dropLast ?? false,
      seed: opts.seed ?? 0,
      training: true,
    });
    const evalLoader = evalData === undefined ? null : toEvalLoader(
      evalData,
      opts.evalBatchSize ?? batchSize,
    );
    let initialEpoch = opts.initialEpoch ?? 0;
    let startBatch = 0;
    if (opts.resumeFrom !== undefined) {
      const state = await this.load(opts.resumeFrom);
      initialEpoch = state.epoch;
      startBatch = state.batch;
    }
    if (!Number.isInteger(epochs) || !Number.isInteger(initialEpoch) || initialEpoch < 0) {
      throw new Error(
        `Model.fit: epochs (${epochs}) and initialEpoch (${initialEpoch}) must be integers >= 0`,
      );
    }
    this.#position = { epoch: initialEpoch, batch: startBatch };

    const callbacks = new CallbackList(opts.callbacks ?? [], {
      defaults: [
        ...(opts.addLRScheduler ?? true
          ? [{ kind: LRScheduler, create: () => new LRScheduler(), at: "start" as const }]
          : []),
        ...(verbose > 0
          ? [{
            kind: ProgressBar,
            create: () => new ProgressBar({ mode: verbose === 2 ? "epoch" : "auto" }),
            at: "end" as const,
          }]
          : []),
      ],
    });
    const params: TrainParams = {
      epochs,
      initialEpoch,
      stepsPerEpoch: loader.stepsPerEpoch,
      batchSize: loader.batchSize,
      samples: loader.samplesPerEpoch,
      evalSteps: evalLoader?.stepsPerEpoch ?? 0,
      evalFreq,
      metrics: this.metricNames,
      verbose,
    };
    callbacks.setModel(this);
    callbacks.setParams(params);
    this.stopTraining = false;
    this.stopReason = null;

    const history: Logs[] = [];
    try {
      await callbacks.onTrainBegin({ step: this.globalStep });
      await this.#epochs(loader, evalLoader, callbacks, params, startBatch, history);
      await callbacks.onTrainEnd(history.at(-1) ?? { step: this.globalStep });
    } catch (err) {
      await callbacks.onTrainError(err, { step: this.globalStep });
      throw err;
    }
    return history;
  }

  /** The epoch loop of `fit`: trains, evaluates, and records each epoch's logs in `history`. */
  async #epochs(
    loader: DataLoader,
    evalLoader: DataLoader | null,
    callbacks: CallbackList,
    { initialEpoch, epochs, evalFreq }: TrainParams,
    startBatch: number,
    history: Logs[],
  ): Promise<void> {
    const optimizer = this.optimizer;
    for (let epoch = initialEpoch; epoch < epochs; epoch++) {
      const first = epoch === initialEpoch ? startBatch : 0;
      await callbacks.onEpochBegin(epoch, {
        epoch,
        step: this.globalStep,
        lr: optimizer.lr,
        batch: first,
      });
      const sums = new Float64Array(1 + this.#metrics.length);
      let seen = 0;
      let lr = optimizer.lr;
      let completed = true;
      // On webgpu the next step is queued before this one's values are read back, so the device
      // works while the loop waits; its update waits for the callbacks (see #queueStep).
      const lag = tf.getBackend() === "webgpu";
      const batches = loader.batches(epoch, first)[Symbol.asyncIterator]();
      let queued: QueuedStep | null = null;
      try {
        let item = await batches.next();
        while (!item.done) {
          const { size, index } = item.value;
          await callbacks.onTrainBatchBegin(index, {
            batch: index,
            batchSize: size,
            epoch,
            lr: optimizer.lr,
          });
          lr = optimizer.lr;
          const step: QueuedStep = queued ?? this.#queueStep(item.value);
          queued = null;
          this.#commitStep(step);
          const following = lag ? await batches.next() : null;
          if (following !== null && !following.done) queued = this.#queueStep(following.value);
          const values = await readStep(step);
          this.globalStep++;
          this.#position = { epoch, batch: index + 1 };
          seen += size;
          sums[0] += values[0] * size;
          const logs: Logs = { loss: values[0] };
          this.#metrics.forEach((m, i) => {
            sums[i + 1] += values[i + 1];
            logs[m.name] = sums[i + 1] / seen;
          });
          Object.assign(logs, {
            lr,
            step: this.globalStep,
            epoch,
            batch: index,
            batchSize: size,
            samplesSeen: seen,
          });
          await callbacks.onTrainBatchEnd(index, logs);
          if (this.stopTraining) {
            completed = index + 1 === loader.stepsPerEpoch;
            break;
          }
          item = following ?? await batches.next();
        }
      } finally {
        // A step queued ahead of a stop (or an error) is dropped: it changed no variable.
        if (queued !== null) dropStep(queued);
        await batches.return?.();
      }
      if (completed) this.#position = { epoch: epoch + 1, batch: 0 };
      const epochLogs: Logs = { loss: seen > 0 ? sums[0] / seen : NaN };
      this.#metrics.forEach((m, i) => epochLogs[m.name] = seen > 0 ? sums[i + 1] / seen : NaN);
      Object.assign(epochLogs, { lr, step: this.globalStep, epoch, samplesSeen: seen });
      if (completed && evalLoader !== null && (epoch + 1) % evalFreq === 0) {
        const ev = await this.#evalLoop(evalLoader, callbacks, epoch);
        for (const [k, v] of Object.entries(ev)) {
          if (k !== "epoch") epochLogs[`eval_${k}`] = v;
        }
      }
      await callbacks.onEpochEnd(epoch, epochLogs);
      history.push(epochLogs);
      if (this.stopTraining) break;
    }
  }

  /** Loss and metrics over the whole of `data` (BatchNorm on moving statistics). */
  async evaluate(data: Dataset | DataLoader, opts: RunOptions = {}): Promise<Logs> {
    if (this.#loss === null) throw new Error("Model: call prepare() before evaluate()");
    const loader = toEvalLoader(data, opts.batchSize ?? 32);
    const callbacks = new CallbackList(opts.callbacks ?? []);
    callbacks.setModel(this);
    callbacks.setParams({
      epochs: 0,
      initialEpoch: 0,
      stepsPerEpoch: 0,
      batchSize: loader.batchSize,
      samples: 0,
      evalSteps: loader.stepsPerEpoch,
      evalFreq: 1,
      metrics: this.metricNames,
      verbose: 0,
    });
    return await this.#evalLoop(loader, callbacks, null);
  }

  /**
   * Network outputs for every example of `data`, in order, concatenated along the batch axis
   * (logits `(N, classes)`, or score maps for larger inputs). The caller disposes the result.
   */
  async predict(
    data: Dataset | DataLoader | Tensor4D,
    opts: RunOptions = {},
  ): Promise<Tensor> {
    const callbacks = new CallbackList(opts.callbacks ?? []);
    callbacks.setModel(this);
    const batchSize = opts.batchSize ?? 32;
    await callbacks.onPredictBegin({});
    const outs: tf.Tensor[] = [];
    try {
      if (data instanceof tf.Tensor) {
        for (let i = 0; i < data.shape[0]; i += batchSize) {
          const n = Math.min(batchSize, data.shape[0] - i);
          outs.push(
            tf.tidy(() => this.net.apply(tf.slice(data, [i, 0, 0, 0], [n, -1, -1, -1]), false)),
          );
        }
      } else {
        for await (const { images, labels } of toEvalLoader(data, batchSize).batches(0)) {
          outs.push(tf.tidy(() => this.net.apply(images, false)));
          images.dispose();
          labels.dispose();
        }
      }
      const result = outs.length === 1 ? outs[0] : tf.concat(outs, 0);
      const samples = result.shape[0];
      await callbacks.onPredictEnd({ samples });
      return result;
    } finally {
      if (outs.length > 1) tf.dispose(outs);
    }
  }

  /**
   * Writes a checkpoint folder at `dir` (replacing an old one atomically; see
   * `checkpoint_format.ts`): weights, optimiser state when prepared, and the resume position.
   * Sets {@linkcode Model.lastCheckpoint}.
   */
  async save(dir: string): Promise<void> {
    await writeTrainingCheckpoint(dir, {
      net: this.net,
      optimizer: this.#optimizer,
      globalStep: this.globalStep,
      position: { ...this.#position },
    });
    this.lastCheckpoint = dir;
    this.lastCheckpointStep = this.globalStep;
  }

  /**
   * Restores a checkpoint folder written by {@linkcode Model.save}, verified against its
   * manifest: weights always; momentum and schedule state when the model is prepared (both must
   * be present then); the step count and position. A weights file (told by content, see
   * `readWeights`) loads weights only. Resolves to the position. Throws naming the file and the
   * problem; after a throw the model may be partly restored.
   */
  async load(path: string): Promise<ResumeState> {
    const state = await readTrainingCheckpoint(path, {
      net: this.net,
      optimizer: this.#optimizer,
    });
    if (state === null) return this.position;
    this.globalStep = state.globalStep;
    this.#position = { ...state.position };
    this.lastCheckpoint = path;
    this.lastCheckpointStep = state.globalStep;
    return this.position;
  }

  /** Keras-like summary (layers, output shapes, parameter totals) for inputs of side `inputSize`. */
  summary(inputSize = 32): string {
    return formatSummary(this.net, inputSize);
  }

  /** Frees the network and the optimiser's buffers. */
  dispose(): void {
    this.#optimizer?.dispose();
    this.net.dispose();
  }

  /**
   * Queues one training step's forward and backward passes: the loss and metric counts and the
   * gradients stay on the device, and BatchNorm's new moving statistics are held back
   * (`BatchNorm.deferMoving`), so the step changes no variable until {@linkcode Model.#commitStep}.
   * Disposes the batch.
   */
  #queueStep(batch: { images: tf.Tensor4D; labels: tf.Tensor1D }): QueuedStep {
    const { images, labels } = batch;
    const trainable = this.net.variables().filter((v) => v.trainable).map((v) => v.variable);
    const lossFn = this.#loss!;
    const moving: QueuedStep["moving"] = [];
    const previous = BatchNorm.deferMoving;
    BatchNorm.deferMoving = (variable, value) => moving.push({ variable, value });
    try {
      const { packed, grads } = tf.tidy(() => {
        let counts: tf.Scalar[] = [];
        const { value, grads } = variableGradsFreeing(() => {
          const logits = asLogits(this.net.apply(images, true));
          // Kept past the gradient's inner scope; disposed right after stacking below.
          counts = this.#metrics.map((m) => tf.keep(m.correct(logits, labels)));
          return lossFn(logits, labels);
        }, trainable);
        const out = tf.stack([value, ...counts]);
        tf.dispose(counts);
        return { packed: out, grads };
      });
      return { packed, grads, moving };
    } catch (err) {
      tf.dispose(moving.map((m) => m.value));
      throw err;
    } finally {
      BatchNorm.deferMoving = previous;
      images.dispose();
      labels.dispose();
    }
  }

  /** Applies a queued step: the optimiser's update (at its current rate), the moving statistics. */
  #commitStep(step: QueuedStep): void {
    try {
      tf.tidy(() => {
        this.optimizer.applyGradients(this.net.variables(), step.grads);
        for (const { variable, value } of step.moving) variable.assign(value);
      });
    } finally {
      tf.dispose([...Object.values(step.grads), ...step.moving.map((m) => m.value)]);
      step.grads = {};
      step.moving = [];
    }
  }

  async #evalLoop(
    loader: DataLoader,
    callbacks: CallbackList,
    epoch: number | null,
  ): Promise<Logs> {
    const lossFn = this.#loss!;
    await callbacks.onEvalBegin(epoch === null ? {} : { epoch });
    const sums = new Float64Array(1 + this.#metrics.length);
    let seen = 0;
    const running = (): Logs => {
      const logs: Logs = { loss: sums[0] / seen };
      this.#metrics.forEach((m, i) => logs[m.name] = sums[i + 1] / seen);
      return logs;
    };
    for await (const { images, labels, size, index } of loader.batches(0)) {
      let values: Float32Array;
      try {
        await callbacks.onEvalBatchBegin(index, { batch: index, batchSize: size });
        const packed = tf.tidy(() => {
          const logits = asLogits(this.net.apply(images, false));
          return tf.stack([
            lossFn(logits, labels),
            ...this.#metrics.map((m) => m.correct(logits, labels)),
          ]);
        });
        values = await packed.data() as Float32Array;
        packed.dispose();
      } finally {
        images.dispose();
        labels.dispose();
      }
      seen += size;
      sums[0] += values[0] * size;
      for (let i = 1; i < sums.length; i++) sums[i] += values[i];
      await callbacks.onEvalBatchEnd(index, {
        ...running(),
        batch: index,
        batchSize: size,
        samplesSeen: seen,
      });
    }
    const logs = running();
    if (epoch !== null) logs.epoch = epoch;
    await callbacks.onEvalEnd(logs);
    return logs;
  }
}

/** A training step whose update and read-back are still to come. */
interface QueuedStep {
  /** `[loss, correct count of each metric]`, on the device. */
  packed: tf.Tensor;
  /** Gradients by TensorFlow.js variable name. */
  grads: tf.NamedTensorMap;
  /** BatchNorm's new moving statistics, assigned when the step is committed. */
  moving: { variable: tf.Variable; value: tf.Tensor }[];
}

/** A committed step's loss and metric counts, read back; frees them on the device. */
async function readStep(step: QueuedStep): Promise<Float32Array> {
  try {
    return await step.packed.data() as Float32Array;
  } finally {
    step.packed.dispose();
  }
}

/** Frees a step that will not be committed. */
function dropStep(step: QueuedStep): void {
  tf.dispose([step.packed, ...Object.values(step.grads), ...step.moving.map((m) => m.value)]);
}

function toEvalLoader(data: Dataset | DataLoader, batchSize: number): DataLoader {
  return data instanceof DataLoader
    ? data
    : new DataLoader(data, { batchSize, shuffle: false, dropLast: false, training: false });
}

/** `(N, classes)` logits from a network output: 2-D as is, `(N, 1, 1, C)` reshaped. */
function asLogits(out: tf.Tensor): tf.Tensor2D {
  if (out.rank === 2) return out as tf.Tensor2D;
  if (out.rank === 4 && out.shape[1] === 1 && out.shape[2] === 1) {
    return tf.reshape(out, [out.shape[0], out.shape[3]!]);
  }
  throw new Error(
    `Model: training and evaluation need (N, classes) logits, but the network gave shape ` +
      `[${out.shape}]; use an input size whose output map is 1×1 (e.g. 32×32)`,
  );
}
