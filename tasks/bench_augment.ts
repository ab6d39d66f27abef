/**
 * Input-pipeline speed: augmented, normalised CIFAR-shaped batches per second on the current
 * tfjs backend, counting what a training step waits for: gathering the batch on the host,
 * uploading it, and the recipe's augmentation and normalisation on the device. Part of
 * `trainer bench`.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { benchAugmentation } from "./bench_augment.ts";
 * const { imagesPerSec } = await benchAugmentation({ batchSize: 8, batches: 1 });
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { cifarTrainTransform } from "../src/data/augment.ts";
import { ImageDataset } from "../src/data/image_dataset.ts";
import { CIFAR10_CLASS_NAMES } from "../src/data/cifar10.ts";
import { mulberry32 } from "../src/data/random.ts";

/** Options for {@link benchAugmentation}. */
export interface BenchAugmentationOptions {
  /** Images per batch (default 512, the recipe's batch). */
  batchSize?: number;
  /** Timed batches, after one untimed warm-up batch (default 10). */
  batches?: number;
  /** Image shape (default CIFAR's [32, 32, 3]). */
  imageShape?: readonly [number, number, number];
  /** Milliseconds clock (default `performance.now`); tests pin it. */
  clock?: () => number;
}

/** What {@link benchAugmentation} measured. */
export interface BenchAugmentationResult {
  /** Batches timed (the warm-up batch not counted). */
  batches: number;
  /** Augmented batches per second. */
  batchesPerSec: number;
  /** Augmented images per second. */
  imagesPerSec: number;
  /** The tfjs backend that ran it. */
  backend: string;
}

/**
 * Times the training input pipeline on random CIFAR-shaped uint8 data. Each batch is finished
 * (a one-number reduction is read back) before the next starts, as a training step would need it.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { benchAugmentation } from "./bench_augment.ts";
 * const r = await benchAugmentation({ batchSize: 4, batches: 2 });
 * console.log(`${r.batchesPerSec.toFixed(2)} batches/s on ${r.backend}`);
 * ```
 */
export async function benchAugmentation(
  opts: BenchAugmentationOptions = {},
): Promise<BenchAugmentationResult> {
  const batchSize = opts.batchSize ?? 512;
  const batches = opts.batches ?? 10;
  const [h, w, c] = opts.imageShape ?? [32, 32, 3];
  const clock = opts.clock ?? (() => performance.now());
  if (!(batchSize >= 1 && batches >= 1)) {
    throw new RangeError(`benchAugmentation: batchSize and batches must be ≥ 1`);
  }
  const rand = mulberry32(1);
  const pool = 2 * batchSize;
  const data = new ImageDataset({
    images: Uint8Array.from({ length: pool * h * w * c }, () => Math.floor(rand() * 256)),
    labels: Int32Array.from({ length: pool }, (_, i) => i % 10),
    imageShape: [h, w, c],
    classNames: CIFAR10_CLASS_NAMES,
    source: "benchmark data",
  });
  const transform = cifarTrainTransform({ seed: 0 });
  let steps = 0;
  const step = async (batch: number) => {
    steps++;
    const indices = Array.from({ length: batchSize }, () => Math.floor(rand() * pool));
    const raw = data.getBatch(indices);
    const sum = tf.tidy(() => {
      const x = tf.cast(tf.tensor4d(raw.images, [batchSize, h, w, c], "int32"), "float32");
      return tf.sum(transform(x as tf.Tensor4D, { epoch: 0, batch, training: true }));
    });
    await sum.data();
    sum.dispose();
  };
  await step(0);
  const start = clock();
  for (let b = 1; b <= batches; b++) await step(b);
  const seconds = (clock() - start) / 1000;
  return {
    batches: steps - 1,
    batchesPerSec: batches / seconds,
    imagesPerSec: (batches * batchSize) / seconds,
    backend: tf.getBackend(),
  };
}
