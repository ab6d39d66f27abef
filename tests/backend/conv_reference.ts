/**
 * A convolution's definition for the native kernel tests: its geometry from a few numbers, and
 * every product term it sums, to build plain-loop references from.
 *
 * @module
 */
import type { ConvGeometry } from "../../src/backend/native/conv.ts";

/** The geometry of a square convolution: `[batch, side, in, out]` channels, `k`×`k` filter. */
export function geometry(
  [batch, side, inChannels, outChannels]: number[],
  k: number,
  stride: number,
  pad: number,
): ConvGeometry {
  const out = Math.floor((side + 2 * pad - k) / stride) + 1;
  return {
    batch,
    inHeight: side,
    inWidth: side,
    inChannels,
    outHeight: out,
    outWidth: out,
    outChannels,
    filterHeight: k,
    filterWidth: k,
    strideHeight: stride,
    strideWidth: stride,
    padTop: pad,
    padBottom: pad,
    padLeft: pad,
    padRight: pad,
  };
}

/** Calls `f(xIndex, yIndex, wIndex)` for every product term of the convolution `g`. */
export function eachTerm(g: ConvGeometry, f: (xi: number, yi: number, wi: number) => void): void {
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outHeight; oh++) {
      for (let ow = 0; ow < g.outWidth; ow++) {
        for (let kh = 0; kh < g.filterHeight; kh++) {
          const ih = oh * g.strideHeight - g.padTop + kh;
          if (ih < 0 || ih >= g.inHeight) continue;
          for (let kw = 0; kw < g.filterWidth; kw++) {
            const iw = ow * g.strideWidth - g.padLeft + kw;
            if (iw < 0 || iw >= g.inWidth) continue;
            for (let c = 0; c < g.inChannels; c++) {
              const xi = ((n * g.inHeight + ih) * g.inWidth + iw) * g.inChannels + c;
              for (let o = 0; o < g.outChannels; o++) {
                const yi = ((n * g.outHeight + oh) * g.outWidth + ow) * g.outChannels + o;
                f(xi, yi, ((kh * g.filterWidth + kw) * g.inChannels + c) * g.outChannels + o);
              }
            }
          }
        }
      }
    }
  }
}
