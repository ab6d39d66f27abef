/**
 * The recipe's training augmentation, done on the device as batched tensor ops with an
 * independent draw per image, and the normalisation shared by training and evaluation.
 *
 * Order, per image: random crop from the image zero-padded by 4 → brightness (p 0.5, factor
 * U[0.9, 1.1], clipped) → contrast (p 0.5, blend with the mean grey level, factor U[0.9, 1.1],
 * clipped) → horizontal flip (p 0.5) → rotation by U[−15°, 15°] about the centre, nearest
 * neighbour, zero fill; then ÷255 and per-channel normalisation. Pixels stay in 0–255 (no
 * rounding) until the final scaling, so "clip" means clip to [0, 255].
 *
 * Conventions, fixed so that a plain per-image implementation can be checked against this one:
 * - Random draws come from {@link seededRandom}(seed, epoch, batch); each image takes eight
 *   numbers in the order of {@link AugmentDraws}' fields, whether or not a step applies.
 * - The grey level is ITU-R 601 luma, 0.299 R + 0.587 G + 0.114 B (the plain channel mean for
 *   images that do not have three channels), averaged over the whole cropped image.
 * - Nearest neighbour rounds half up: source index `floor(s + 0.5)`.
 * - Rotation is about the centre of the pixel grid, ((W − 1)/2, (H − 1)/2) in pixel indices;
 *   a positive angle turns the picture counter-clockwise as displayed (rows running downwards).
 *   Output pixel (x, y) reads source (cx + cos·dx − sin·dy, cy + sin·dx + cos·dy) with
 *   dx = x − cx, dy = y − cy.
 *
 * - Flip and rotation run as one resampling (flip folded into the rotation's affine map); this
 *   equals flipping then rotating except where a source coordinate sits exactly on a rounding tie.
 *
 * How: crop, flip and rotation are per-image affine maps; one matMul of the maps with the pixel
 * grid gives every source coordinate, and a batched `tf.gather` moves the pixels (points outside
 * read an appended zero pixel). Brightness and contrast are per-image scale-and-shift.
 * `tf.image.transform` is not used: its tfjs 4.22 CPU kernel returns after the first image of a
 * batch (the rest stay fill value). `tf.reverse` and middle-axis slices are avoided, and on the
 * CPU backend leading-axis broadcasts too: it runs them through a slow generic path.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { cifarTrainTransform } from "./augment.ts";
 * const transform = cifarTrainTransform({ seed: 1 });
 * const raw = tf.fill([8, 32, 32, 3], 128) as tf.Tensor4D; // float32, 0–255
 * const input = transform(raw, { epoch: 0, batch: 3, training: true }); // augmented, normalised
 * tf.dispose([raw, input]);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Tensor1D, Tensor4D } from "../tensor_types.ts";
import type { BatchContext, BatchTransform } from "./dataset.ts";
import { CIFAR10_MEAN, CIFAR10_STD } from "./cifar10.ts";
import { type RandomSource, seededRandom } from "./random.ts";

/** Parameters of the augmentation; {@link RECIPE_AUGMENTATION} holds the recipe's values. */
export interface AugmentConfig {
  /** Zero padding on every side before the random crop back to the input size. */
  pad: number;
  /** Probability that brightness is adjusted. */
  brightnessProbability: number;
  /** Brightness factor range [low, high]. */
  brightnessRange: readonly [number, number];
  /** Probability that contrast is adjusted. */
  contrastProbability: number;
  /** Contrast factor range [low, high]. */
  contrastRange: readonly [number, number];
  /** Probability of a horizontal flip. */
  flipProbability: number;
  /** Rotation angles are uniform in [−maxAngleDegrees, maxAngleDegrees]. */
  maxAngleDegrees: number;
  /** Top of the pixel range that brightness and contrast clip to (0–255 pixels: 255). */
  maxValue: number;
}

/** The recipe's augmentation: pad 4, brightness and contrast 0.9–1.1 at p 0.5, flip p 0.5, ±15°. */
export const RECIPE_AUGMENTATION: Readonly<AugmentConfig> = Object.freeze({
  pad: 4,
  brightnessProbability: 0.5,
  brightnessRange: [0.9, 1.1] as const,
  contrastProbability: 0.5,
  contrastRange: [0.9, 1.1] as const,
  flipProbability: 0.5,
  maxAngleDegrees: 15,
  maxValue: 255,
});

