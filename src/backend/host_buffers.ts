/**
 * Float32 arrays for tensors about to be made from host values (a loader's batch): the active
 * backend's recycled ones where it lends them (the native backend's buffer pool), else fresh
 * ones. A fresh array of a batch's size costs its page faults and zeroing on every step, more
 * than filling it.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { hostBuffer } from "./host_buffers.ts";
 * const values = hostBuffer(4);
 * values.set([1, 2, 3, 4]);
 * const t = tf.tensor(values, [2, 2]);
 * t.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** A backend that lends float32 arrays for new tensors' values and takes them back on dispose. */
export interface HostBufferLender {
  /** An array of `length` floats with arbitrary contents. */
  hostBuffer(length: number): Float32Array;
}

/**
 * An array of `length` floats for one new tensor's values. Its contents are arbitrary: the caller
 * writes every element, then hands it to exactly one tensor and keeps no reference.
 */
export function hostBuffer(length: number): Float32Array {
  const backend = tf.backend() as Partial<HostBufferLender>;
  return typeof backend.hostBuffer === "function"
    ? backend.hostBuffer(length)
    : new Float32Array(length);
}
