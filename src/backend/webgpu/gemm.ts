/**
 * A tiled implicit-GEMM compute shader for TensorFlow.js's `webgpu` backend: `C[m, n] = Σ_k
 * A[m, k] · B[k, n]` where A and B are never materialised; a kernel supplies WGSL functions that
 * read one element of each from its own tensors (an im2col view of an image, a filter seen
 * transposed) and one that stores a result. Each workgroup stages a `TM × TK` block of A and a
 * `TK × TN` block of B in workgroup memory; each invocation accumulates `RM × RN` outputs in
 * registers. The third dispatch dimension `z` selects a part of the problem (a split of the
 * reduction, a stride phase) that the kernel's functions interpret.
 *
 * Tile sizes come from the device's limits (`gemmTiles`), never from one device's numbers.
 *
 * @example
 * ```ts
 * import { gemmTiles } from "./gemm.ts";
 * const tiles = gemmTiles({ maxComputeInvocationsPerWorkgroup: 256,
 *   maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256,
 *   maxComputeWorkgroupStorageSize: 16384 }, 1000, 24);
 * console.log(tiles.tm, tiles.tn);
 * ```
 *
 * @module
 */

/** The device limits tile sizes are chosen from. */
export interface GemmLimits {
  /** Invocations one workgroup may have. */
  maxComputeInvocationsPerWorkgroup: number;
  /** Workgroup size along x. */
  maxComputeWorkgroupSizeX: number;
  /** Workgroup size along y. */
  maxComputeWorkgroupSizeY: number;
  /** Bytes of workgroup memory. */
  maxComputeWorkgroupStorageSize: number;
}

/** Tile geometry of one GEMM shader. */
export interface GemmTiles {
  /** Invocations along n (workgroup x). */
  tx: number;
  /** Invocations along m (workgroup y). */
  ty: number;
  /** Outputs per invocation along m. */
  rm: number;
  /** Outputs per invocation along n. */
  rn: number;
  /** Reduction depth staged per step. */
  tk: number;
  /** Rows per workgroup (`ty · rm`). */
  tm: number;
  /** Columns per workgroup (`tx · rn`). */
  tn: number;
}

const MAX_SIDE = 16;
const PER_THREAD = 4;

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Tiles for an `m × n` output: up to 16 × 16 invocations of 4 × 4 outputs each, narrowed for a
 * small side so that few invocations idle, then shrunk to the device's invocation, size and
 * workgroup-memory limits.
 */
export function gemmTiles(limits: GemmLimits, m: number, n: number): GemmTiles {
  let tx = Math.min(
    MAX_SIDE,
    pow2AtLeast(Math.ceil(n / PER_THREAD)),
    limits.maxComputeWorkgroupSizeX,
  );
  let ty = Math.min(
    MAX_SIDE,
    pow2AtLeast(Math.ceil(m / PER_THREAD)),
    limits.maxComputeWorkgroupSizeY,
  );
  while (tx * ty > limits.maxComputeInvocationsPerWorkgroup) {
    if (tx >= ty) tx /= 2;
    else ty /= 2;
  }
  const tm = ty * PER_THREAD;
  const tn = tx * PER_THREAD;
  let tk = 16;
  while (tk > 1 && (tm + tn) * tk * 4 > limits.maxComputeWorkgroupStorageSize) tk /= 2;
  return { tx, ty, rm: PER_THREAD, rn: PER_THREAD, tk, tm, tn };
}