/** One batch's random draws, one entry per image. */
export interface AugmentDraws {
  /** Column of the crop's left edge in the padded image, 0 … 2·pad. */
  cropX: Int32Array;
  /** Row of the crop's top edge in the padded image, 0 … 2·pad. */
  cropY: Int32Array;
  /** 1 where brightness is adjusted. */
  brightnessOn: Uint8Array;
  /** Brightness factor (used only where brightnessOn is 1). */
  brightness: Float32Array;
  /** 1 where contrast is adjusted. */
  contrastOn: Uint8Array;
  /** Contrast factor (used only where contrastOn is 1). */
  contrast: Float32Array;
  /** 1 where the image is flipped left to right. */
  flip: Uint8Array;
  /** Rotation angle in radians, positive = counter-clockwise as displayed. */
  angle: Float32Array;
}

// Random numbers each image takes from its batch's source (the fields of AugmentDraws).
const DRAWS_PER_IMAGE = 8;

/**
 * Draws one batch's augmentation parameters: eight numbers per image, in field order.
 *
 * @example
 * ```ts
 * import { drawAugmentation } from "./augment.ts";
 * import { seededRandom } from "./random.ts";
 * const d = drawAugmentation(4, seededRandom(0, 0, 0));
 * d.cropX.length; // 4
 * ```
 */
export function drawAugmentation(
  n: number,
  rand: RandomSource,
  config: Readonly<AugmentConfig> = RECIPE_AUGMENTATION,
): AugmentDraws {
  const d: AugmentDraws = {
    cropX: new Int32Array(n),
    cropY: new Int32Array(n),
    brightnessOn: new Uint8Array(n),
    brightness: new Float32Array(n),
    contrastOn: new Uint8Array(n),
    contrast: new Float32Array(n),
    flip: new Uint8Array(n),
    angle: new Float32Array(n),
  };
  const span = 2 * config.pad + 1;
  const [bLo, bHi] = config.brightnessRange;
  const [cLo, cHi] = config.contrastRange;
  const maxAngle = config.maxAngleDegrees * Math.PI / 180;
  for (let i = 0; i < n; i++) {
    d.cropX[i] = Math.floor(rand() * span);
    d.cropY[i] = Math.floor(rand() * span);
    d.brightnessOn[i] = rand() < config.brightnessProbability ? 1 : 0;
    d.brightness[i] = bLo + (bHi - bLo) * rand();
    d.contrastOn[i] = rand() < config.contrastProbability ? 1 : 0;
    d.contrast[i] = cLo + (cHi - cLo) * rand();
    d.flip[i] = rand() < config.flipProbability ? 1 : 0;
    d.angle[i] = (2 * rand() - 1) * maxAngle;
  }
  return d;
}

function checkLength(name: string, values: ArrayLike<number>, n: number): void {
  if (values.length !== n) {
    throw new RangeError(`augmentation: ${name} has ${values.length} values for a batch of ${n}`);
  }
}

/**
 * Multiplies image i by `scale[i]` and adds `offset[i]`; a scale of 1 with offset 0 leaves the
 * pixels exactly as they were. On the CPU backend this is a batched matMul of [N, P, 2]
 * pixels-and-ones by [N, 2, 1], because its leading-axis broadcast is ~6× slower; on GPU backends
 * the plain broadcast is the fast one (that matMul shape runs ~100× slower there).
 */
function scaleShift(images: Tensor4D, scale: Tensor1D, offset: Tensor1D): Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = images.shape;
    if (tf.getBackend() !== "cpu") {
      const s = tf.reshape(scale, [n, 1, 1, 1]);
      return tf.add(tf.mul(images, s), tf.reshape(offset, [n, 1, 1, 1])) as Tensor4D;
    }
    const p = h * w * c;
    const x = tf.reshape(images, [n, p, 1]);
    const withOnes = tf.concat([x, tf.ones([n, p, 1])], 2);
    const coef = tf.reshape(tf.stack([scale, offset], 1), [n, 2, 1]);
    return tf.reshape(tf.matMul(withOnes, coef), [n, h, w, c]) as Tensor4D;
  });
}

