/**
 * The few MPI calls data-parallel training needs, through Deno's FFI against the system's MPI
 * library: `MPI_Init_thread`, `MPI_Comm_rank`/`MPI_Comm_size`, `MPI_Allreduce`, `MPI_Bcast`,
 * `MPI_Barrier`, `MPI_Abort` and `MPI_Finalize` on `MPI_COMM_WORLD`, float32 and float64 sums.
 *
 * The C ABI of these calls is standard, but the handles are not: Open MPI's `MPI_COMM_WORLD`,
 * `MPI_FLOAT` and `MPI_SUM` are the addresses of global objects (`ompi_mpi_comm_world`,
 * `ompi_mpi_float`, `ompi_mpi_op_sum`), read here as the library's statics; MPICH and its
 * derivatives (Intel MPI, MVAPICH, Cray MPICH) use fixed integer handles. Which one was opened
 * is told by whether `ompi_mpi_comm_world` exists in it.
 *
 * Every call that fails throws naming the call and the MPI error code; with the default error
 * handler (`MPI_ERRORS_ARE_FATAL`) MPI itself ends the job first.
 *
 * @example
 * ```ts ignore
 * import { openMPI } from "./mpi.ts";
 * const mpi = openMPI();
 * mpi.init();
 * const sums = new Float32Array([mpi.rank]);
 * mpi.allreduceSum(sums); // sums[0] = 0 + 1 + … + (size − 1)
 * mpi.finalize();
 * ```
 *
 * @module
 */

/** Which MPI implementation a library is. */
export type MPIFlavour = "openmpi" | "mpich";

/** Library names tried in order when `TRAINER_MPI_LIB` is not set. */
export const MPI_LIBRARY_CANDIDATES: readonly string[] = Object.freeze([
  "libmpi.so.40", // Open MPI 3, 4, 5 (Debian's libopenmpi3)
  "libmpi.so.12", // MPICH 3, 4 and its ABI-compatible derivatives
  "libmpi.so",
  "libmpich.so.12",
  "libmpi.dylib",
]);

// MPI_THREAD_FUNNELED: only the main thread makes MPI calls (same value in every MPI).
const THREAD_FUNNELED = 1;

// MPICH's integer handles (mpi.h of MPICH 3 and 4, unchanged in its derivatives).
const MPICH = { commWorld: 0x44000000, float: 0x4c00040a, double: 0x4c00080b, sum: 0x58000003 };

const COMMON = {
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Finalized: { parameters: ["buffer"], result: "i32" },
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
} as const;

function symbolsFor(handle: "pointer" | "i32") {
  return {
    ...COMMON,
    MPI_Comm_rank: { parameters: [handle, "buffer"], result: "i32" },
    MPI_Comm_size: { parameters: [handle, "buffer"], result: "i32" },
    // MPI_IN_PLACE is (void*)1 in Open MPI and (void*)-1 in MPICH: passed as a pointer value.
    MPI_Allreduce: {
      parameters: ["pointer", "buffer", "i32", handle, handle, handle],
      result: "i32",
    },
    MPI_Bcast: { parameters: ["buffer", "i32", handle, "i32", handle], result: "i32" },
    MPI_Barrier: { parameters: [handle], result: "i32" },
    MPI_Abort: { parameters: [handle, "i32"], result: "i32" },
  } as const;
}

const OMPI_STATICS = {
  ompi_mpi_comm_world: { type: "pointer" },
  ompi_mpi_float: { type: "pointer" },
  ompi_mpi_double: { type: "pointer" },
  ompi_mpi_op_sum: { type: "pointer" },
} as const;

/** An MPI handle: a pointer in Open MPI, an integer in MPICH. */
type Handle = Deno.PointerValue | number;
type Int = Int32Array<ArrayBuffer>;