/** What a kernel supplies to the GEMM shader, as WGSL source. */
export interface GemmParts {
  /**
   * Module-scope declarations (constants, private variables) and these functions:
   * `setup(z: i32)` (called once per invocation first), `mCount() -> i32`,
   * `kBegin() -> i32`, `kEnd() -> i32`, `aAt(m: i32, k: i32) -> f32`,
   * `bAt(k: i32, n: i32) -> f32` and `store(m: i32, n: i32, v: f32)`.
   */
  functions: string;
  /** The number of columns, as a WGSL constant expression. */
  n: string;
  /** Whether neighbouring A elements in memory lie along k (true) or along m. */
  aAlongK: boolean;
  /** Whether neighbouring B elements in memory lie along k (true) or along n. */
  bAlongK: boolean;
  /**
   * Run-time i32 values the functions read as `uniforms.<name>` (the batch size and what
   * follows from it), so one pipeline serves every batch size.
   */
  uniforms?: Record<string, number>;
}

/** A staging loop that fills a `rows × TK` block, neighbouring invocations taking `along`. */
function stage(
  target: string,
  rows: string,
  alongK: boolean,
  read: (r: string, k: string) => string,
  base: string,
  limit: string,
): string {
  const [r, kk] = alongK ? ["i / TK", "i % TK"] : ["i % " + rows, "i / " + rows];
  return `
    for (var i = tid; i < ${rows} * TK; i = i + THREADS) {
      let r = ${r};
      let kk = ${kk};
      let row = ${base} + r;
      let k = k0 + kk;
      var v = 0.0;
      if (row < ${limit} && k < kStop) {
        v = ${read("row", "k")};
      }
      let at = kk * ${rows} + r;
      ${target}[at / 4][at % 4] = v;
    }`;
}

/** The WGSL of `main` for a `getUserCode` under TensorFlow.js's program header. */
export function gemmShader(t: GemmTiles, parts: GemmParts): string {
  const rows = Array.from({ length: t.rm }, (_, i) => i);
  const cols = Array.from({ length: t.rn }, (_, j) => j);
  return `
const TM = ${t.tm};
const TN = ${t.tn};
const TK = ${t.tk};
const TX = ${t.tx};
const TY = ${t.ty};
const THREADS = ${t.tx * t.ty};
const GEMM_N = ${parts.n};
// Four neighbouring rows (columns) per element, so an invocation reads its four in one load.
var<workgroup> tileA: array<vec4<f32>, ${t.tm * t.tk / 4}>;
var<workgroup> tileB: array<vec4<f32>, ${t.tn * t.tk / 4}>;
${parts.functions}

fn main() {
  // TensorFlow.js binds its uniforms to every program; the pipeline layout needs them used.
  _ = uniforms.NAN;
  let ty = i32(localId.x);
  let tx = i32(localId.y);
  let tid = tx * TY + ty;
  let n0 = i32(workgroupId.x) * TN;
  let m0 = i32(workgroupId.y) * TM;
  setup(i32(workgroupId.z));
  let mLimit = mCount();
  let kStart = kBegin();
  let kStop = kEnd();
  ${rows.map((i) => `var acc${i} = vec4<f32>(0.0);`).join("\n  ")}
  for (var k0 = kStart; k0 < kStop; k0 = k0 + TK) {
    ${stage("tileA", "TM", parts.aAlongK, (r, k) => `aAt(${r}, ${k})`, "m0", "mLimit")}
    ${stage("tileB", "TN", parts.bAlongK, (r, k) => `bAt(${k}, ${r})`, "n0", "GEMM_N")}
    workgroupBarrier();
    for (var kk = 0; kk < TK; kk = kk + 1) {
      let a = tileA[kk * (TM / 4) + ty];
      let b = tileB[kk * (TN / 4) + tx];
      ${rows.map((i) => `acc${i} = acc${i} + a[${i}] * b;`).join("\n      ")}
    }
    workgroupBarrier();
  }
  ${
    rows.map((i) =>
      cols.map((j) =>
        `if (m0 + ty * 4 + ${i} < mLimit && n0 + tx * 4 + ${j} < GEMM_N) { ` +
        `store(m0 + ty * 4 + ${i}, n0 + tx * 4 + ${j}, acc${i}[${j}]); }`
      ).join("\n  ")
    ).join("\n  ")
  }
}`;
}
