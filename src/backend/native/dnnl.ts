/**
 * Deno FFI bindings to oneDNN 2.x (Debian `libdnnl2`): just enough of its C API to build,
 * cache and run convolution, binary, eltwise and reorder primitives on float32 buffers, plus
 * its multi-threaded `dnnl_sgemm`.
 *
 * Structs are passed by pointer as byte buffers sized above their real sizes in oneDNN 2.6
 * (memory desc 696 bytes, convolution desc 5,976), so a minor-version layout change cannot
 * overrun them. Enum values are those of `dnnl_types.h` in 2.6.
 *
 * @example
 * ```ts
 * import { openDnnl } from "./dnnl.ts";
 * const dnnl = openDnnl();
 * if (dnnl.ok) console.log(dnnl.lib.path);
 * ```
 *
 * @module
 */

/** Sonames tried in order; the first that opens wins. */
export const DNNL_LIBRARY_NAMES = ["libdnnl.so.2", "libdnnl.so", "libdnnl.so.3"] as const;

const SYMBOLS = {
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: ["buffer", "pointer", "u32"], result: "i32" },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_memory_desc_init_by_strides: {
    parameters: ["buffer", "i32", "buffer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_memory_desc_equal: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_memory_desc_get_size: { parameters: ["pointer"], result: "usize" },
  dnnl_convolution_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_data_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_binary_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_eltwise_forward_desc_init: {
    parameters: ["buffer", "i32", "i32", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_eltwise_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_batch_normalization_forward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_primitive_attr_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_append_eltwise: {
    parameters: ["pointer", "f32", "i32", "f32", "f32"],
    result: "i32",
  },
  dnnl_post_ops_append_binary: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  dnnl_primitive_attr_set_post_ops: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_iterator_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_iterator_next: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_desc_iterator_fetch: { parameters: ["pointer"], result: "pointer" },
  dnnl_primitive_desc_iterator_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_desc_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_batch_normalization_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_reorder_primitive_desc_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_query: {
    parameters: ["pointer", "i32", "i32", "buffer"],
    result: "i32",
  },
  dnnl_primitive_desc_query_md: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_memory_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_memory_set_data_handle: { parameters: ["pointer", "buffer"], result: "i32" },
  dnnl_primitive_execute: {
    parameters: ["pointer", "pointer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_sgemm: {
    parameters: [
      "u8",
      "u8",
      "i64",
      "i64",
      "i64",
      "f32",
      "buffer",
      "i64",
      "buffer",
      "i64",
      "f32",
      "buffer",
      "i64",
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The raw symbols of the opened library. */
export type DnnlSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** oneDNN enum values (2.6). */
export const DNNL = {
  bf16: 2,
  f32: 3,
  tagAny: 1,
  /** Plain row-major tags by rank (`a`, `ab`, `abc`, …). */
  plain: [0, 2, 3, 4, 5, 6, 7],
  nhwc: 20,
  hwio: 30,
  forwardTraining: 64,
  forwardInference: 96,
  bnUseGlobalStats: 1,
  bnUseScale: 8,
  bnUseShift: 16,
  /** Batch normalisation followed by ReLU in one pass; training keeps the mask in a workspace. */
  bnFuseNormRelu: 4,
  backwardData: 160,
  backwardWeights: 192,
  convolutionDirect: 1,
  eltwiseRelu: 31,
  /** ReLU whose gradient reads the output (`dy · [y > 0]`) rather than the input. */
  eltwiseReluUseDst: 256,
  eltwiseSquare: 79,
  eltwiseLinear: 127,
  binaryAdd: 131056,
  binaryMul: 131057,
  binaryMax: 131058,
  binaryMin: 131059,
  binaryDiv: 131060,
  binarySub: 131061,
  argSrc: 1,
  argSrc1: 2,
  argDst: 17,
  argWeights: 33,
  argMean: 49,
  argVariance: 50,
  argScale: 51,
  argShift: 52,
  argWorkspace: 64,
  argDiffSrc: 129,
  argDiffDst: 145,
  argDiffWeights: 161,
  argDiffScale: 255,
  argDiffShift: 256,
  backward: 128,
  querySrcMd: 129,
  queryDiffSrcMd: 130,
  queryWeightsMd: 131,
  queryDiffWeightsMd: 132,
  queryDstMd: 133,
  queryDiffDstMd: 134,
  queryWorkspaceMd: 135,
  queryImplInfoStr: 8,
  engineCpu: 1,
  streamDefaultFlags: 1,
} as const;

const MD_BYTES = 1024;
const OP_DESC_BYTES = 8192;
const MAX_NDIMS = 12;

/** A memory descriptor: an opaque struct held in JS memory. */
export type MemoryDesc = Uint8Array<ArrayBuffer>;

/** A primitive ready to run: its oneDNN handle and one memory object per argument. */
export interface Primitive {
  /** Name of the implementation oneDNN chose, e.g. `brg:avx512_core`. */
  impl: string;
  /**
   * Runs it on these buffers, one per argument, in the order the primitive was built with.
   * Throws before running when a buffer is smaller than its argument's descriptor: oneDNN
   * would read or write past its end.
   */
  run(buffers: readonly Float32Array[]): void;
}

/** A post-op: an eltwise function of the result, or a binary op of it with another tensor. */
export type PostOp =
  | { eltwise: number; alpha: number; beta: number }
  | { binary: number; md: MemoryDesc };

/** The argument index of the second operand of the binary post-op at `index`. */
export function postOpArg(index: number): number {
  return 16384 * (index + 1) | DNNL.argSrc1;
}

/** One argument of a primitive: its oneDNN argument index and memory descriptor. */
export interface PrimitiveArg {
  /** `DNNL_ARG_*` index. */
  arg: number;
  /** Descriptor; a `Deno.PointerObject` when it comes from a primitive-descriptor query. */
  md: MemoryDesc | Deno.PointerObject;
}

/** An opened oneDNN with one CPU engine and one stream. */
export class Dnnl {
  /** The soname that opened. */
  readonly path: string;
  /** oneDNN version as `major.minor.patch`. */
  readonly version: string;
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #engine: Deno.PointerObject;
  readonly #stream: Deno.PointerObject;
  readonly #out = new BigUint64Array(1);
  readonly #omp: Deno.DynamicLibrary<typeof OMP_SYMBOLS> | null;

  constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>, path: string) {
    this.#lib = lib;
    this.#omp = openOmp();
    this.path = path;
    const v = lib.symbols.dnnl_version();
    if (v === null) throw new Error(`${path}: dnnl_version returned null`);
    const view = new Deno.UnsafePointerView(v);
    this.version = `${view.getInt32(0)}.${view.getInt32(4)}.${view.getInt32(8)}`;
    this.#check(lib.symbols.dnnl_engine_create(this.#out, DNNL.engineCpu, 0n), "engine_create");
    this.#engine = this.#takeOut("engine");
    this.#check(
      lib.symbols.dnnl_stream_create(this.#out, this.#engine, DNNL.streamDefaultFlags),
      "stream_create",
    );
    this.#stream = this.#takeOut("stream");
  }

  /**
   * Runs `f` with oneDNN on one thread, where its OpenMP runtime (libgomp) can be reached; else
   * as is. For primitives too small to repay a fork and barriers: on a busy machine each
   * barrier can wait a scheduler tick for the other thread (batch norm on 32 K floats took
   * 1.5 ms on two threads, 0.06 ms on one).
   */
  singleThreaded(f: () => void): void {
    const omp = this.#omp;
    if (!omp) return f();
    const threads = omp.symbols.omp_get_max_threads();
    omp.symbols.omp_set_num_threads(1);
    try {
      f();
    } finally {
      omp.symbols.omp_set_num_threads(threads);
    }
  }

  /** The raw symbols, for calls this class does not wrap (`dnnl_sgemm`). */
  get symbols(): DnnlSymbols {
    return this.#lib.symbols;
  }

  #check(status: number, what: string): void {
    if (status !== 0) {
      throw new Error(`oneDNN (${this.path}) dnnl_${what} failed: status ${status}`);
    }
  }

  #takeOut(what: string): Deno.PointerObject {
    const p = Deno.UnsafePointer.create(this.#out[0]);
    if (p === null) throw new Error(`oneDNN (${this.path}): ${what} came back null`);
    return p;
  }

  /**
   * A memory descriptor for `dims` in the format `tag` (a `DNNL` tag value), of float32 or
   * another `DNNL` data type.
   */
  memoryDesc(dims: readonly number[], tag: number, dataType: number = DNNL.f32): MemoryDesc {
    return this.#desc(
      `memory_desc_init_by_tag(${dims})`,
      (md) =>
        this.#lib.symbols.dnnl_memory_desc_init_by_tag(
          md,
          dims.length,
          dimsBuffer(dims),
          dataType,
          tag,
        ),
    );
  }

  /** A float32 descriptor for `dims` laid out with explicit `strides` (in elements). */
  stridedDesc(dims: readonly number[], strides: readonly number[]): MemoryDesc {
    return this.#desc(
      `memory_desc_init_by_strides(${dims}; ${strides})`,
      (md) =>
        this.#lib.symbols.dnnl_memory_desc_init_by_strides(
          md,
          dims.length,
          dimsBuffer(dims),
          DNNL.f32,
          dimsBuffer(strides),
        ),
    );
  }

  /** A memory descriptor filled in by `init` (which returns a status). */
  #desc(what: string, init: (md: MemoryDesc) => number): MemoryDesc {
    const md = new Uint8Array(MD_BYTES);
    this.#check(init(md), what);
    return md;
  }

  /** A row-major float32 descriptor. */
  plainDesc(dims: readonly number[]): MemoryDesc {
    return this.memoryDesc(dims, DNNL.plain[dims.length]);
  }

  /** Builds an op descriptor into a fresh buffer with `init` (which returns a status). */
  opDesc(what: string, init: (desc: Uint8Array<ArrayBuffer>) => number): Uint8Array<ArrayBuffer> {
    const desc = new Uint8Array(OP_DESC_BYTES);
    this.#check(init(desc), what);
    return desc;
  }

  /**
   * Primitive attributes holding one eltwise post-op `alg(alpha·x + beta)` applied to the
   * result (see `DNNL.eltwise*`).
   */
  eltwisePostOp(alg: number, alpha: number, beta: number): Deno.PointerObject {
    return this.postOps([{ eltwise: alg, alpha, beta }]);
  }

  /**
   * Primitive attributes holding `ops` applied to the result in order: an eltwise
   * `alg(alpha·x + beta)`, or a binary `alg(x, src1)` whose `src1` (described by `md`) the
   * primitive then takes as the argument {@linkcode postOpArg} of the op's index.
   */
  postOps(ops: readonly PostOp[]): Deno.PointerObject {
    const sym = this.#lib.symbols;
    this.#check(sym.dnnl_post_ops_create(this.#out), "post_ops_create");
    const list = this.#takeOut("post_ops");
    for (const op of ops) {
      if ("eltwise" in op) {
        this.#check(
          sym.dnnl_post_ops_append_eltwise(list, 1, op.eltwise, op.alpha, op.beta),
          "append_eltwise",
        );
      } else {
        this.#check(sym.dnnl_post_ops_append_binary(list, op.binary, op.md), "append_binary");
      }
    }
    this.#check(sym.dnnl_primitive_attr_create(this.#out), "primitive_attr_create");
    const attr = this.#takeOut("attr");
    this.#check(sym.dnnl_primitive_attr_set_post_ops(attr, list), "set_post_ops");
    return attr;
  }

  /** Creates a primitive descriptor for an op descriptor, with optional attributes. */
  primitiveDesc(
    opDesc: Uint8Array<ArrayBuffer>,
    what: string,
    attr: Deno.PointerObject | null = null,
  ): Deno.PointerObject {
    return this.#createPrimitiveDesc(opDesc, what, attr, null);
  }

  /**
   * Every implementation oneDNN offers for an op descriptor, best first by its own ranking
   * (the first is what `primitiveDesc` picks). `hint` is the forward descriptor of a backward op.
   */
  implementations(
    opDesc: Uint8Array<ArrayBuffer>,
    what: string,
    hint: Deno.PointerObject | null = null,
  ): Deno.PointerObject[] {
    const sym = this.#lib.symbols;
    this.#check(
      sym.dnnl_primitive_desc_iterator_create(this.#out, opDesc, null, this.#engine, hint),
      `primitive_desc_iterator_create(${what})`,
    );
    const it = this.#takeOut(what);
    const found: Deno.PointerObject[] = [];
    try {
      do {
        const pd = sym.dnnl_primitive_desc_iterator_fetch(it);
        if (pd !== null) found.push(pd);
      } while (sym.dnnl_primitive_desc_iterator_next(it) === 0);
    } finally {
      sym.dnnl_primitive_desc_iterator_destroy(it);
    }
    return found;
  }

  /** Frees a primitive descriptor no primitive was made from. */
  destroyDesc(pd: Deno.PointerObject): void {
    this.#lib.symbols.dnnl_primitive_desc_destroy(pd);
  }

  /** Creates a backward primitive descriptor, with its forward one as the hint. */
  primitiveDescWithHint(
    opDesc: Uint8Array<ArrayBuffer>,
    hint: Deno.PointerObject,
    what: string,
  ): Deno.PointerObject {
    return this.#createPrimitiveDesc(opDesc, what, null, hint);
  }

  #createPrimitiveDesc(
    opDesc: Uint8Array<ArrayBuffer>,
    what: string,
    attr: Deno.PointerObject | null,
    hint: Deno.PointerObject | null,
  ): Deno.PointerObject {
    this.#check(
      this.#lib.symbols.dnnl_primitive_desc_create(this.#out, opDesc, attr, this.#engine, hint),
      `primitive_desc_create(${what})`,
    );
    return this.#takeOut(what);
  }

  /** A reorder primitive descriptor from one layout to another. */
  reorderDesc(
    src: Deno.PointerObject | MemoryDesc,
    dst: Deno.PointerObject | MemoryDesc,
  ): Deno.PointerObject {
    this.#check(
      this.#lib.symbols.dnnl_reorder_primitive_desc_create(
        this.#out,
        pointerTo(src),
        this.#engine,
        pointerTo(dst),
        this.#engine,
        null,
      ),
      "reorder_primitive_desc_create",
    );
    return this.#takeOut("reorder");
  }

  /** The memory descriptor a primitive descriptor chose for `query` (a `DNNL.query*`). */
  queryMd(pd: Deno.PointerObject, query: number): Deno.PointerObject {
    const md = this.#lib.symbols.dnnl_primitive_desc_query_md(pd, query, 0);
    if (md === null) throw new Error(`oneDNN (${this.path}): no memory desc for query ${query}`);
    return md;
  }

  /** True when `md` (from a query) describes the same layout as `plain`. */
  sameDesc(plain: MemoryDesc, md: Deno.PointerObject): boolean {
    return this.#lib.symbols.dnnl_memory_desc_equal(plain, md) === 1;
  }

  /** Bytes a descriptor needs. */
  descBytes(md: Deno.PointerObject): number {
    return Number(this.#lib.symbols.dnnl_memory_desc_get_size(md));
  }

  /** Creates the primitive for `pd` with one memory object per argument. */
  primitive(pd: Deno.PointerObject, args: readonly PrimitiveArg[]): Primitive {
    const impl = this.implName(pd);
    this.#check(this.#lib.symbols.dnnl_primitive_create(this.#out, pd), "primitive_create");
    const prim = this.#takeOut("primitive");
    const mems = args.map(({ md }) => {
      this.#check(
        this.#lib.symbols.dnnl_memory_create(this.#out, pointerTo(md), this.#engine, null),
        "memory_create",
      );
      return this.#takeOut("memory");
    });
    // dnnl_exec_arg_t is { int arg; dnnl_memory_t memory; }: 16 bytes with padding.
    const execArgs = new BigUint64Array(args.length * 2);
    args.forEach(({ arg }, i) => {
      execArgs[2 * i] = BigInt(arg);
      execArgs[2 * i + 1] = BigInt(Deno.UnsafePointer.value(mems[i]));
    });
    const sym = this.#lib.symbols;
    const stream = this.#stream;
    const check = (status: number, what: string) => this.#check(status, what);
    // Descriptors handed over as JS buffers must outlive the primitive's memory objects.
    const keep = args.map(({ md }) => md);
    const bytes = args.map(({ md }) => this.descBytes(pointerTo(md)));
    return {
      impl,
      run(buffers: readonly Float32Array[]): void {
        void keep;
        if (buffers.length !== mems.length) {
          throw new Error(`oneDNN ${impl}: ${mems.length} buffers expected, got ${buffers.length}`);
        }
        for (let i = 0; i < mems.length; i++) {
          if (buffers[i].byteLength < bytes[i]) {
            throw new Error(
              `oneDNN ${impl}: argument ${i} needs ${bytes[i]} bytes, got ${buffers[i].byteLength}`,
            );
          }
        }
        for (let i = 0; i < mems.length; i++) {
          check(sym.dnnl_memory_set_data_handle(mems[i], buffers[i]), "memory_set_data_handle");
        }
        check(sym.dnnl_primitive_execute(prim, stream, mems.length, execArgs), `execute(${impl})`);
        check(sym.dnnl_stream_wait(stream), "stream_wait");
      },
    };
  }

  /** Name of the implementation a primitive descriptor stands for, e.g. `brg:avx512_core`. */
  implName(pd: Deno.PointerObject): string {
    const out = new BigUint64Array(1);
    if (this.#lib.symbols.dnnl_primitive_desc_query(pd, DNNL.queryImplInfoStr, 0, out) !== 0) {
      return "unknown";
    }
    const p = Deno.UnsafePointer.create(out[0]);
    return p === null ? "unknown" : new Deno.UnsafePointerView(p).getCString();
  }
}

