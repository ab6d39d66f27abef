/**
 * The dataset contract: random access to labelled images, and the batch transform hook that
 * turns raw pixels into network input.
 *
 * @module
 */
import type { Tensor4D } from "../tensor_types.ts";

/** Raw pixels of a batch, NHWC, row-major, with int32 labels. */
export interface RawBatch {
  /** Pixels: uint8 (0–255) or float32 (already scaled), length N·H·W·C. */
  images: Uint8Array | Float32Array;
  /** Class indices, length N. */
  labels: Int32Array;
}

/** A finite, random-access set of labelled images of one shape. */
export interface Dataset {
  /** Number of examples. */
  readonly length: number;
  /** Shape of one image as [height, width, channels]. */
  readonly imageShape: readonly [number, number, number];
  /** Class names; their count is the number of classes. */
  readonly classNames: readonly string[];
  /** Copies the examples at `indices`, in that order, into one raw batch. */
  getBatch(indices: readonly number[]): RawBatch;
}

/** Where a batch sits in the run; transforms derive their random draws from it. */
export interface BatchContext {
  /** Epoch number from 0. */
  epoch: number;
  /** Batch index within the epoch from 0. */
  batch: number;
  /** True while training (augmentation on), false for evaluation and prediction. */
  training: boolean;
  /**
   * Place of the batch's first example within a larger batch it is a shard of (data-parallel
   * training, `src/dist/shard.ts`), so random draws can match the whole batch's (default 0).
   */
  offset?: number;
}

/**
 * Turns a raw NHWC batch (float32 on the device, still 0–255 when the source was uint8) into the
 * network input. Must be deterministic for a given context so that resumed runs draw the same
 * augmentation.
 */
export type BatchTransform = (images: Tensor4D, ctx: BatchContext) => Tensor4D;
