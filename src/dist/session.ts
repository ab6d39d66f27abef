/**
 * Data-parallel training over MPI, wired around a {@linkcode Model}: one object per process that
 * opens MPI, says which rank this is, shards the data, averages the gradients through the
 * optimiser's `gradientHook`, synchronises BatchNorm through `BatchNorm.syncMoments` when asked,
 * provides the callbacks that keep the ranks in step, and ends the job: `MPI_Finalize` after a
 * clean run on every rank, `MPI_Abort` (every process of the job ends) when this rank fails, so
 * that no rank waits forever in a collective for one that is gone.
 *
 * Rank 0 is the leader: only it writes checkpoints, logs and the progress bar (the caller
 * decides that with {@linkcode DataParallelSession.leader}); the others print only errors.
 *
 * @example
 * ```ts ignore
 * import { DataParallelSession } from "./session.ts";
 * const dist = DataParallelSession.start({ syncBN: true }); // null when not launched by MPI
 * const loader = dist ? dist.loader(trainSet, { batchSize: 512 }) : new DataLoader(trainSet, { batchSize: 512 });
 * const { first, last } = dist!.attach(model);
 * await model.fit(loader, undefined, { callbacks: [first, ...others, last] });
 * dist?.finish(0);
 * ```
 *
 * @module
 */
import type { Dataset } from "../data/dataset.ts";
import { BatchNorm } from "../nn/layers.ts";
import type { Callback } from "../train/callback.ts";
import type { DataLoaderOptions } from "../train/loader.ts";
import type { Model } from "../train/model.ts";
import { DataParallel, StopTogether } from "./callbacks.ts";
import { detectLaunch, type Launch } from "./environment.ts";
import { type MPI, openMPI } from "./mpi.ts";
import { averagingHook } from "./reduce.ts";
import { ShardedLoader, ShardState } from "./shard.ts";
import { syncedMoments } from "./sync_bn.ts";

/** Options of {@linkcode DataParallelSession.start}. */
export interface SessionOptions {
  /** Synchronise BatchNorm's batch statistics over the ranks (default false). */
  syncBN?: boolean;
  /** The launch to join (default: {@linkcode detectLaunch} of this process's environment). */
  launch?: Launch | null;
  /** The MPI library (default: {@linkcode openMPI}). */
  mpi?: MPI;
  /** Where the "rank r of n" line goes (default `console.log`). */
  log?: (line: string) => void;
}

/** One process of a data-parallel job; see the module documentation. */
export class DataParallelSession {
  /** The MPI library. */
  readonly mpi: MPI;
  /** Whether BatchNorm statistics are synchronised. */
  readonly syncBN: boolean;
  /** The current batch's shard sizes, written by the loaders, read by the reductions. */
  readonly state: ShardState = new ShardState();
  #done = false;

  private constructor(mpi: MPI, syncBN: boolean) {
    this.mpi = mpi;
    this.syncBN = syncBN;
  }

  /**
   * Joins the MPI job this process was launched in, or resolves to null when no MPI launcher
   * started it. Prints "rank r of n" once. Before MPI starts, sets `OMP_NUM_THREADS` (when
   * unset) to this host's cores divided by its ranks, so the ranks on one host do not fight over
   * the cores; call it before the compute backend starts.
   */
  static start(opts: SessionOptions = {}): DataParallelSession | null {
    const launch = opts.launch !== undefined ? opts.launch : detectLaunch();
    if (launch === null) return null;
    if (Deno.env.get("OMP_NUM_THREADS") === undefined) {
      const cores = navigator.hardwareConcurrency;
      const local = launch.localSize ?? 1;
      Deno.env.set("OMP_NUM_THREADS", String(Math.max(1, Math.floor(cores / local))));
    }
    const mpi = opts.mpi ?? openMPI();
    mpi.init();
    const session = new DataParallelSession(mpi, opts.syncBN ?? false);
    (opts.log ?? console.log)(
      `rank ${mpi.rank} of ${mpi.size} (pid ${Deno.pid}, ` +
        `${mpi.flavour === "openmpi" ? "Open MPI" : "MPICH"}, ` +
        `${mpi.library}, ${Deno.env.get("OMP_NUM_THREADS")} thread(s) per rank` +
        `${session.syncBN ? ", synchronised BatchNorm" : ""})`,
    );
    return session;
  }

  /** This process's rank. */
  get rank(): number {
    return this.mpi.rank;
  }

  /** Number of processes. */
  get size(): number {
    return this.mpi.size;
  }

  /** Whether this is rank 0, the one that writes files and prints progress. */
  get leader(): boolean {
    return this.mpi.rank === 0;
  }

  /** A loader of this rank's shard of every global batch of `opts.batchSize` examples. */
  loader(ds: Dataset, opts: DataLoaderOptions): ShardedLoader {
    return new ShardedLoader(ds, { ...opts, rank: this.rank, size: this.size, state: this.state });
  }

  /**
   * Hooks the gradient average into `model`'s optimiser (and, with `syncBN`, the synchronised
   * statistics into BatchNorm) and returns the callbacks to put first and last in the list.
   */
  attach(model: Model): { first: Callback; last: Callback } {
    model.optimizer.gradientHook = averagingHook(this.mpi, this.state);
    if (this.syncBN) BatchNorm.syncMoments = syncedMoments(this.mpi, this.state);
    return {
      first: new DataParallel({ comm: this.mpi, syncBN: this.syncBN }),
      last: new StopTogether(this.mpi),
    };
  }

  /**
   * Ends this process's part of the job. Exit code 0: waits for every rank, then
   * `MPI_Finalize`. Otherwise prints `message` naming this rank and calls `MPI_Abort` with the
   * code, which ends every process of the job (the launcher reports a non-zero exit).
   */
  finish(exitCode: number, message?: string): void {
    if (this.#done) return;
    this.#done = true;
    BatchNorm.syncMoments = null;
    if (exitCode === 0) {
      this.mpi.barrier();
      this.mpi.finalize();
      return;
    }
    console.error(
      `error: rank ${this.rank} of ${this.size} ends the job (exit code ${exitCode})` +
        (message ? `: ${message}` : ""),
    );
    this.mpi.abort(exitCode);
  }
}