const OMP_SYMBOLS = {
  omp_get_max_threads: { parameters: [], result: "i32" },
  omp_set_num_threads: { parameters: ["i32"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The OpenMP runtime Debian's oneDNN is built on (already loaded with it), or null. */
function openOmp(): Deno.DynamicLibrary<typeof OMP_SYMBOLS> | null {
  try {
    return Deno.dlopen("libgomp.so.1", OMP_SYMBOLS);
  } catch {
    // A oneDNN on another threading runtime: single-threaded sections just run as they are.
    return null;
  }
}

function pointerTo(md: MemoryDesc | Deno.PointerObject): Deno.PointerObject {
  if (!(md instanceof Uint8Array)) return md;
  const p = Deno.UnsafePointer.of(md);
  if (p === null) throw new Error("oneDNN: memory descriptor buffer has no address");
  return p;
}

/** A `dnnl_dims_t` (12 × int64) holding `values`. */
export function dimsBuffer(values: readonly number[]): BigInt64Array<ArrayBuffer> {
  if (values.length > MAX_NDIMS) throw new Error(`oneDNN: ${values.length} dims > ${MAX_NDIMS}`);
  const dims = new BigInt64Array(MAX_NDIMS);
  values.forEach((v, i) => dims[i] = BigInt(v));
  return dims;
}

/** Result of trying to open oneDNN. */
export type OpenResult = { ok: true; lib: Dnnl } | { ok: false; reason: string };

/**
 * Opens oneDNN from the system library path. Never throws: a missing library or a failed
 * start comes back as a reason naming what was tried and what to install.
 */
export function openDnnl(): OpenResult {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { ok: false, reason: "loading oneDNN needs Deno's --allow-ffi permission" };
  }
  const errors: string[] = [];
  // OpenMP's idle threads keep libgomp's default spin (300,000 iterations, a few milliseconds
  // here) before they sleep: a step's JavaScript between primitives (the backward pass's
  // bookkeeping, the optimiser, the next batch) often outlasts a shorter spin, and a thread
  // woken from sleep costs a scheduler round trip. 10,000 iterations measured 27.0 ms a step
  // against 26.1 in ResNet18-FCN w16's training loop (six alternating runs); sleeping at once
  // (OMP_WAIT_POLICY=passive) was slower still. A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT stands.
  for (const name of DNNL_LIBRARY_NAMES) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(name, SYMBOLS);
    } catch (e) {
      errors.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    try {
      return { ok: true, lib: new Dnnl(lib, name) };
    } catch (e) {
      lib.close();
      errors.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return {
    ok: false,
    reason: `oneDNN not found (install the Debian package libdnnl2): ${errors.join("; ")}`,
  };
}