/** The calls as this module makes them, whichever the handle type. */
interface Calls {
  MPI_Initialized(flag: Int): number;
  MPI_Finalized(flag: Int): number;
  MPI_Init_thread(argc: null, argv: null, required: number, provided: Int): number;
  MPI_Finalize(): number;
  MPI_Comm_rank(comm: Handle, out: Int): number;
  MPI_Comm_size(comm: Handle, out: Int): number;
  MPI_Allreduce(
    send: Deno.PointerValue,
    recv: FloatBuffer,
    count: number,
    type: Handle,
    op: Handle,
    comm: Handle,
  ): number;
  MPI_Bcast(buf: FloatBuffer, count: number, type: Handle, root: number, comm: Handle): number;
  MPI_Barrier(comm: Handle): number;
  MPI_Abort(comm: Handle, code: number): number;
}

/** A floating-point buffer MPI reduces or broadcasts in place. */
export type FloatBuffer = Float32Array | Float64Array;

/** An opened MPI library; see the module documentation. */
export interface MPI {
  /** The implementation. */
  readonly flavour: MPIFlavour;
  /** The library file that was opened. */
  readonly library: string;
  /** This process's rank in `MPI_COMM_WORLD` (valid after {@linkcode MPI.init}). */
  readonly rank: number;
  /** Number of processes in `MPI_COMM_WORLD` (valid after {@linkcode MPI.init}). */
  readonly size: number;
  /** `MPI_Init_thread` (funneled) unless already initialised, then rank and size. */
  init(): void;
  /** Sums `buf` element-wise over every rank, in place (`MPI_IN_PLACE`). */
  allreduceSum(buf: FloatBuffer): void;
  /** Overwrites `buf` on every rank with `root`'s. */
  broadcast(buf: FloatBuffer, root?: number): void;
  /** Waits until every rank reaches it. */
  barrier(): void;
  /** Ends every process of the job with `code` (`MPI_Abort`); does not return. */
  abort(code: number): void;
  /** `MPI_Finalize` unless already finalised. */
  finalize(): void;
  /** Whether `MPI_Finalize` ran. */
  readonly finalized: boolean;
}

/** The collective calls training uses; {@linkcode MPI} is one, tests may pass another. */
export type Communicator = Pick<MPI, "rank" | "size" | "allreduceSum" | "broadcast">;

/** Raised when no MPI library can be opened; the message says what was tried. */
export class MPIUnavailableError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "MPIUnavailableError";
  }
}

function check(call: string, rc: number): void {
  if (rc !== 0) throw new Error(`${call} failed with MPI error code ${rc}`);
}

/**
 * Opens the MPI library: `TRAINER_MPI_LIB` when set, else the first of
 * {@linkcode MPI_LIBRARY_CANDIDATES} that loads. Throws {@linkcode MPIUnavailableError} naming
 * what was tried and what to install when none does.
 */