/**
 * Nearest-neighbour resampling by per-image affine maps: output pixel (x, y) of image i reads
 * source (x', y') = maps[i] · (x, y, 1), rounded half up, or 0 outside the image. `maps` holds six
 * numbers per image, row-major [[a, b, c], [d, e, f]].
 */
function resampleAffine(images: Tensor4D, maps: Float32Array): Tensor4D {
  const [n, h, w, c] = images.shape;
  return tf.tidy(() => {
    const hw = h * w;
    const grid = new Float32Array(3 * hw);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        grid[y * w + x] = x;
        grid[hw + y * w + x] = y;
        grid[2 * hw + y * w + x] = 1;
      }
    }
    const gridT = tf.tensor2d(grid, [3, hw]);
    // Two products rather than one split: slicing the middle axis is slow on the CPU backend.
    const source = (row: number) => {
      const m = Float32Array.from(
        { length: 3 * n },
        (_, k) => maps[6 * Math.floor(k / 3) + 3 * row + (k % 3)],
      );
      return tf.cast(tf.floor(tf.add(tf.matMul(tf.tensor2d(m, [n, 3]), gridT), 0.5)), "int32");
    };
    const cols = source(0);
    const rows = source(1);
    const inside = tf.logicalAnd(
      tf.logicalAnd(tf.greaterEqual(cols, 0), tf.less(cols, w)),
      tf.logicalAnd(tf.greaterEqual(rows, 0), tf.less(rows, h)),
    );
    const flat = tf.add(tf.mul(rows, tf.scalar(w, "int32")), cols);
    // Outside points read an appended zero pixel at index h·w of their image.
    const index = tf.reshape(tf.where(inside, flat, tf.fill(flat.shape, hw, "int32")), [n, hw]);
    const padded = tf.concat(
      [tf.reshape(images, [n, hw, c]), tf.zeros([n, 1, c], images.dtype)],
      1,
    );
    return tf.reshape(tf.gather(padded, index, 1, 1), [n, h, w, c]) as Tensor4D;
  });
}

/** Affine rows mapping output (x, y) to source, for rotation by `angle` after an optional flip. */
function rotationMap(angle: number, flip: boolean, w: number, h: number): number[] {
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  // Rotation source: (cx + cos·dx − sin·dy, cy + sin·dx + cos·dy); the flip then reads column
  // w − 1 − x' = cx − (cos·dx − sin·dy).
  const sx = flip ? -1 : 1;
  return [
    sx * cos,
    -sx * sin,
    cx - sx * (cos * cx - sin * cy),
    sin,
    cos,
    cy - sin * cx - cos * cy,
  ];
}

/**
 * Crops each image from itself zero-padded by `pad`: output pixel (y, x) is padded pixel
 * (y + cropY, x + cropX), i.e. source (y + cropY − pad, x + cropX − pad), 0 outside.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { randomCrop } from "./augment.ts";
 * const y = randomCrop(tf.ones([1, 4, 4, 1]), Int32Array.of(0), Int32Array.of(0), 1);
 * ```
 */
export function randomCrop(
  images: Tensor4D,
  cropX: ArrayLike<number>,
  cropY: ArrayLike<number>,
  pad: number,
): Tensor4D {
  const n = images.shape[0];
  checkLength("cropX", cropX, n);
  checkLength("cropY", cropY, n);
  const maps = new Float32Array(6 * n);
  for (let i = 0; i < n; i++) maps.set([1, 0, cropX[i] - pad, 0, 1, cropY[i] - pad], 6 * i);
  return resampleAffine(images, maps);
}

/**
 * Where `on[i]` is 1, multiplies image i by `factor[i]` and clips to [0, maxValue]. Pixels are
 * expected within [0, maxValue].
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { adjustBrightness } from "./augment.ts";
 * const y = adjustBrightness(tf.fill([1, 2, 2, 3], 250), [1.1], [1]); // all 255
 * ```
 */
export function adjustBrightness(
  images: Tensor4D,
  factor: ArrayLike<number>,
  on: ArrayLike<number>,
  maxValue = 255,
): Tensor4D {
  const n = images.shape[0];
  checkLength("brightness factor", factor, n);
  checkLength("brightness flags", on, n);
  return tf.tidy(() => {
    const scale = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => on[i] ? factor[i] : 1));
    const shifted = scaleShift(images, scale, tf.zeros([n]));
    return tf.clipByValue(shifted, 0, maxValue);
  });
}

