/**
 * Metrics that accumulate over an epoch: each batch contributes a count of correct examples, and
 * the metric's value is the running total divided by the examples seen.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { topKAccuracy } from "./metrics.ts";
 *
 * const top1 = topKAccuracy(1);
 * const logits = tf.tensor2d([[0, 2, 1], [3, 0, 0]]);
 * const n = tf.tidy(() => top1.correct(logits, tf.tensor1d([1, 2], "int32")));
 * (await n.data())[0]; // 1
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Scalar, Tensor1D, Tensor2D } from "../tensor_types.ts";
import { TOP_K_CORRECT } from "../backend/fused_ops.ts";

/** A batch-summable metric. */
export interface Metric {
  /** Log key, e.g. `acc_top1`. */
  readonly name: string;
  /** Number of correct examples in the batch, as a float32 scalar. */
  correct(logits: Tensor2D, labels: Tensor1D): Scalar;
}

/**
 * Top-k accuracy. The true class counts as within the top k when fewer than k classes rank above
 * it, where ties rank by class index (as `argmax` and `tf.topk` order them), so constant logits
 * are not counted as correct for every class. With fewer than k classes every example is correct.
 * One kernel where the active backend has it (the native backend), else about 17 small ones.
 */
export function topKAccuracy(k: number, name = `acc_top${k}`): Metric {
  if (!Number.isInteger(k) || k < 1) throw new Error(`topKAccuracy: k must be >= 1, got ${k}`);
  return {
    name,
    correct(logits, labels) {
      if (
        labels.dtype === "int32" && logits.dtype === "float32" &&
        tf.getKernel(TOP_K_CORRECT, tf.getBackend()) !== undefined
      ) {
        return tf.engine().runKernel(TOP_K_CORRECT, { logits, labels }, { k }) as tf.Scalar;
      }
      return tf.tidy(() => {
        const classes = logits.shape[1];
        const lab = tf.cast(labels, "int32");
        const trueLogit = tf.sum(tf.mul(logits, tf.oneHot(lab, classes)), 1, true);
        const idx = tf.reshape(tf.range(0, classes, 1, "int32"), [1, classes]);
        const above = tf.logicalOr(
          tf.greater(logits, trueLogit),
          tf.logicalAnd(tf.equal(logits, trueLogit), tf.less(idx, tf.reshape(lab, [-1, 1]))),
        );
        const rank = tf.sum(tf.cast(above, "int32"), 1);
        return tf.sum(tf.cast(tf.less(rank, k), "float32")) as tf.Scalar;
      });
    },
  };
}

/** Metrics known by name to `Model.prepare`. */
export const METRICS: Readonly<Record<string, Metric>> = {
  acc_top1: topKAccuracy(1, "acc_top1"),
  acc_top5: topKAccuracy(5, "acc_top5"),
};

/** Resolves a metric name or object; throws naming the known metrics. */
export function resolveMetric(metric: string | Metric): Metric {
  if (typeof metric !== "string") return metric;
  const m = METRICS[metric];
  if (m === undefined) {
    throw new Error(`unknown metric "${metric}"; known: ${Object.keys(METRICS).join(", ")}`);
  }
  return m;
}
