/**
 * Sharding of every global batch over the ranks: all ranks walk the same seeded permutation in
 * global batches of `--batch-size`, and rank `r` of `n` takes the contiguous slice
 * `[⌊r·B/n⌋, ⌊(r+1)·B/n⌋)` of each. The shards are disjoint, their union is the batch, and a
 * run's batches do not depend on the number of ranks, so a checkpoint's position (epoch, batch)
 * means the same under any rank count.
 *
 * The transform (augmentation) sees the shard with `ctx.offset` set to its first example's place
 * in the global batch, so every example gets the random draws it would get in one process.
 *
 * Training steps are collective (every rank must take each one), so a last partial training
 * batch with fewer examples than ranks is dropped; evaluation has no per-batch collective, and
 * a rank whose shard of an evaluation batch is empty simply skips it.
 *
 * @example
 * ```ts
 * import { shardRange } from "./shard.ts";
 * shardRange(32, 1, 2); // [16, 32]
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BatchTransform, Dataset } from "../data/dataset.ts";
import { type Batch, DataLoader, type DataLoaderOptions, epochOrder } from "../train/loader.ts";

/** `[start, end)` of rank `rank`'s shard of a global batch of `batch` examples over `size` ranks. */
export function shardRange(batch: number, rank: number, size: number): [number, number] {
  return [Math.floor(rank * batch / size), Math.floor((rank + 1) * batch / size)];
}

/** The current step's shard sizes, shared by the loader (writer) and the reductions (readers). */
export class ShardState {
  /** Examples of this rank in the current batch. */
  local = 0;
  /** Examples of the current global batch. */
  global = 0;

  /** This rank's share of the global batch, the weight of its gradient in the average. */
  get weight(): number {
    return this.global > 0 ? this.local / this.global : 0;
  }
}

/** Options of {@linkcode ShardedLoader}. */
export interface ShardedLoaderOptions extends DataLoaderOptions {
  /** This process's rank. */
  rank: number;
  /** Number of ranks. */
  size: number;
  /** Updated with the sizes of each batch as it is yielded (default: a new one). */
  state?: ShardState;
}

/**
 * A {@linkcode DataLoader} whose batches are this rank's shard of each global batch;
 * `batchSize`, `stepsPerEpoch` and `samplesPerEpoch` stay those of the global batches.
 */
export class ShardedLoader extends DataLoader {
  /** This process's rank. */
  readonly rank: number;
  /** Number of ranks. */
  readonly size: number;
  /** The sizes of the batch most recently yielded. */
  readonly state: ShardState;
  /** Global batches per epoch (a training loader may drop a last batch too small to shard). */
  override readonly stepsPerEpoch: number;
  readonly #transform: BatchTransform | undefined;

  /**
   * Creates the loader; throws when the global batch is smaller than the number of ranks.
   *
   * @param ds The whole dataset (every rank holds it).
   * @param opts See {@linkcode ShardedLoaderOptions}.
   */
  constructor(ds: Dataset, opts: ShardedLoaderOptions) {
    super(ds, opts);
    const { rank, size } = opts;
    if (
      !Number.isInteger(size) || size < 1 || !Number.isInteger(rank) || rank < 0 || rank >= size
    ) {
      throw new Error(`ShardedLoader: rank ${rank} of ${size} is not a valid rank`);
    }
    if (opts.batchSize < size) {
      throw new Error(
        `ShardedLoader: the global batch (${opts.batchSize}) must hold at least one example ` +
          `per rank (${size} ranks)`,
      );
    }
    this.rank = rank;
    this.size = size;
    this.state = opts.state ?? new ShardState();
    this.#transform = opts.transform;
    const full = this.dropLast
      ? Math.floor(ds.length / this.batchSize)
      : Math.ceil(ds.length / this.batchSize);
    const last = ds.length - (full - 1) * this.batchSize;
    const dropTiny = this.training && last < size && full > 1;
    this.stepsPerEpoch = full - (dropTiny ? 1 : 0);
  }

  /** Examples one epoch visits over all ranks. */
  override get samplesPerEpoch(): number {
    return Math.min(this.dataset.length, this.stepsPerEpoch * this.batchSize);
  }

  /** This rank's shards of the global batches of `epoch`, from global batch `startBatch`. */
  override async *batches(epoch: number, startBatch = 0): AsyncIterable<Batch> {
    if (!Number.isInteger(startBatch) || startBatch < 0 || startBatch > this.stepsPerEpoch) {
      throw new Error(
        `ShardedLoader: startBatch must be in [0, ${this.stepsPerEpoch}], got ${startBatch}`,
      );
    }
    const order = epochOrder(this.dataset.length, this.seed, epoch, this.shuffle);
    const [h, w, c] = this.dataset.imageShape;
    for (let index = startBatch; index < this.stepsPerEpoch; index++) {
      const global = order.slice(index * this.batchSize, (index + 1) * this.batchSize);
      const [start, end] = shardRange(global.length, this.rank, this.size);
      if (start === end) continue;
      const indices = global.slice(start, end);
      const raw = this.dataset.getBatch(indices);
      const size = indices.length;
      const isUint8 = raw.images instanceof Uint8Array;
      const pixels = isUint8 ? Float32Array.from(raw.images) : raw.images as Float32Array;
      const images = tf.tidy(() => {
        const x = tf.tensor4d(pixels, [size, h, w, c], "float32");
        if (this.#transform) {
          return this.#transform(x, {
            epoch,
            batch: index,
            training: this.training,
            offset: start,
          });
        }
        return isUint8 ? tf.div(x, 255) as tf.Tensor4D : x;
      });
      const labels = tf.tensor1d(raw.labels, "int32");
      this.state.local = size;
      this.state.global = global.length;
      yield { images, labels, size, index };
    }
  }
}
