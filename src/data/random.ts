/**
 * Small seeded random number generators for data work: reproducible draws derived from a tuple
 * of integers such as (seed, epoch, batch), so that a resumed run repeats the same augmentation.
 *
 * @example
 * ```ts
 * import { seededRandom } from "./random.ts";
 * const rand = seededRandom(42, 3, 17); // seed 42, epoch 3, batch 17
 * const u = rand(); // uniform in [0, 1)
 * ```
 *
 * @module
 */

/** A generator of uniform numbers in [0, 1). */
export type RandomSource = () => number;

/** Mixes one 32-bit value into a running hash (the 32-bit finaliser of MurmurHash3). */
function mix32(h: number, value: number): number {
  let k = Math.imul(value | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  return h;
}

function finalize32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hashes a tuple of integers into one 32-bit seed. Different tuples give unrelated seeds, so
 * `(seed, epoch, batch)` streams do not overlap the way `seed + batch` would.
 *
 * @example
 * ```ts
 * import { hashSeed } from "./random.ts";
 * hashSeed(0, 1, 2) !== hashSeed(0, 2, 1); // true
 * ```
 */
export function hashSeed(...parts: readonly number[]): number {
  let h = 0x9747b28c;
  for (const p of parts) {
    if (!Number.isSafeInteger(p)) {
      throw new RangeError(`hashSeed: every part must be a safe integer, got ${p}`);
    }
    // Both halves of values beyond 32 bits take part, so seeds like 2**32 + 1 and 1 differ.
    h = mix32(h, p % 0x100000000);
    h = mix32(h, Math.floor(p / 0x100000000));
  }
  return finalize32(h ^ (parts.length * 4));
}

/**
 * Mulberry32: a fast 32-bit generator with a full 2^32 period, ample for per-batch draws.
 *
 * @example
 * ```ts
 * import { mulberry32 } from "./random.ts";
 * const rand = mulberry32(7);
 * rand() === mulberry32(7)(); // true
 * ```
 */
export function mulberry32(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A generator seeded by a tuple of integers, e.g. `(seed, epoch, batch)`.
 *
 * @example
 * ```ts
 * import { seededRandom } from "./random.ts";
 * const a = seededRandom(1, 0, 5)();
 * const b = seededRandom(1, 0, 5)();
 * a === b; // true
 * ```
 */
export function seededRandom(...parts: readonly number[]): RandomSource {
  return mulberry32(hashSeed(...parts));
}
