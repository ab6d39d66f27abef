/**
 * The classification head's per-batch arithmetic, each in one pass over a `[N, C]` batch of
 * logits: the top-k hit count (`NativeTopKCorrect`) and softmax cross-entropy with its gradient
 * (`NativeSoftmaxCrossEntropy`), whose contracts `../fused_ops.ts` gives. A batch holds a few
 * thousand values, far below what repays a oneDNN call, while the plain ops take about 17
 * kernels per metric and 25 for the loss and its gradient, most of them broadcasting loops:
 * engine overhead, not arithmetic.
 *
 * @example
 * ```ts
 * import { topKCorrect } from "./classification.ts";
 * topKCorrect(Float32Array.of(0, 2, 1, 3, 0, 0), Int32Array.of(1, 2), 3, 1); // 1
 * ```
 *
 * @module
 */

/**
 * The logit a row's label is compared with, as the plain ops compute it: the sum of the row
 * times its one-hot label, so a non-finite logit anywhere in the row makes it NaN (∞·0), and a
 * label outside the row gives 0.
 */
function labelLogit(logits: Float32Array, row: number, classes: number, label: number): number {
  const base = row * classes;
  for (let j = 0; j < classes; j++) {
    if (!Number.isFinite(logits[base + j]) && j !== label) return NaN;
  }
  return label >= 0 && label < classes ? logits[base + label] : 0;
}

/**
 * How many rows rank their label within the top `k` (fewer than `k` classes above it, ties
 * ranked by class index).
 */
export function topKCorrect(
  logits: Float32Array,
  labels: Int32Array,
  classes: number,
  k: number,
): number {
  let correct = 0;
  for (let r = 0; r < labels.length; r++) {
    const label = labels[r];
    const t = labelLogit(logits, r, classes, label);
    const base = r * classes;
    let rank = 0;
    for (let j = 0; j < classes; j++) {
      const x = logits[base + j];
      if (x > t || (x === t && j < label)) rank++;
    }
    if (rank < k) correct++;
  }
  return correct;
}

/** `log Σ exp(x)` over one row, shifted by its largest value so nothing overflows. */
function logSumExp(logits: Float32Array, base: number, classes: number): number {
  let max = logits[base];
  for (let j = 1; j < classes; j++) if (logits[base + j] > max) max = logits[base + j];
  let sum = 0;
  for (let j = 0; j < classes; j++) sum += Math.exp(logits[base + j] - max);
  return max + Math.log(sum);
}

/** The mean over rows of `logsumexp(row) − row[label]` (0 for a label outside the row). */
export function softmaxCrossEntropy(
  logits: Float32Array,
  labels: Int32Array,
  classes: number,
): number {
  let total = 0;
  for (let r = 0; r < labels.length; r++) {
    const label = labels[r];
    if (label < 0 || label >= classes) continue;
    const base = r * classes;
    total += logSumExp(logits, base, classes) - logits[base + label];
  }
  return total / labels.length;
}

/** Writes `dy · (softmax(row) − onehot(label)) / N` into `out` (zeros for a label outside). */
export function softmaxCrossEntropyGrad(
  dy: number,
  logits: Float32Array,
  labels: Int32Array,
  classes: number,
  out: Float32Array,
): void {
  const scale = dy / labels.length;
  for (let r = 0; r < labels.length; r++) {
    const label = labels[r];
    const base = r * classes;
    if (label < 0 || label >= classes) {
      out.fill(0, base, base + classes);
      continue;
    }
    const lse = logSumExp(logits, base, classes);
    for (let j = 0; j < classes; j++) {
      const p = Math.exp(logits[base + j] - lse);
      out[base + j] = scale * (j === label ? p - 1 : p);
    }
  }
}
