/**
 * The forward 2-D convolution (NHWC input, HWIO filter, no dilation) as a tiled implicit GEMM on
 * the `webgpu` backend: `y[b, oh, ow, co] = Σ_{kh, kw, ci} x[b, oh·s − p + kh, ow·s − p + kw, ci]
 * · W[kh, kw, ci, co]`, rows `(b, oh, ow)`, columns `co`, reduction over `(kh, kw, ci)` (the
 * order in which both the input's channels and the filter lie in memory). Taps that fall into
 * the padding read zero; the geometry is baked into the shader as constants.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
 * import { startWebGPU } from "../webgpu.ts";
 * import { convForward } from "./conv_forward.ts";
 * await startWebGPU();
 * const info = tf.backend_util.computeConv2DInfo([1, 5, 5, 3], [3, 3, 3, 2], 1, 1, 1);
 * const y = convForward(tf.backend() as WebGPUBackend, info, tf.ones([1, 5, 5, 3]),
 *   tf.ones([3, 3, 3, 2]));
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { type GemmParts, type GemmTiles, gemmTiles } from "./gemm.ts";
import { GemmProgram, geometryConstants, geometryKey, tileRows } from "./conv_program.ts";
import { deviceLimits } from "./limits.ts";

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/** Rows of the forward GEMM: one per output pixel. */
export function forwardRows(info: Conv2DInfo): number {
  return info.batchSize * info.outHeight * info.outWidth;
}

/** The forward GEMM's tiles on `backend`, whatever the batch size. */
export function forwardTiles(backend: WebGPUBackend, info: Conv2DInfo): GemmTiles {
  return gemmTiles(
    deviceLimits(backend),
    tileRows(info.outHeight * info.outWidth),
    info.outChannels,
  );
}

/** The output `y` (shape `info.outShape`) of the convolution `info` of `x` with filter `w`. */
export function convForward(
  backend: WebGPUBackend,
  info: Conv2DInfo,
  x: tf.TensorInfo,
  w: tf.TensorInfo,
): tf.TensorInfo {
  const m = forwardRows(info);
  const n = info.outChannels;
  const tiles = forwardTiles(backend, info);
  // A 1×1 convolution without stride or padding reads its input as a plain [rows, CI] matrix.
  const plain = info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 &&
    info.strideWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0;
  const aAt = plain ? "return x[m * CI + k];" : `
  let ci = k % CI;
  let tap = k / CI;
  let ow = m % OW;
  let rest = m / OW;
  let ih = (rest % OH) * SH - PT + tap / KW;
  let iw = ow * SW - PL + tap % KW;
  if (ih < 0 || ih >= IH || iw < 0 || iw >= IW) { return 0.0; }
  return x[((rest / OH * IH + ih) * IW + iw) * CI + ci];`;
  const parts: GemmParts = {
    n: "CO",
    aAlongK: true,
    bAlongK: false,
    uniforms: { rows: m },
    functions: `${geometryConstants(info)}
fn setup(z: i32) {}
fn mCount() -> i32 { return uniforms.rows; }
fn kBegin() -> i32 { return 0; }
fn kEnd() -> i32 { return KH * KW * CI; }
fn aAt(m: i32, k: i32) -> f32 {${aAt}
}
fn bAt(k: i32, n: i32) -> f32 { return W[k * CO + n]; }
fn store(m: i32, n: i32, v: f32) { result[m * CO + n] = v; }`,
  };
  const program = new GemmProgram(
    "ourConv2D",
    ["x", "W"],
    info.outShape,
    tiles,
    [Math.ceil(n / tiles.tn), Math.ceil(m / tiles.tm), 1],
    parts,
    geometryKey(info),
  );
  return backend.runWebGPUProgram(program, [x, w], "float32", program.uniformData());
}
