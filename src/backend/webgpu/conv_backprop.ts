/**
 * The two gradients of a 2-D convolution (NHWC input, HWIO filter, no dilation) as tiled
 * implicit GEMMs on the `webgpu` backend:
 *
 * - weight gradient `dW[kh, kw, ci, co] = Σ_{b, oh, ow} x[b, oh·s − p + kh, ow·s − p + kw, ci] ·
 *   dy[b, oh, ow, co]`: rows `(kh, kw, ci)`, columns `co`, reduction over every output pixel.
 *   That reduction is long and the output small, so it is split into chunks (`z`), each
 *   writing a partial product that a second pass sums, until there are enough workgroups;
 * - input gradient `dx[b, ih, iw, ci] = Σ_{kh, kw, co} dy[b, oh, ow, co] · W[kh, kw, ci, co]`
 *   over the `(oh, ow)` with `oh·s − p + kh = ih`: computed per stride phase (`z` = the
 *   phase of `(ih, iw)` modulo the stride), where only the filter taps of that phase
 *   contribute, so a stride-2 gradient does no multiplications by the zeros between outputs.
 *
 * Geometry is baked into each shader as constants (one pipeline per convolution shape).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
 * import { startWebGPU } from "../webgpu.ts";
 * import { convFilterGradient } from "./conv_backprop.ts";
 * await startWebGPU();
 * const info = tf.backend_util.computeConv2DInfo([1, 5, 5, 3], [3, 3, 3, 2], 1, 1, 1);
 * const x = tf.ones([1, 5, 5, 3]);
 * const dy = tf.ones([1, 5, 5, 2]);
 * const dw = convFilterGradient(tf.backend() as WebGPUBackend, info, x, dy);
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { type GemmParts, type GemmTiles, gemmTiles } from "./gemm.ts";
import { GemmProgram, geometryConstants, geometryKey, tileRows } from "./conv_program.ts";
import { deviceLimits, linearGroup } from "./limits.ts";

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/** Workgroups that keep a device busy; the weight gradient splits its reduction to reach it. */
const TARGET_WORKGROUPS = 128;
/** The shortest reduction chunk worth its own partial product, in output pixels. */
const MIN_CHUNK = 256;

