/**
 * The command-line side of data-parallel training (`src/dist/`): the `--distributed` and
 * `--sync-bn` flags, joining the MPI job once per process, and ending it with the process's
 * exit code (`MPI_Finalize` after success, `MPI_Abort` after a failure, so no rank is left
 * waiting for one that stopped).
 *
 * Ranks other than 0 print only errors: their `console.log` is silenced once they have said
 * which rank they are.
 *
 * @module
 */
import { DataParallelSession } from "../src/dist/session.ts";
import { MPIUnavailableError } from "../src/dist/mpi.ts";
import type { FlagSpec, FlagValues } from "./flags.ts";
import { UsageError } from "./flags.ts";

/** The flags of data-parallel training, shared by `train` and `demo`. */
export const DISTRIBUTED_FLAGS: readonly FlagSpec[] = Object.freeze([
  {
    name: "distributed",
    type: "string",
    choices: ["auto", "off"],
    default: "auto",
    help: "Data-parallel over MPI: auto = when started by mpirun/srun (one rank per process)",
  },
  {
    name: "sync-bn",
    type: "boolean",
    help: "With several ranks, BatchNorm statistics over the whole global batch",
  },
]);

let session: DataParallelSession | null = null;

/**
 * Joins the MPI job when this process was launched in one and `--distributed` is not `off`;
 * null otherwise. Throws {@linkcode UsageError} when launched by MPI but no MPI library loads.
 */
export function startDistributed(v: FlagValues): DataParallelSession | null {
  if (v.distributed === "off") return null;
  if (session !== null) return session;
  try {
    session = DataParallelSession.start({ syncBN: v["sync-bn"] === true });
  } catch (e) {
    if (e instanceof MPIUnavailableError) {
      throw new UsageError(`launched by MPI, but ${e.message} (or pass --distributed off)`);
    }
    throw e;
  }
  if (session === null && v["sync-bn"] === true) {
    console.error(
      "note: --sync-bn does nothing in a single process (not started by an MPI launcher)",
    );
  }
  if (session !== null && !session.leader) console.log = () => {};
  return session;
}

/** Ends the MPI job's part in this process, if it joined one (see the module documentation). */
export function endDistributed(exitCode: number): void {
  session?.finish(exitCode);
  session = null;
}
