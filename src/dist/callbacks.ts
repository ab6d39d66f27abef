/**
 * The callbacks that keep data-parallel ranks in step around `Model.fit`: {@linkcode DataParallel}
 * (first in the list) and {@linkcode StopTogether} (last).
 *
 * `DataParallel` broadcasts rank 0's weights and momentum when training begins (after a resume
 * loaded them), turns each rank's step, epoch and evaluation logs into those of the global batch
 * (so the callbacks after it — the scalar log, the progress bar, TerminateOnNaN — see the same
 * numbers on every rank), and, without synchronised BatchNorm, replaces the moving statistics by
 * their mean over the ranks before every evaluation, at each epoch end and when training ends,
 * so evaluation and checkpoints use one set.
 *
 * `StopTogether` makes stopping collective: a callback may set `model.stopTraining` on one rank
 * only (a signal arrives at one process first), and a rank that left the loop alone would leave
 * the others waiting in the next all-reduce. After every step the ranks agree (one all-reduce of
 * one number) and all stop when any asked to.
 *
 * @example
 * ```ts ignore
 * import { DataParallel, StopTogether } from "./callbacks.ts";
 * await model.fit(loader, evalLoader, {
 *   callbacks: [new DataParallel({ comm: mpi }), ...others, new StopTogether(mpi)],
 * });
 * ```
 *
 * @module
 */
import { Callback, type Logs } from "../train/callback.ts";
import type { Communicator } from "./mpi.ts";
import { averageVariables, broadcastVariables } from "./reduce.ts";

/** Options of {@linkcode DataParallel}. */
export interface DataParallelOptions {
  /** The ranks. */
  comm: Communicator;
  /** BatchNorm statistics are synchronised per step, so moving statistics need no averaging. */
  syncBN?: boolean;
}

/** Keeps ranks and their logs consistent; see the module documentation. */
export class DataParallel extends Callback {
  readonly #comm: Communicator;
  readonly #syncBN: boolean;
  #stepsSinceAverage = 0;
  #epochLoss = 0;
  #epochSeen = 0;
  #evalSeen = 0;
  #running: Logs = {};

  /**
   * Creates the callback.
   *
   * @param opts See {@linkcode DataParallelOptions}.
   */
  constructor(opts: DataParallelOptions) {
    super();
    this.#comm = opts.comm;
    this.#syncBN = opts.syncBN ?? false;
  }

  /** Gives every rank rank 0's weights, moving statistics and momentum. */
  override onTrainBegin(): void {
    const vars = this.model.net.variables();
    broadcastVariables(this.#comm, [
      ...vars.map((v) => v.variable),
      ...this.model.optimizer.buffers(vars).map((b) => b.variable),
    ]);
    this.#stepsSinceAverage = 0;
  }

  /** Starts the epoch's global sums. */
  override onEpochBegin(): void {
    this.#epochLoss = 0;
    this.#epochSeen = 0;
    this.#running = {};
  }

  /** Replaces the step's loss and running metrics by the global batch's. */
  override onTrainBatchEnd(_batch: number, logs: Logs): void {
    const metrics = this.params.metrics;
    const buf = new Float64Array([
      logs.loss * logs.batchSize,
      logs.batchSize,
      ...metrics.map((m) => Math.round(logs[m] * logs.samplesSeen)),
      logs.samplesSeen,
    ]);
    this.#comm.allreduceSum(buf);
    const [lossSum, batch] = buf;
    const seen = buf[2 + metrics.length];
    this.#epochLoss += lossSum;
    this.#epochSeen += batch;
    logs.loss = lossSum / batch;
    logs.batchSize = batch;
    logs.samplesSeen = seen;
    metrics.forEach((m, i) => logs[m] = buf[2 + i] / seen);
    this.#running = Object.fromEntries(metrics.map((m) => [m, logs[m]]));
    this.#stepsSinceAverage++;
  }

  /** Averages the moving statistics before they are used. */
  override onEvalBegin(): void {
    this.#averageMovingStatistics();
    this.#evalSeen = 0;
  }

  /** Counts this rank's evaluation examples. */
  override onEvalBatchEnd(_batch: number, logs: Logs): void {
    this.#evalSeen = logs.samplesSeen;
  }

  /** Replaces the evaluation's loss and metrics by those over every rank's examples. */
  override onEvalEnd(logs: Logs): void {
    const keys = ["loss", ...(this.params?.metrics ?? Object.keys(logs))].filter((k) =>
      k in logs && k !== "epoch"
    );
    const n = this.#evalSeen;
    const buf = new Float64Array([...keys.map((k) => n === 0 ? 0 : logs[k] * n), n]);
    this.#comm.allreduceSum(buf);
    const total = buf[keys.length];
    keys.forEach((k, i) => logs[k] = buf[i] / total);
  }

  /** Averages the moving statistics; puts the global epoch loss and metrics in `logs`. */
  override onEpochEnd(_epoch: number, logs: Logs): void {
    this.#averageMovingStatistics();
    if (this.#epochSeen > 0) {
      logs.loss = this.#epochLoss / this.#epochSeen;
      logs.samplesSeen = this.#epochSeen;
      Object.assign(logs, this.#running);
    }
  }

  /** Averages the moving statistics, for the checkpoint written after a stop. */
  override onTrainEnd(): void {
    this.#averageMovingStatistics();
  }

  #averageMovingStatistics(): void {
    if (this.#syncBN || this.#stepsSinceAverage === 0) return;
    const moving = this.model.net.variables().filter((v) => !v.trainable);
    averageVariables(this.#comm, moving.map((v) => v.variable));
    this.#stepsSinceAverage = 0;
  }
}

/** Stops every rank when any rank asks to stop; see the module documentation. */
export class StopTogether extends Callback {
  readonly #comm: Communicator;

  /**
   * Creates the callback; put it last in the list.
   *
   * @param comm The ranks.
   */
  constructor(comm: Communicator) {
    super();
    this.#comm = comm;
  }

  /** Agrees on `model.stopTraining` over the ranks. */
  override onTrainBatchEnd(): void {
    const flag = new Float64Array([this.model.stopTraining ? 1 : 0]);
    this.#comm.allreduceSum(flag);
    this.model.stopTraining = flag[0] > 0;
  }
}
