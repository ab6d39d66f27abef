/**
 * Whether this process was started by an MPI launcher, and as which rank of how many: read from
 * the variables the launchers set, before any MPI call, so that a plain `deno task train` never
 * loads an MPI library and the thread count per rank can be settled before the backend starts.
 *
 * Launchers and what they set: Open MPI's `mpirun` (`OMPI_COMM_WORLD_SIZE`, `…_RANK`,
 * `…_LOCAL_SIZE`); MPICH's Hydra and Intel MPI (`PMI_SIZE`, `PMI_RANK`; `MPI_LOCALNRANKS`); PMIx
 * launchers such as Slurm's `srun --mpi=pmix` and Open MPI 5 (`PMIX_RANK`, with the size from
 * `OMPI_COMM_WORLD_SIZE` or Slurm's `SLURM_NTASKS`); MVAPICH (`MV2_COMM_WORLD_SIZE`, `…_RANK`).
 * Slurm's own variables alone (an `sbatch` script without `srun`) do not count: every line of a
 * batch script runs once, in one process.
 *
 * @example
 * ```ts
 * import { detectLaunch } from "./environment.ts";
 * const launch = detectLaunch({ OMPI_COMM_WORLD_SIZE: "2", OMPI_COMM_WORLD_RANK: "1" });
 * launch?.rank; // 1
 * ```
 *
 * @module
 */

/** What the launcher told this process. */
export interface Launch {
  /** Processes in the job. */
  size: number;
  /** This process's rank. */
  rank: number;
  /** Processes of the job on this host (undefined when the launcher does not say). */
  localSize?: number;
  /** The variable the size was read from, e.g. `OMPI_COMM_WORLD_SIZE`. */
  source: string;
}

const SIZE_RANK: readonly [string, string, string | undefined][] = [
  ["OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"],
  ["PMI_SIZE", "PMI_RANK", "MPI_LOCALNRANKS"],
  ["MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"],
  ["SLURM_NTASKS", "PMIX_RANK", "SLURM_NTASKS_PER_NODE"],
];

function count(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/**
 * The launch this environment describes, or null when no MPI launcher started the process.
 * Throws when the variables contradict each other (a rank outside the size).
 *
 * @param env The environment (default: this process's).
 */
export function detectLaunch(env: Record<string, string> = Deno.env.toObject()): Launch | null {
  for (const [sizeVar, rankVar, localVar] of SIZE_RANK) {
    const size = count(env[sizeVar]);
    const rank = count(env[rankVar]);
    if (size === undefined || rank === undefined) continue;
    if (size < 1 || rank >= size) {
      throw new Error(`MPI environment: ${rankVar}=${rank} but ${sizeVar}=${size}`);
    }
    const localSize = localVar === undefined ? undefined : count(env[localVar]);
    return { size, rank, localSize, source: sizeVar };
  }
  return null;
}
