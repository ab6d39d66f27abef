/**
 * A learnable synthetic image set for tests and smoke runs: every class has its own seeded
 * pattern (a sum of coloured gratings), and each example is that pattern shifted by a few pixels
 * with uniform noise added. A small network separates the classes in a few steps; nothing is read
 * from disk.
 *
 * @example
 * ```ts
 * import { loadSynthetic } from "./synthetic.ts";
 * const { train, test } = loadSynthetic({ trainSize: 256, testSize: 64, imageShape: [32, 32, 3] });
 * ```
 *
 * @module
 */
import { ImageDataset } from "./image_dataset.ts";
import { type RandomSource, seededRandom } from "./random.ts";

/** Options for {@link syntheticDataset}. */
export interface SyntheticOptions {
  /** Number of examples (default 512). Labels cycle 0, 1, …, so classes are balanced. */
  length?: number;
  /** Number of classes (default 10); class names are "class0", "class1", …. */
  numClasses?: number;
  /** Image shape [height, width, channels] (default [32, 32, 3]). */
  imageShape?: readonly [number, number, number];
  /** Seed of the class patterns (default 0): datasets with the same seed share patterns. */
  seed?: number;
  /** Seed of the per-example shifts and noise (default 0): use another value for a test split. */
  sampleSeed?: number;
  /** Noise amplitude as a fraction of the 0–255 range (default 0.25). */
  noise?: number;
  /** Largest shift of the pattern, in pixels, each way (default 2). */
  maxShift?: number;
}

/** Per-class pattern: 0–255 values, HWC, before shift and noise. */
function classPatterns(
  numClasses: number,
  [h, w, c]: readonly [number, number, number],
  rand: RandomSource,
): Float32Array[] {
  const patterns: Float32Array[] = [];
  for (let k = 0; k < numClasses; k++) {
    const p = new Float32Array(h * w * c);
    const waves = Array.from({ length: 3 }, () => ({
      angle: rand() * Math.PI,
      freq: (0.5 + rand()) * 2 * Math.PI / Math.max(h, w),
      phase: rand() * 2 * Math.PI,
      colour: Array.from({ length: c }, () => rand() * 2 - 1),
    }));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          let v = 0;
          for (const g of waves) {
            const t = (x * Math.cos(g.angle) + y * Math.sin(g.angle)) * g.freq + g.phase;
            v += g.colour[ch] * Math.sin(t);
          }
          p[(y * w + x) * c + ch] = 127.5 + 127.5 * Math.tanh(v);
        }
      }
    }
    patterns.push(p);
  }
  return patterns;
}

/**
 * A synthetic uint8 dataset whose class k images are class k's pattern, shifted and noised.
 *
 * @example
 * ```ts
 * import { syntheticDataset } from "./synthetic.ts";
 * const ds = syntheticDataset({ length: 40, numClasses: 4, imageShape: [16, 16, 3], seed: 1 });
 * ds.labels[5]; // 1 (labels cycle through the classes)
 * ```
 */
export function syntheticDataset(opts: SyntheticOptions = {}): ImageDataset {
  const length = opts.length ?? 512;
  const numClasses = opts.numClasses ?? 10;
  const shape = opts.imageShape ?? [32, 32, 3];
  const seed = opts.seed ?? 0;
  const noise = (opts.noise ?? 0.25) * 255;
  const maxShift = opts.maxShift ?? 2;
  if (!Number.isInteger(length) || length < 0) {
    throw new RangeError(`syntheticDataset: length must be a whole number, got ${length}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(
      `syntheticDataset: numClasses must be a positive integer, got ${numClasses}`,
    );
  }
  const [h, w, c] = shape;
  const patterns = classPatterns(numClasses, shape, seededRandom(seed, 0x5eed));
  const rand = seededRandom(seed, 0xda7a, opts.sampleSeed ?? 0);
  const images = new Uint8Array(length * h * w * c);
  const labels = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const k = i % numClasses;
    labels[i] = k;
    const dy = Math.floor(rand() * (2 * maxShift + 1)) - maxShift;
    const dx = Math.floor(rand() * (2 * maxShift + 1)) - maxShift;
    const p = patterns[k];
    const out = i * h * w * c;
    for (let y = 0; y < h; y++) {
      // Shifts wrap around so every pixel keeps a pattern value.
      const sy = (y + dy + h) % h;
      for (let x = 0; x < w; x++) {
        const sx = (x + dx + w) % w;
        for (let ch = 0; ch < c; ch++) {
          const v = p[(sy * w + sx) * c + ch] + (rand() * 2 - 1) * noise;
          images[out + (y * w + x) * c + ch] = Math.min(255, Math.max(0, Math.round(v)));
        }
      }
    }
  }
  return new ImageDataset({
    images,
    labels,
    imageShape: [h, w, c],
    classNames: Array.from({ length: numClasses }, (_, k) => `class${k}`),
    source: `synthetic(seed ${seed})`,
  });
}

/** Options for {@link loadSynthetic}: those of {@link syntheticDataset} less the sizes. */
export interface LoadSyntheticOptions extends Omit<SyntheticOptions, "length" | "sampleSeed"> {
  /** Training examples (default 512). */
  trainSize?: number;
  /** Test examples (default 128). */
  testSize?: number;
}

/**
 * Training and test splits sharing class patterns, with independent shifts and noise.
 *
 * @example
 * ```ts
 * import { loadSynthetic } from "./synthetic.ts";
 * const { train, test } = loadSynthetic({ seed: 3 });
 * train.length + test.length; // 640
 * ```
 */
export function loadSynthetic(
  opts: LoadSyntheticOptions = {},
): { train: ImageDataset; test: ImageDataset } {
  const { trainSize = 512, testSize = 128, ...rest } = opts;
  return {
    train: syntheticDataset({ ...rest, length: trainSize, sampleSeed: 0 }),
    test: syntheticDataset({ ...rest, length: testSize, sampleSeed: 1 }),
  };
}
