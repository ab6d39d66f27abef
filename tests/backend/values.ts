/**
 * Test inputs for the backend kernel tests, the same deterministic values on every backend, and
 * the measure their outputs are compared by.
 *
 * @module
 */

/** `n` deterministic values in [-1, 1) from a linear congruential generator seeded by `seed`. */
export function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** The largest difference between `have` and `want`, relative to `want`'s largest magnitude. */
export function relative(want: ArrayLike<number>, have: ArrayLike<number>): number {
  if (have.length !== want.length) {
    throw new Error(`relative: ${have.length} values against ${want.length}`);
  }
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    diff = Math.max(diff, Math.abs(want[i] - have[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

/**
 * Throws unless `have` equals `want` bit for bit (NaN equal to NaN), naming the first difference
 * and the count; `assert.deepEqual` would spend minutes diffing long arrays instead.
 */
export function assertSameBits(want: Float32Array, have: Float32Array, what: string): void {
  if (have.length !== want.length) {
    throw new Error(`${what}: ${have.length} values against ${want.length}`);
  }
  let first = -1;
  let count = 0;
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(want[i], have[i])) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count > 0) {
    throw new Error(
      `${what}: ${count} of ${want.length} values differ, the first at ${first}: ` +
        `${have[first]} against ${want[first]}`,
    );
  }
}