export function openMPI(library?: string): MPI {
  const tried = library !== undefined
    ? [library]
    : Deno.env.get("TRAINER_MPI_LIB") !== undefined
    ? [Deno.env.get("TRAINER_MPI_LIB")!]
    : [...MPI_LIBRARY_CANDIDATES];
  const problems: string[] = [];
  for (const path of tried) {
    try {
      return openOpenMPI(path);
    } catch (e) {
      if (!isMissingStatic(e)) {
        problems.push(`${path}: ${(e as Error).message.split("\n")[0]}`);
        continue;
      }
    }
    try {
      return openMPICH(path);
    } catch (e) {
      problems.push(`${path}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  throw new MPIUnavailableError(
    `no MPI library could be opened (${problems.join("; ")}); install Open MPI ` +
      `(Debian/Ubuntu: apt-get install openmpi-bin libopenmpi3) or MPICH, or set ` +
      `TRAINER_MPI_LIB to the library's path`,
  );
}

/** True when dlopen succeeded but the Open MPI symbol is absent (so: try the MPICH ABI). */
function isMissingStatic(e: unknown): boolean {
  return e instanceof Error && /ompi_mpi_comm_world|symbol/i.test(e.message) &&
    !/cannot open shared object|No such file|image not found/i.test(e.message);
}

function openOpenMPI(path: string): MPI {
  const lib = Deno.dlopen(path, { ...symbolsFor("pointer"), ...OMPI_STATICS });
  // A pointer-typed static is the address of the symbol: exactly Open MPI's handle.
  const s = lib.symbols;
  const handles = {
    world: s.ompi_mpi_comm_world,
    float: s.ompi_mpi_float,
    double: s.ompi_mpi_double,
    sum: s.ompi_mpi_op_sum,
  };
  return new Binding("openmpi", path, lib.symbols as unknown as Calls, handles, 1);
}

function openMPICH(path: string): MPI {
  const lib = Deno.dlopen(path, symbolsFor("i32"));
  const handles = {
    world: MPICH.commWorld,
    float: MPICH.float,
    double: MPICH.double,
    sum: MPICH.sum,
  };
  return new Binding("mpich", path, lib.symbols as unknown as Calls, handles, -1);
}

/** One implementation's symbols and handles behind the {@linkcode MPI} interface. */
class Binding implements MPI {
  readonly flavour: MPIFlavour;
  readonly library: string;
  rank = 0;
  size = 1;
  readonly #s: Calls;
  readonly #h: { world: Handle; float: Handle; double: Handle; sum: Handle };
  readonly #inPlace: Deno.PointerValue;

  constructor(
    flavour: MPIFlavour,
    library: string,
    calls: Calls,
    handles: { world: Handle; float: Handle; double: Handle; sum: Handle },
    inPlace: number,
  ) {
    this.flavour = flavour;
    this.library = library;
    // Both symbol tables have the same calls; only the handle type differs, which the
    // handles themselves carry, so one code path serves both.
    this.#s = calls;
    this.#h = handles;
    this.#inPlace = Deno.UnsafePointer.create(BigInt.asUintN(64, BigInt(inPlace)));
  }

  get finalized(): boolean {
    const flag = new Int32Array(1);
    check("MPI_Finalized", this.#s.MPI_Finalized(flag));
    return flag[0] !== 0;
  }

  init(): void {
    const flag = new Int32Array(1);
    check("MPI_Initialized", this.#s.MPI_Initialized(flag));
    if (flag[0] === 0) {
      const provided = new Int32Array(1);
      check("MPI_Init_thread", this.#s.MPI_Init_thread(null, null, THREAD_FUNNELED, provided));
    }
    const out = new Int32Array(1);
    const world = this.#h.world;
    check("MPI_Comm_rank", this.#s.MPI_Comm_rank(world, out));
    this.rank = out[0];
    check("MPI_Comm_size", this.#s.MPI_Comm_size(world, out));
    this.size = out[0];
  }

  allreduceSum(buf: FloatBuffer): void {
    const type = buf instanceof Float64Array ? this.#h.double : this.#h.float;
    const h = this.#h;
    check(
      "MPI_Allreduce",
      this.#s.MPI_Allreduce(
        this.#inPlace,
        buf,
        buf.length,
        type,
        h.sum,
        h.world,
      ),
    );
  }

  broadcast(buf: FloatBuffer, root = 0): void {
    const type = buf instanceof Float64Array ? this.#h.double : this.#h.float;
    check(
      "MPI_Bcast",
      this.#s.MPI_Bcast(
        buf,
        buf.length,
        type,
        root,
        this.#h.world,
      ),
    );
  }

  barrier(): void {
    check("MPI_Barrier", this.#s.MPI_Barrier(this.#h.world));
  }

  abort(code: number): void {
    this.#s.MPI_Abort(this.#h.world, code);
  }

  finalize(): void {
    if (!this.finalized) check("MPI_Finalize", this.#s.MPI_Finalize());
  }
}
