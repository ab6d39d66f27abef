/**
 * The datasets the CLI names (`--dataset cifar10|digits|synthetic|npy`), loaded with their
 * normalisation and training augmentation, optionally cut down to a few examples.
 *
 * - `cifar10`: `--data` is an extracted `cifar-10-batches-bin/` folder or the archive; without
 *   it, the cache folder (downloading there when absent). Recipe normalisation and augmentation.
 * - `digits`: the embedded handwritten digits (28×28, one grey channel), offline. Recipe
 *   augmentation without the horizontal flip (a mirrored digit is another shape).
 * - `synthetic`: seeded class patterns (32×32×3, 10 classes, 512 training and 128 test images).
 * - `npy`: `--data DIR` holding `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`
 *   (NHWC uint8 0–255 or float32 0–1 images, integer labels).
 *
 * Synthetic and `.npy` data are normalised with their training split's per-channel mean and
 * standard deviation.
 *
 * @module
 */
import { join } from "node:path";
import { cifarTrainTransform, normalize } from "../src/data/augment.ts";
import { CIFAR10_MEAN, CIFAR10_STD, loadCifar10 } from "../src/data/cifar10.ts";
import type { BatchTransform, Dataset, RawBatch } from "../src/data/dataset.ts";
import { DIGITS_MEAN, DIGITS_STD, loadDigits } from "../src/data/digits.ts";
import { loadNpyDataset } from "../src/data/array_dataset.ts";
import type { ImageDataset } from "../src/data/image_dataset.ts";
import { loadSynthetic } from "../src/data/synthetic.ts";
import { UsageError } from "./flags.ts";

/** Dataset names the CLI accepts. */
export const DATASET_NAMES = ["cifar10", "digits", "synthetic", "npy"] as const;
/** A dataset name. */
export type DatasetName = typeof DATASET_NAMES[number];

/** File names `--dataset npy` reads from its `--data` folder. */
export const NPY_FILES = {
  trainImages: "x_train.npy",
  trainLabels: "y_train.npy",
  testImages: "x_test.npy",
  testLabels: "y_test.npy",
} as const;

/** What to load. */
export interface DataRequest {
  /** Which dataset. */
  dataset: DatasetName;
  /** Where it lives (cifar10: optional; npy: required; others: must be absent). */
  data?: string;
  /** Keep this many training examples, spread evenly over the split (default all). */
  limitTrain?: number;
  /** Keep this many test examples, spread evenly over the split (default all). */
  limitEval?: number;
  /** Training augmentation on (default true). */
  augment?: boolean;
  /** Seed of the augmentation draws (default 0). */
  seed?: number;
}

/** A loaded dataset with the transforms the loaders apply. */
export interface LoadedData {
  /** Training split (after `limitTrain`). */
  train: Dataset;
  /** Test split (after `limitEval`). */
  test: Dataset;
  /** Training transform: augmentation (unless off), scaling and normalisation. */
  trainTransform: BatchTransform;
  /** Evaluation transform: scaling and normalisation. */
  evalTransform: BatchTransform;
  /** Image shape [height, width, channels]. */
  imageShape: readonly [number, number, number];
  /** Class names. */
  classNames: readonly string[];
  /** One line: the dataset, split sizes and shape. */
  description: string;
}

/**
 * Checks a request without loading anything: `--data` given where needed and only there, and the
 * files it names present. Throws {@linkcode UsageError}.
 */
export function checkDataRequest(r: DataRequest): void {
  if (r.dataset === "npy") {
    if (r.data === undefined) {
      throw new UsageError(
        `--dataset npy needs --data DIR holding ${Object.values(NPY_FILES).join(", ")}`,
      );
    }
    for (const f of Object.values(NPY_FILES)) {
      try {
        Deno.statSync(join(r.data, f));
      } catch {
        throw new UsageError(`--data ${r.data}: no ${f} there (--dataset npy reads ${f})`);
      }
    }
  } else if (r.data !== undefined && r.dataset !== "cifar10") {
    throw new UsageError(`--data is not used with --dataset ${r.dataset} (it needs no files)`);
  }
}

