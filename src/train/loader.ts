/**
 * The data loader: turns a {@linkcode Dataset} into batches of tensors for one epoch at a time.
 *
 * The shuffle order of an epoch is a pure function of `(seed, epoch)`, and a batch's transform
 * context is `(epoch, batch, training)`, so a run resumed at any epoch (or batch) sees exactly the
 * batches an uninterrupted run would have seen.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { DataLoader } from "./loader.ts";
 * import { syntheticDataset } from "../data/synthetic.ts";
 *
 * const trainSet = syntheticDataset({ length: 10 });
 * const loader = new DataLoader(trainSet, { batchSize: 4, shuffle: true, seed: 0 });
 * for await (const { images, labels } of loader.batches(0)) {
 *   // ... use them, then:
 *   images.dispose();
 *   labels.dispose();
 * }
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Tensor1D, Tensor4D } from "../tensor_types.ts";
import type { BatchTransform, Dataset } from "../data/dataset.ts";
import { seededRandom } from "../data/random.ts";
import { hostBuffer } from "../backend/host_buffers.ts";

/** `x / 255` for each byte value, rounded once to float32 as a float32 division rounds it. */
const UNIT_RANGE = Float32Array.from({ length: 256 }, (_, x) => x / 255);

/**
 * Pixels 0–255 to [0, 1] in one pass through a table: the values `tf.div(x, 255)` gives, without
 * a float32 copy of the batch and a kernel over it. Writes into `out` (every element).
 */
export function toUnitRange(
  pixels: Uint8Array,
  out: Float32Array = new Float32Array(pixels.length),
): Float32Array {
  for (let i = 0; i < pixels.length; i++) out[i] = UNIT_RANGE[pixels[i]];
  return out;
}

/** Pixels 0–255 as floats, unscaled, into `out` (every element). */
function toFloats(pixels: Uint8Array, out: Float32Array): Float32Array {
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i];
  return out;
}

/** Options of {@linkcode DataLoader}. */
export interface DataLoaderOptions {
  /** Examples per batch. */
  batchSize: number;
  /** Reshuffle every epoch (default true). */
  shuffle?: boolean;
  /** Drop the last partial batch (default false: the recipe keeps it). */
  dropLast?: boolean;
  /** Seed of the shuffle order (default 0). */
  seed?: number;
  /**
   * Turns the raw batch (float32, still 0–255 when the dataset is uint8) into network input.
   * Default: divide by 255 when the dataset is uint8, otherwise pass through.
   */
  transform?: BatchTransform;
  /** Passed to the transform as `ctx.training` (default true: augmentation on). */
  training?: boolean;
}

/** One batch of a {@linkcode DataLoader}; the consumer disposes both tensors. */
export interface Batch {
  /** Network input, NHWC float32. */
  images: Tensor4D;
  /** Class indices, int32. */
  labels: Tensor1D;
  /** Number of examples. */
  size: number;
  /** Batch index within the epoch from 0. */
  index: number;
}

/**
 * The order in which an epoch visits the examples: `0..length-1`, Fisher–Yates shuffled by
 * `seededRandom(seed, epoch)` when `shuffle` is true.
 */
export function epochOrder(length: number, seed: number, epoch: number, shuffle = true): number[] {
  const order = Array.from({ length }, (_, i) => i);
  if (!shuffle) return order;
  const rand = seededRandom(seed, epoch);
  for (let i = length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Batches of a dataset, reproducible per epoch. */
export class DataLoader {
  /** The dataset read from. */
  readonly dataset: Dataset;
  /** Examples per batch. */
  readonly batchSize: number;
  /** Whether each epoch is shuffled. */
  readonly shuffle: boolean;
  /** Whether the last partial batch is dropped. */
  readonly dropLast: boolean;
  /** Shuffle seed. */
  readonly seed: number;
  /** `ctx.training` given to the transform. */
  readonly training: boolean;
  /** Batches per epoch. */
  readonly stepsPerEpoch: number;
  readonly #transform: BatchTransform | undefined;

  /**
   * Creates a loader over `ds`; nothing is read until `batches` is iterated.
   *
   * @param ds The dataset.
   * @param opts See {@linkcode DataLoaderOptions}.
   */
  constructor(ds: Dataset, opts: DataLoaderOptions) {
    const { batchSize, shuffle = true, dropLast = false, seed = 0, training = true } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`DataLoader: batchSize must be an integer >= 1, got ${batchSize}`);
    }
    if (ds.length < 1) throw new Error("DataLoader: the dataset is empty");
    this.dataset = ds;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed;
    this.training = training;
    this.#transform = opts.transform;
    this.stepsPerEpoch = dropLast
      ? Math.floor(ds.length / batchSize)
      : Math.ceil(ds.length / batchSize);
    if (this.stepsPerEpoch < 1) {
      throw new Error(
        `DataLoader: dropLast with batchSize ${batchSize} leaves no batch of the ${ds.length} examples`,
      );
    }
  }

  /** Number of examples one epoch visits. */
  get samplesPerEpoch(): number {
    return this.dropLast ? this.stepsPerEpoch * this.batchSize : this.dataset.length;
  }

  /** Batches of `epoch`, starting at batch `startBatch` (for resuming inside an epoch). */
  async *batches(epoch: number, startBatch = 0): AsyncIterable<Batch> {
    if (!Number.isInteger(startBatch) || startBatch < 0 || startBatch > this.stepsPerEpoch) {
      throw new Error(
        `DataLoader: startBatch must be in [0, ${this.stepsPerEpoch}], got ${startBatch}`,
      );
    }
    const order = epochOrder(this.dataset.length, this.seed, epoch, this.shuffle);
    const [h, w, c] = this.dataset.imageShape;
    for (let index = startBatch; index < this.stepsPerEpoch; index++) {
      const indices = order.slice(index * this.batchSize, (index + 1) * this.batchSize);
      const raw = this.dataset.getBatch(indices);
      const size = indices.length;
      const isUint8 = raw.images instanceof Uint8Array;
      if (raw.images.length !== size * h * w * c || raw.labels.length !== size) {
        throw new Error(
          `DataLoader: getBatch returned ${raw.images.length} pixels and ${raw.labels.length} ` +
            `labels for ${size} images of shape [${h},${w},${c}]`,
        );
      }
      const transform = this.#transform;
      // A uint8 batch becomes floats in a buffer the backend recycles (see host_buffers.ts).
      const pixels = !isUint8
        ? raw.images as Float32Array
        : transform
        ? toFloats(raw.images as Uint8Array, hostBuffer(raw.images.length))
        : toUnitRange(raw.images as Uint8Array, hostBuffer(raw.images.length));
      const images = transform
        ? tf.tidy(() =>
          transform(tf.tensor4d(pixels, [size, h, w, c], "float32"), {
            epoch,
            batch: index,
            training: this.training,
          })
        )
        : tf.tensor4d(pixels, [size, h, w, c], "float32");
      const labels = tf.tensor1d(raw.labels, "int32");
      yield { images, labels, size, index };
    }
  }
}