/**
 * Mean grey level per image, [N]: ITU-R 601 luma for three channels, the plain channel mean
 * otherwise.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { meanGrey } from "./augment.ts";
 * meanGrey(tf.fill([1, 2, 2, 3], 10)).dataSync(); // [10]
 * ```
 */
export function meanGrey(images: Tensor4D): Tensor1D {
  const [n, h, w, c] = images.shape;
  return tf.tidy(() => {
    if (c !== 3) return tf.mean(tf.reshape(images, [n, h * w * c]), 1) as Tensor1D;
    const luma = tf.matMul(
      tf.reshape(images, [n * h * w, 3]),
      tf.tensor2d([0.299, 0.587, 0.114], [3, 1]),
    );
    return tf.mean(tf.reshape(luma, [n, h * w]), 1) as Tensor1D;
  });
}

/**
 * Where `on[i]` is 1, blends image i with its mean grey level m: m + f·(x − m), clipped to
 * [0, maxValue]. Pixels are expected within [0, maxValue].
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { adjustContrast } from "./augment.ts";
 * const y = adjustContrast(tf.fill([1, 2, 2, 3], 100), [0.9], [1]); // unchanged: x equals m
 * ```
 */
export function adjustContrast(
  images: Tensor4D,
  factor: ArrayLike<number>,
  on: ArrayLike<number>,
  maxValue = 255,
): Tensor4D {
  const n = images.shape[0];
  checkLength("contrast factor", factor, n);
  checkLength("contrast flags", on, n);
  return tf.tidy(() => {
    const f = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => on[i] ? factor[i] : 1));
    // m + f·(x − m) = f·x + (1 − f)·m; f = 1 leaves an image exactly as it was.
    const offset = tf.mul(tf.sub(1, f), meanGrey(images)) as Tensor1D;
    return tf.clipByValue(scaleShift(images, f, offset), 0, maxValue);
  });
}

/**
 * Mirrors image i left to right where `flip[i]` is 1.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { flipHorizontal } from "./augment.ts";
 * const y = flipHorizontal(tf.tensor4d([1, 2], [1, 1, 2, 1]), [1]); // [2, 1]
 * ```
 */
export function flipHorizontal(images: Tensor4D, flip: ArrayLike<number>): Tensor4D {
  return flipAndRotate(images, flip, new Float32Array(images.shape[0]));
}

/**
 * Rotates image i by `angle[i]` radians (positive = counter-clockwise as displayed) about the
 * centre of its pixel grid, nearest neighbour (half up), zero fill.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { rotate } from "./augment.ts";
 * const y = rotate(tf.ones([2, 8, 8, 3]), [0.1, -0.2]);
 * ```
 */
export function rotate(images: Tensor4D, angle: ArrayLike<number>): Tensor4D {
  return flipAndRotate(images, new Uint8Array(images.shape[0]), angle);
}

/**
 * Flips (where `flip[i]` is 1) and then rotates each image, in one resampling pass.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { flipAndRotate } from "./augment.ts";
 * const y = flipAndRotate(tf.ones([2, 8, 8, 3]), [1, 0], [0.1, -0.2]);
 * ```
 */
export function flipAndRotate(
  images: Tensor4D,
  flip: ArrayLike<number>,
  angle: ArrayLike<number>,
): Tensor4D {
  const [n, h, w] = images.shape;
  checkLength("flip flags", flip, n);
  checkLength("angles", angle, n);
  const maps = new Float32Array(6 * n);
  for (let i = 0; i < n; i++) maps.set(rotationMap(angle[i], flip[i] === 1, w, h), 6 * i);
  return resampleAffine(images, maps);
}

/**
 * Applies every augmentation step in the recipe's order with the given draws. Pixels in and out
 * are 0–maxValue; nothing is scaled or normalised here.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { augmentBatch, drawAugmentation } from "./augment.ts";
 * import { seededRandom } from "./random.ts";
 * const x = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
 * const y = augmentBatch(x, drawAugmentation(2, seededRandom(0)));
 * ```
 */