/** A view of `ds` keeping `n` examples spread evenly over it (so every class stays present). */
export function spreadSubset(ds: Dataset, n: number | undefined): Dataset {
  if (n === undefined || n >= ds.length) return ds;
  const picked = Array.from({ length: n }, (_, i) => Math.floor(i * ds.length / n));
  return {
    length: n,
    imageShape: ds.imageShape,
    classNames: ds.classNames,
    getBatch: (indices: readonly number[]): RawBatch => {
      for (const i of indices) {
        if (!Number.isInteger(i) || i < 0 || i >= n) {
          throw new RangeError(`subset: index ${i} is outside 0–${n - 1}`);
        }
      }
      return ds.getBatch(indices.map((i) => picked[i]));
    },
  };
}

/** Per-channel mean and standard deviation of a dataset's pixels, scaled by `1/scale`. */
function channelStats(ds: ImageDataset, scale: number): { mean: number[]; std: number[] } {
  const c = ds.imageShape[2];
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  const px = ds.images;
  for (let i = 0; i < px.length; i++) {
    const v = px[i] / scale;
    sum[i % c] += v;
    sq[i % c] += v * v;
  }
  const count = px.length / c;
  const mean = Array.from(sum, (s) => s / count);
  // A constant channel would divide by zero; 1 leaves it centred but unscaled.
  const std = Array.from(sq, (s, k) => Math.sqrt(Math.max(s / count - mean[k] ** 2, 0)) || 1);
  return { mean, std };
}

/** Loads the requested dataset; see the module documentation. */
export async function loadData(r: DataRequest): Promise<LoadedData> {
  checkDataRequest(r);
  const seed = r.seed ?? 0;
  let train: ImageDataset;
  let test: ImageDataset;
  let mean: readonly number[];
  let std: readonly number[];
  let flip = true;
  let name: string = r.dataset;
  if (r.dataset === "cifar10") {
    ({ train, test } = await loadCifar10({ path: r.data }));
    [mean, std] = [CIFAR10_MEAN, CIFAR10_STD];
  } else if (r.dataset === "digits") {
    ({ train, test } = await loadDigits({ channels: 1 }));
    [mean, std] = [[DIGITS_MEAN], [DIGITS_STD]];
    flip = false;
  } else {
    if (r.dataset === "synthetic") {
      ({ train, test } = loadSynthetic());
    } else {
      const dir = r.data!;
      const f = NPY_FILES;
      train = await loadNpyDataset(join(dir, f.trainImages), join(dir, f.trainLabels));
      test = await loadNpyDataset(join(dir, f.testImages), join(dir, f.testLabels), {
        classNames: train.classNames,
      });
      name = `npy ${dir}`;
    }
    ({ mean, std } = channelStats(train, train.images instanceof Uint8Array ? 255 : 1));
  }
  if (test.imageShape.join() !== train.imageShape.join()) {
    throw new Error(
      `${name}: training images are ${train.imageShape.join("×")} but test images ` +
        `${test.imageShape.join("×")}`,
    );
  }
  const maxValue = train.images instanceof Uint8Array ? 255 : 1;
  const evalTransform = normalize(mean, std, { scale: maxValue });
  const trainTransform = r.augment === false ? evalTransform : cifarTrainTransform({
    seed,
    mean,
    std,
    augment: { maxValue, ...(flip ? {} : { flipProbability: 0 }) },
  });
  const trainSet = spreadSubset(train, r.limitTrain);
  const testSet = spreadSubset(test, r.limitEval);
  const [h, w, c] = train.imageShape;
  return {
    train: trainSet,
    test: testSet,
    trainTransform,
    evalTransform,
    imageShape: train.imageShape,
    classNames: train.classNames,
    description: `${name}: ${trainSet.length} training / ${testSet.length} test images, ` +
      `${h}×${w}×${c}, ${train.classNames.length} classes`,
  };
}
