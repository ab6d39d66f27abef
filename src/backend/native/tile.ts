/**
 * Tile by block copies: the CPU backend computes an index per element, which made `Tile`
 * (the gradient of every broadcast) one of the slowest kernels of a training step.
 *
 * @example
 * ```ts
 * import { tileFast } from "./tile.ts";
 * const out = new Float32Array(4);
 * tileFast(new Float32Array([1, 2]), [2], [2], out); // [1, 2, 1, 2]
 * ```
 *
 * @module
 */

/** Writes `x` (of `shape`) repeated `reps[i]` times along each axis into `out`. */
export function tileFast(
  x: Float32Array,
  shape: readonly number[],
  reps: readonly number[],
  out: Float32Array,
): void {
  const rank = shape.length;
  if (rank === 0) {
    out[0] = x[0];
    return;
  }
  // inner[i]: elements of one slice of the input below axis i; outInner likewise for the output.
  const inner: number[] = new Array(rank + 1).fill(1);
  const outInner: number[] = new Array(rank + 1).fill(1);
  for (let i = rank - 1; i >= 0; i--) {
    inner[i] = inner[i + 1] * shape[i];
    outInner[i] = outInner[i + 1] * shape[i] * reps[i];
  }
  const fill = (axis: number, src: number, dst: number): void => {
    const block = outInner[axis + 1];
    if (axis === rank - 1) {
      for (let j = 0; j < shape[axis]; j++) out[dst + j] = x[src + j];
    } else {
      for (let j = 0; j < shape[axis]; j++) {
        fill(axis + 1, src + j * inner[axis + 1], dst + j * block);
      }
    }
    // The first copy along this axis is built; the rest of the repeats duplicate it.
    const span = shape[axis] * block;
    for (let r = 1; r < reps[axis]; r++) out.copyWithin(dst + r * span, dst, dst + span);
  };
  fill(0, 0, 0);
}
