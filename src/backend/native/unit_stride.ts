/**
 * Strided 1×1 convolutions as unit-stride ones. A 1×1 convolution with stride s reads only every
 * s-th pixel, so it equals a unit-stride 1×1 convolution over those pixels gathered into a dense
 * image. oneDNN does this gathering itself ("reduce to unit stride", rtus) inside its `jit_1x1`
 * kernels, and in oneDNN 2.6 its weight-gradient version writes past the end of its rtus workspace
 * for channels-last inputs with fewer input channels than its register block (16 floats with
 * AVX-512, 8 with AVX2): heap corruption that surfaced as silently wrong gradients in other layers,
 * hangs and crashes, depending on what lay beyond the workspace (the shortcut of ResNet18-FCN
 * width 8, 8 → 16 channels at stride 2, is such a layer). Gathering here means oneDNN never sees a
 * strided 1×1 convolution, so every implementation stays correct and selectable.
 *
 * @example
 * ```ts
 * import { unitStride } from "./unit_stride.ts";
 * const g = {
 *   batch: 1, inHeight: 4, inWidth: 4, inChannels: 1, outHeight: 2, outWidth: 2, outChannels: 1,
 *   filterHeight: 1, filterWidth: 1, strideHeight: 2, strideWidth: 2,
 *   padTop: 0, padBottom: 0, padLeft: 0, padRight: 0,
 * };
 * const u = unitStride(g)!;
 * const x = Float32Array.from({ length: 16 }, (_, i) => i);
 * const dense = new Float32Array(4);
 * u.gather(x, dense); // [0, 2, 8, 10]
 * ```
 *
 * @module
 */
import type { ConvGeometry } from "./conv_geometry.ts";

/** A strided 1×1 convolution restated over its gathered input. */
export interface UnitStride {
  /** The same convolution over the gathered input: stride 1, no padding. */
  geometry: ConvGeometry;
  /** Floats of the gathered input (batch × out height × out width × in channels). */
  length: number;
  /** Copies the pixels the convolution reads from `x` (NHWC) into `dense`; padding reads 0. */
  gather(x: Float32Array, dense: Float32Array): void;
  /** Writes `dense` back to the pixels it came from in `dx` (NHWC); every other pixel gets 0. */
  scatter(dense: Float32Array, dx: Float32Array): void;
  /**
   * Where no padding is read and the sides are multiples of the stride, the gathered pixels as a
   * view of `x`: `dims` (batch, out height, out width, channels) at `strides` (in floats), for a
   * copy engine; else null.
   */
  view: { dims: number[]; strides: number[] } | null;
}

/** The unit-stride form of `g` when it is a strided 1×1 convolution, else null. */
export function unitStride(g: ConvGeometry): UnitStride | null {
  if (g.filterHeight !== 1 || g.filterWidth !== 1) return null;
  if (g.strideHeight === 1 && g.strideWidth === 1) return null;
  const c = g.inChannels;
  const geometry: ConvGeometry = {
    ...g,
    inHeight: g.outHeight,
    inWidth: g.outWidth,
    strideHeight: 1,
    strideWidth: 1,
    padTop: 0,
    padBottom: 0,
    padLeft: 0,
    padRight: 0,
  };
  /** Calls `f(src, dst)` with the NHWC offsets of each gathered pixel, -1 for padding. */
  const eachPixel = (f: (src: number, dst: number) => void) => {
    let dst = 0;
    for (let n = 0; n < g.batch; n++) {
      for (let oh = 0; oh < g.outHeight; oh++) {
        const ih = oh * g.strideHeight - g.padTop;
        for (let ow = 0; ow < g.outWidth; ow++, dst += c) {
          const iw = ow * g.strideWidth - g.padLeft;
          const inside = ih >= 0 && ih < g.inHeight && iw >= 0 && iw < g.inWidth;
          f(inside ? ((n * g.inHeight + ih) * g.inWidth + iw) * c : -1, dst);
        }
      }
    }
  };
  // A view needs no padding read, and oneDNN also wants each stride to span its inner
  // dimension's whole extent (odd sides, whose last row of pixels is the image's last, fail that).
  const asView = g.padTop === 0 && g.padLeft === 0 &&
    g.outHeight * g.strideHeight <= g.inHeight && g.outWidth * g.strideWidth <= g.inWidth;
  return {
    geometry,
    length: g.batch * g.outHeight * g.outWidth * c,
    view: !asView ? null : {
      dims: [g.batch, g.outHeight, g.outWidth, c],
      strides: [
        g.inHeight * g.inWidth * c,
        g.strideHeight * g.inWidth * c,
        g.strideWidth * c,
        1,
      ],
    },
    // Copied by index: a subarray view per pixel cost more than the copy at these channel counts.
    gather(x, dense) {
      eachPixel((src, dst) => {
        if (src < 0) dense.fill(0, dst, dst + c);
        else for (let k = 0; k < c; k++) dense[dst + k] = x[src + k];
      });
    },
    scatter(dense, dx) {
      dx.fill(0);
      eachPixel((src, dst) => {
        if (src >= 0) { for (let k = 0; k < c; k++) dx[src + k] = dense[dst + k]; }
      });
    },
  };
}
