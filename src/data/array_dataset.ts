/**
 * Arrays as a dataset: images (N, H, W, C) as uint8 (0–255) or float32 (already scaled), with
 * integer class labels (N), from memory or from a pair of `.npy` files.
 *
 * @example
 * ```ts
 * import { loadNpyDataset } from "./array_dataset.ts";
 * import { writeNpy } from "../io/npy.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await writeNpy(`${dir}/x_train.npy`, { dtype: "uint8", shape: [2, 4, 4, 1], data: new Uint8Array(32) });
 * await writeNpy(`${dir}/y_train.npy`, { dtype: "int32", shape: [2], data: new Int32Array([0, 1]) });
 * const ds = await loadNpyDataset(`${dir}/x_train.npy`, `${dir}/y_train.npy`);
 * console.log(ds.length, ds.imageShape); // 2 [4, 4, 1]
 * ```
 *
 * @module
 */
import type { HostTensor } from "../io/host_tensor.ts";
import { readNpy } from "../io/npy.ts";
import { ImageDataset } from "./image_dataset.ts";

/** Options for {@link arrayDataset} and {@link loadNpyDataset}. */
export interface ArrayDatasetOptions {
  /** Class names; their count must exceed every label (default "0" … "<max label>"). */
  classNames?: readonly string[];
  /** Name for error messages (default "<memory>", or the image file's path). */
  source?: string;
}

/**
 * Wraps image and label arrays as a dataset. Images must be (N, H, W, C), or (N, H, W) for one
 * channel, of uint8 or float32; labels (N) or (N, 1) of int32 or uint8 (int64 files arrive as
 * int32), every label ≥ 0.
 *
 * @example
 * ```ts
 * import { arrayDataset } from "./array_dataset.ts";
 * const ds = arrayDataset(
 *   { dtype: "uint8", shape: [2, 4, 4, 3], data: new Uint8Array(96) },
 *   { dtype: "int32", shape: [2], data: new Int32Array([1, 0]) },
 * );
 * ds.classNames; // ["0", "1"]
 * ```
 */
export function arrayDataset(
  images: HostTensor,
  labels: HostTensor,
  opts: ArrayDatasetOptions = {},
): ImageDataset {
  const source = opts.source ?? "<memory>";
  if (images.dtype !== "uint8" && images.dtype !== "float32") {
    throw new RangeError(
      `${source}: images must be uint8 (0–255) or float32 (scaled), got ${images.dtype}`,
    );
  }
  if (images.shape.length !== 4 && images.shape.length !== 3) {
    throw new RangeError(
      `${source}: images must have shape (N, H, W, C) or (N, H, W), got (${images.shape})`,
    );
  }
  const [n, h, w, c = 1] = images.shape;
  const labelShapeOk = labels.shape.length === 1 ||
    (labels.shape.length === 2 && labels.shape[1] === 1);
  if (!labelShapeOk || labels.shape[0] !== n) {
    throw new RangeError(
      `${source}: labels must have shape (${n}) to match ${n} images, got (${labels.shape})`,
    );
  }
  if (labels.dtype !== "int32" && labels.dtype !== "uint8") {
    throw new RangeError(
      `${source}: labels must be integers (int32/int64/uint8), got ${labels.dtype}`,
    );
  }
  const classIds = Int32Array.from(labels.data);
  let max = -1;
  classIds.forEach((y, i) => {
    if (y < 0) throw new RangeError(`${source}: label ${y} of example ${i} is negative`);
    if (y > max) max = y;
  });
  const classNames = opts.classNames ?? Array.from({ length: max + 1 }, (_, k) => String(k));
  return new ImageDataset({
    images: images.data as Uint8Array | Float32Array,
    labels: classIds,
    imageShape: [h, w, c],
    classNames,
    source,
  });
}

/**
 * Loads a dataset from an images `.npy` file and a labels `.npy` file (see {@link arrayDataset}).
 *
 * @example
 * ```ts
 * import { loadNpyDataset } from "./array_dataset.ts";
 * import { writeNpy } from "../io/npy.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await writeNpy(`${dir}/x_test.npy`, { dtype: "uint8", shape: [2, 4, 4, 3], data: new Uint8Array(96) });
 * await writeNpy(`${dir}/y_test.npy`, { dtype: "int32", shape: [2], data: new Int32Array([1, 0]) });
 * const test = await loadNpyDataset(`${dir}/x_test.npy`, `${dir}/y_test.npy`, {
 *   classNames: ["cat", "dog"],
 * });
 * console.log(test.classNames); // ["cat", "dog"]
 * ```
 */
export async function loadNpyDataset(
  imagesPath: string,
  labelsPath: string,
  opts: ArrayDatasetOptions = {},
): Promise<ImageDataset> {
  const [images, labels] = await Promise.all([readNpy(imagesPath), readNpy(labelsPath)]);
  return arrayDataset(images, labels, {
    ...opts,
    source: opts.source ?? `${imagesPath} with ${labelsPath}`,
  });
}
