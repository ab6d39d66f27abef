/**
 * An in-memory {@link Dataset}: NHWC pixels in one typed array and int32 labels. CIFAR-10, the
 * digits, the synthetic set and `.npy` arrays all load into this one class.
 *
 * @example
 * ```ts
 * import { ImageDataset } from "./image_dataset.ts";
 * const ds = new ImageDataset({
 *   images: new Uint8Array(2 * 2 * 2 * 1),
 *   labels: new Int32Array([0, 1]),
 *   imageShape: [2, 2, 1],
 *   classNames: ["a", "b"],
 * });
 * ds.getBatch([1, 0]).labels; // Int32Array [1, 0]
 * ```
 *
 * @module
 */
import type { Dataset, RawBatch } from "./dataset.ts";

/** What an {@link ImageDataset} is built from. */
export interface ImageDatasetInit {
  /** Pixels NHWC, row-major: uint8 (0–255) or float32 (already scaled). */
  images: Uint8Array | Float32Array;
  /** Class index of every example. */
  labels: Int32Array;
  /** Shape of one image as [height, width, channels]. */
  imageShape: readonly [number, number, number];
  /** Class names; every label must index into them. */
  classNames: readonly string[];
  /** Where the data came from, for error messages (default "<memory>"). */
  source?: string;
}

/** A finite set of labelled images held in memory. */
export class ImageDataset implements Dataset {
  /** Number of examples. */
  readonly length: number;
  /** Shape of one image as [height, width, channels]. */
  readonly imageShape: readonly [number, number, number];
  /** Class names; their count is the number of classes. */
  readonly classNames: readonly string[];
  /** Where the data came from. */
  readonly source: string;
  /** All pixels, NHWC. */
  readonly images: Uint8Array | Float32Array;
  /** All labels. */
  readonly labels: Int32Array;

  /** Checks that sizes, shape and labels agree; throws a RangeError naming the source if not. */
  constructor(init: ImageDatasetInit) {
    const source = init.source ?? "<memory>";
    const [h, w, c] = init.imageShape;
    for (const d of init.imageShape) {
      if (!Number.isInteger(d) || d < 1) {
        throw new RangeError(
          `${source}: image shape [${init.imageShape}] must be positive integers`,
        );
      }
    }
    const n = init.labels.length;
    if (init.images.length !== n * h * w * c) {
      throw new RangeError(
        `${source}: ${init.images.length} pixel values do not make ${n} images of ` +
          `${h}×${w}×${c} (expected ${n * h * w * c})`,
      );
    }
    const k = init.classNames.length;
    if (k < 1) throw new RangeError(`${source}: at least one class name is needed`);
    for (let i = 0; i < n; i++) {
      const y = init.labels[i];
      if (y < 0 || y >= k) {
        throw new RangeError(`${source}: label ${y} of example ${i} is outside 0–${k - 1}`);
      }
    }
    this.length = n;
    this.imageShape = [h, w, c];
    this.classNames = [...init.classNames];
    this.source = source;
    this.images = init.images;
    this.labels = init.labels;
  }

  /** Copies the examples at `indices`, in that order, into one raw batch. */
  getBatch(indices: readonly number[]): RawBatch {
    const [h, w, c] = this.imageShape;
    const size = h * w * c;
    const images = this.images instanceof Uint8Array
      ? new Uint8Array(indices.length * size)
      : new Float32Array(indices.length * size);
    const labels = new Int32Array(indices.length);
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j];
      if (!Number.isInteger(i) || i < 0 || i >= this.length) {
        throw new RangeError(`${this.source}: index ${i} is outside 0–${this.length - 1}`);
      }
      images.set(this.images.subarray(i * size, (i + 1) * size), j * size);
      labels[j] = this.labels[i];
    }
    return { images, labels };
  }

  /** Examples per class, indexed by class. */
  classCounts(): number[] {
    const counts = new Array<number>(this.classNames.length).fill(0);
    for (const y of this.labels) counts[y]++;
    return counts;
  }
}
