/**
 * Losses: functions from logits and integer labels to a scalar tensor.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { softmaxCrossEntropy } from "./losses.ts";
 *
 * const loss = tf.tidy(() => softmaxCrossEntropy(tf.zeros([2, 4]), tf.tensor1d([0, 3], "int32")));
 * (await loss.data())[0]; // ln 4
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Scalar, Tensor1D, Tensor2D } from "../tensor_types.ts";
import { SOFTMAX_CROSS_ENTROPY } from "../backend/fused_ops.ts";

/** Logits `(N, classes)` and int32 labels `(N)` to a scalar loss (mean over the batch). */
export type LossFn = (logits: Tensor2D, labels: Tensor1D) => Scalar;

/**
 * Softmax cross-entropy on integer labels, mean over the batch (the recipe's loss).
 * Computed through `logSoftmax`, so large logits do not overflow; where the active backend has
 * the fused kernel (the native backend), in one kernel and its gradient in one more.
 */
export function softmaxCrossEntropy(logits: Tensor2D, labels: Tensor1D): Scalar {
  if (
    labels.dtype === "int32" && logits.dtype === "float32" &&
    tf.getKernel(SOFTMAX_CROSS_ENTROPY, tf.getBackend()) !== undefined
  ) {
    return tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY, { logits, labels }) as tf.Scalar;
  }
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const oneHot = tf.oneHot(tf.cast(labels, "int32"), classes);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}

/** Losses known by name to `Model.prepare`. */
export const LOSSES: Readonly<Record<string, LossFn>> = {
  softmax_cross_entropy: softmaxCrossEntropy,
};

/** Resolves a loss name or function; throws naming the known losses. */
export function resolveLoss(loss: string | LossFn): LossFn {
  if (typeof loss === "function") return loss;
  const fn = LOSSES[loss];
  if (fn === undefined) {
    throw new Error(`unknown loss "${loss}"; known: ${Object.keys(LOSSES).join(", ")}`);
  }
  return fn;
}