/** Sums `splits` partial products laid out as `[splits, size]`. */
class SumPartialsProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames = ["partials"];
  workgroupSize: [number, number, number];
  size = true;
  readonly #splits: number;
  readonly #count: number;

  constructor(outputShape: number[], splits: number, group: number) {
    this.outputShape = outputShape;
    this.#splits = splits;
    this.#count = outputShape.reduce((a, b) => a * b, 1);
    this.workgroupSize = [group, 1, 1];
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.dispatch = [Math.ceil(this.#count / group), 1, 1];
    this.shaderKey = `ourSumPartials_${splits}_${this.#count}_${group}`;
  }

  getUserCode(): string {
    return `
fn main(index: i32) {
  if (index < uniforms.size) {
    var s = 0.0;
    for (var z = 0; z < ${this.#splits}; z = z + 1) {
      s = s + partials[z * ${this.#count} + index];
    }
    setOutputAtIndex(index, s);
  }
}`;
  }
}

/** How many chunks the weight gradient's reduction is split into. */
export function filterSplits(info: Conv2DInfo, tiles: GemmTiles): number {
  const m = info.filterHeight * info.filterWidth * info.inChannels;
  const k = info.batchSize * info.outHeight * info.outWidth;
  const groups = Math.ceil(m / tiles.tm) * Math.ceil(info.outChannels / tiles.tn);
  const wanted = Math.ceil(TARGET_WORKGROUPS / groups);
  const most = Math.max(1, Math.floor(k / MIN_CHUNK));
  return Math.max(1, Math.min(wanted, most));
}

/**
 * The filter gradient `dW` (shape `[KH, KW, CI, CO]`) of the convolution `info` for input `x`
 * and output gradient `dy`.
 */
export function convFilterGradient(
  backend: WebGPUBackend,
  info: Conv2DInfo,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
): tf.TensorInfo {
  const m = info.filterHeight * info.filterWidth * info.inChannels;
  const n = info.outChannels;
  const k = info.batchSize * info.outHeight * info.outWidth;
  const tiles = filterGradientTiles(backend, info);
  const splits = filterSplits(info, tiles);
  const chunk = Math.ceil(Math.ceil(k / splits) / tiles.tk) * tiles.tk;
  const used = Math.ceil(k / chunk);
  const filterShape = [info.filterHeight, info.filterWidth, info.inChannels, info.outChannels];
  const parts: GemmParts = {
    n: "CO",
    aAlongK: false,
    bAlongK: false,
    uniforms: { k, chunk },
    functions: `${geometryConstants(info)}
const GEMM_M = KH * KW * CI;
var<private> chunkIndex: i32;
fn setup(z: i32) { chunkIndex = z; }
fn mCount() -> i32 { return GEMM_M; }
fn kBegin() -> i32 { return chunkIndex * uniforms.chunk; }
fn kEnd() -> i32 { return min(uniforms.k, (chunkIndex + 1) * uniforms.chunk); }
fn aAt(m: i32, k: i32) -> f32 {
  let ci = m % CI;
  let tap = m / CI;
  let ow = k % OW;
  let rest = k / OW;
  let ih = (rest % OH) * SH - PT + tap / KW;
  let iw = ow * SW - PL + tap % KW;
  if (ih < 0 || ih >= IH || iw < 0 || iw >= IW) { return 0.0; }
  return x[((rest / OH * IH + ih) * IW + iw) * CI + ci];
}
fn bAt(k: i32, n: i32) -> f32 { return dy[k * CO + n]; }
fn store(m: i32, n: i32, v: f32) { result[(chunkIndex * GEMM_M + m) * CO + n] = v; }`,
  };
  const grid: [number, number, number] = [Math.ceil(n / tiles.tn), Math.ceil(m / tiles.tm), used];
  const program = new GemmProgram(
    "ourConv2DDerFilter",
    ["x", "dy"],
    [used, m * n],
    tiles,
    grid,
    parts,
    geometryKey(info),
  );
  const out = backend.runWebGPUProgram(program, [x, dy], "float32", program.uniformData());
  // One chunk: the partial product is the gradient, seen in its shape as Reshape would.
  if (used === 1) return { dataId: out.dataId, shape: filterShape, dtype: "float32" };
  const sum = backend.runWebGPUProgram(
    new SumPartialsProgram(filterShape, used, linearGroup(backend)),
    [out],
    "float32",
  );
  backend.disposeData(out.dataId);
  return sum;
}

/** The weight gradient's tiles on `backend` (they never depend on the batch size). */
export function filterGradientTiles(backend: WebGPUBackend, info: Conv2DInfo): GemmTiles {
  return gemmTiles(
    deviceLimits(backend),
    info.filterHeight * info.filterWidth * info.inChannels,
    info.outChannels,
  );
}

/** The input gradient's tiles on `backend`, whatever the batch size. */
export function inputGradientTiles(backend: WebGPUBackend, info: Conv2DInfo): GemmTiles {
  const phaseRows = Math.ceil(info.inHeight / info.strideHeight) *
    Math.ceil(info.inWidth / info.strideWidth);
  return gemmTiles(deviceLimits(backend), tileRows(phaseRows), info.inChannels);
}

/** Constants of one stride phase `(ph, pw)` of the input gradient. */
function phaseConstants(c: Conv2DInfo, ph: number, pw: number): string {
  const [sh, sw] = [c.strideHeight, c.strideWidth];
  const kh0 = (ph + c.padInfo.top) % sh;
  const kw0 = (pw + c.padInfo.left) % sw;
  return `
const PH = ${ph};
const PW = ${pw};
const KH0 = ${kh0};
const KW0 = ${kw0};
const TAPS_W = ${Math.max(0, Math.ceil((c.filterWidth - kw0) / sw))};
const TAPS = ${Math.max(0, Math.ceil((c.filterHeight - kh0) / sh))} * TAPS_W;
const ROWS_H = ${Math.ceil((c.inHeight - ph) / sh)};
const ROWS_W = ${Math.ceil((c.inWidth - pw) / sw)};`;
}

/**
 * The input gradient `dx` (shape `info.inShape`) of the convolution `info` for output gradient
 * `dy` and filter `w`: one dispatch per stride phase, each with its geometry as constants (the
 * index arithmetic then needs no division by a run-time value, which a CPU adapter pays dearly
 * for), all writing into one output.
 */
export function convInputGradient(
  backend: WebGPUBackend,
  info: Conv2DInfo,
  dy: tf.TensorInfo,
  w: tf.TensorInfo,
): tf.TensorInfo {
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const n = info.inChannels;
  const tiles = inputGradientTiles(backend, info);
  let out: tf.TensorInfo | undefined;
  for (let ph = 0; ph < sh; ph++) {
    for (let pw = 0; pw < sw; pw++) {
      const rows = info.batchSize * Math.ceil((info.inHeight - ph) / sh) *
        Math.ceil((info.inWidth - pw) / sw);
      const parts: GemmParts = {
        n: "CI",
        aAlongK: true,
        bAlongK: true,
        uniforms: { rows },
        functions: `${geometryConstants(info)}
${phaseConstants(info, ph, pw)}
fn setup(z: i32) {}
fn mCount() -> i32 { return uniforms.rows; }
fn kBegin() -> i32 { return 0; }
fn kEnd() -> i32 { return TAPS * CO; }
fn aAt(m: i32, k: i32) -> f32 {
  let rest = m / ROWS_W;
  let ih = PH + SH * (rest % ROWS_H);
  let iw = PW + SW * (m % ROWS_W);
  let tap = k / CO;
  let oh = (ih + PT - KH0 - SH * (tap / TAPS_W)) / SH;
  let ow = (iw + PL - KW0 - SW * (tap % TAPS_W)) / SW;
  if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) { return 0.0; }
  return dy[((rest / ROWS_H * OH + oh) * OW + ow) * CO + k % CO];
}
fn bAt(k: i32, n: i32) -> f32 {
  let tap = k / CO;
  let kh = KH0 + SH * (tap / TAPS_W);
  let kw = KW0 + SW * (tap % TAPS_W);
  return W[((kh * KW + kw) * CI + n) * CO + k % CO];
}
fn store(m: i32, n: i32, v: f32) {
  let rest = m / ROWS_W;
  let ih = PH + SH * (rest % ROWS_H);
  result[((rest / ROWS_H * IH + ih) * IW + PW + SW * (m % ROWS_W)) * CI + n] = v;
}`,
      };
      const program = new GemmProgram(
        "ourConv2DDerInput",
        ["dy", "W"],
        info.inShape,
        tiles,
        [Math.ceil(n / tiles.tn), Math.ceil(rows / tiles.tm), 1],
        parts,
        `${geometryKey(info)}_${ph}_${pw}`,
      );
      out = backend.runWebGPUProgram(program, [dy, w], "float32", program.uniformData(), out);
    }
  }
  return out!;
}
