/**
 * Names and contracts of the fused training kernels a backend may offer. Model code asks the
 * active backend for them (`tf.getKernel(name, tf.getBackend())`) and keeps its plain
 * TensorFlow.js ops where they are missing, so every backend gives the same results; the
 * native backend registers them to cut a training step's hundreds of small kernels.
 *
 * This module holds only names and documentation, no native code, so `src/nn` and
 * `src/train` can import it without loading oneDNN.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { BATCH_NORM_TRAINING } from "./fused_ops.ts";
 * const fused = tf.getKernel(BATCH_NORM_TRAINING, tf.getBackend()) !== undefined;
 * ```
 *
 * @module
 */

/**
 * Batch normalisation in training mode over every axis but the last (channels last).
 * Inputs `{x, scale, offset}`, attrs `{varianceEpsilon}`; outputs `[y, mean, variance]` with
 * the batch mean and the biased batch variance, as `tf.moments` gives them, and
 * `y = (x − mean) · scale / √(variance + ε) + offset`. Differentiable with respect to `x`,
 * `scale` and `offset`, through the statistics too, as the plain ops are.
 */
export const BATCH_NORM_TRAINING = "NativeBatchNormTraining";

/**
 * The gradient of {@linkcode BATCH_NORM_TRAINING}. Inputs `{dy, x, scale, mean, variance}`,
 * attrs `{varianceEpsilon}`; outputs `[dx, dScale, dOffset]`.
 */
export const BATCH_NORM_TRAINING_GRAD = "NativeBatchNormTrainingGrad";

/**
 * One momentum-SGD step with coupled weight decay on one parameter. Inputs
 * `{variable, velocity, gradient}`, attrs `{lr, momentum, weightDecay}`; outputs
 * `[newVariable, newVelocity]` computed in float32 exactly as the op sequence
 * `g' = g + weightDecay·w; v' = momentum·v + g'; w' = w − lr·v'` (with `g' = g` when the decay is 0).
 */
export const MOMENTUM_SGD_UPDATE = "NativeMomentumSGDUpdate";

/**
 * {@linkcode BATCH_NORM_TRAINING} followed by ReLU, as one kernel: inputs and attrs as there,
 * outputs `[max(y, 0), mean, variance]`. Differentiable as the two ops in sequence.
 */
export const BATCH_NORM_RELU_TRAINING = "NativeBatchNormReluTraining";

/**
 * The gradient of {@linkcode BATCH_NORM_RELU_TRAINING}. Inputs `{dy, x, scale, mean, variance,
 * y}` (`y` the op's ReLU output, which masks `dy`), attrs `{varianceEpsilon}`; outputs
 * `[dx, dScale, dOffset]`.
 */
export const BATCH_NORM_RELU_TRAINING_GRAD = "NativeBatchNormReluTrainingGrad";

/**
 * `max(a + b, 0)` for two float32 tensors of one shape (a residual connection and its ReLU), as
 * one kernel; NaN stays NaN. Inputs `{a, b}`; output the result. Differentiable: both inputs
 * get {@linkcode RELU_GRAD_FROM_OUTPUT} of it.
 */
export const ADD_RELU = "NativeAddRelu";

/**
 * The gradient of a ReLU read from its output: `dy` where `y > 0`, else 0 (as PyTorch's, a NaN
 * `dy` where the output is not positive gives 0). Inputs `{dy, y}`; output the gradient.
 */
export const RELU_GRAD_FROM_OUTPUT = "NativeReluGradFromOutput";

/**
 * A moving average's update: `moving · momentum + value · (1 − momentum)` for two float32
 * tensors of one shape, each product and the sum rounded to float32 as the three ops would be
 * (`momentum` and `1 − momentum` too). Inputs `{moving, value}`, attrs `{momentum}`; output the
 * new average. Not differentiable (BatchNorm's moving statistics take no gradient).
 */
export const MOVING_AVERAGE = "NativeMovingAverage";

/**
 * How many rows of a batch of logits rank their label within the top `k`: fewer than `k` classes
 * score above the label's logit, where ties rank by class index, exactly as the plain ops of
 * `topKAccuracy` count them (a row with a non-finite logit compares against NaN, and a label
 * outside `[0, classes)` against 0). Inputs `{logits, labels}` (float32 `[N, C]`, int32 `[N]`),
 * attrs `{k}`; output a float32 scalar. Not differentiable (a metric).
 */
export const TOP_K_CORRECT = "NativeTopKCorrect";

/**
 * Softmax cross-entropy of float32 logits `[N, C]` against int32 labels `[N]`, the mean over the
 * batch of `logsumexp(x) − x[label]`, computed in float64 and rounded once (a row whose label is
 * outside `[0, classes)` adds 0, as a zero one-hot row does). Inputs `{logits, labels}`; output a
 * float32 scalar. Differentiable with respect to `logits` through
 * {@linkcode SOFTMAX_CROSS_ENTROPY_GRAD}.
 */
export const SOFTMAX_CROSS_ENTROPY = "NativeSoftmaxCrossEntropy";

/**
 * The gradient of {@linkcode SOFTMAX_CROSS_ENTROPY}: `dy · (softmax(x) − onehot(label)) / N`.
 * Inputs `{dy, logits, labels}`; output `[N, C]`.
 */
export const SOFTMAX_CROSS_ENTROPY_GRAD = "NativeSoftmaxCrossEntropyGrad";