export function augmentBatch(
  images: Tensor4D,
  draws: AugmentDraws,
  config: Readonly<AugmentConfig> = RECIPE_AUGMENTATION,
): Tensor4D {
  return tf.tidy(() => {
    let x = tf.cast(images, "float32") as Tensor4D;
    x = randomCrop(x, draws.cropX, draws.cropY, config.pad);
    x = adjustBrightness(x, draws.brightness, draws.brightnessOn, config.maxValue);
    x = adjustContrast(x, draws.contrast, draws.contrastOn, config.maxValue);
    return flipAndRotate(x, draws.flip, draws.angle);
  });
}

/** Options for {@link normalize}. */
export interface NormalizeOptions {
  /** Divisor that brings pixels to [0, 1] first (default 255; 1 for data already scaled). */
  scale?: number;
}

/**
 * A transform that scales pixels (÷255 by default) and normalises each channel:
 * (x/scale − mean[c]) / std[c]. One value of mean and std applies to every channel.
 *
 * @example
 * ```ts
 * import { normalize } from "./augment.ts";
 * const t = normalize([0.5071, 0.4865, 0.4409], [0.1942, 0.1918, 0.1958]);
 * ```
 */
export function normalize(
  mean: readonly number[],
  std: readonly number[],
  opts: NormalizeOptions = {},
): BatchTransform {
  if (mean.length !== std.length || mean.length === 0) {
    throw new RangeError(
      `normalize: mean and std need the same non-zero length, got ${mean.length} and ${std.length}`,
    );
  }
  if (std.some((s) => !(s > 0))) throw new RangeError(`normalize: std must be positive: [${std}]`);
  const scale = opts.scale ?? 255;
  return (images: Tensor4D) => {
    const c = images.shape[3];
    if (mean.length !== 1 && mean.length !== c) {
      throw new RangeError(
        `normalize: images have ${c} channels but mean and std have ${mean.length} values`,
      );
    }
    return tf.tidy(() => {
      const x = tf.div(tf.cast(images, "float32"), scale);
      return tf.div(tf.sub(x, tf.tensor1d([...mean])), tf.tensor1d([...std])) as Tensor4D;
    });
  };
}

/** Options for {@link cifarTrainTransform} and {@link cifarEvalTransform}. */
export interface CifarTransformOptions {
  /** Seed of the augmentation draws (default 0); draws come from (seed, epoch, batch). */
  seed?: number;
  /** Per-channel mean after ÷255 (default the recipe's CIFAR-10 mean). */
  mean?: readonly number[];
  /** Per-channel standard deviation after ÷255 (default the recipe's CIFAR-10 std). */
  std?: readonly number[];
  /** Changes to the recipe's augmentation (default none). */
  augment?: Partial<AugmentConfig>;
}

/**
 * The recipe's training transform: augmentation drawn from (seed, epoch, batch), then ÷255 and
 * normalisation. When `ctx.training` is false it only scales and normalises, like
 * {@link cifarEvalTransform}.
 *
 * @example
 * ```ts
 * import { cifarTrainTransform } from "./augment.ts";
 * const transform = cifarTrainTransform({ seed: 7 });
 * ```
 */
export function cifarTrainTransform(opts: CifarTransformOptions = {}): BatchTransform {
  const seed = opts.seed ?? 0;
  const config: AugmentConfig = { ...RECIPE_AUGMENTATION, ...opts.augment };
  const norm = normalize(opts.mean ?? CIFAR10_MEAN, opts.std ?? CIFAR10_STD, {
    scale: config.maxValue,
  });
  return (images: Tensor4D, ctx: BatchContext) => {
    if (!ctx.training) return norm(images, ctx);
    const rand = seededRandom(seed, ctx.epoch, ctx.batch);
    // A shard of a larger batch skips the draws of the examples before it.
    for (let i = 0; i < DRAWS_PER_IMAGE * (ctx.offset ?? 0); i++) rand();
    const draws = drawAugmentation(images.shape[0], rand, config);
    return tf.tidy(() => norm(augmentBatch(images, draws, config), ctx));
  };
}

/**
 * The recipe's evaluation transform: ÷255 and per-channel normalisation only.
 *
 * @example
 * ```ts
 * import { cifarEvalTransform } from "./augment.ts";
 * const transform = cifarEvalTransform();
 * ```
 */
export function cifarEvalTransform(
  opts: Pick<CifarTransformOptions, "mean" | "std"> = {},
): BatchTransform {
  return normalize(opts.mean ?? CIFAR10_MEAN, opts.std ?? CIFAR10_STD);
}
