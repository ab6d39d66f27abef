/**
 * The gradients of the fused kernels ({@linkcode BATCH_NORM_TRAINING},
 * {@linkcode BATCH_NORM_RELU_TRAINING}, {@linkcode ADD_RELU}, {@linkcode SOFTMAX_CROSS_ENTROPY}):
 * each runs its backend's gradient kernel once.
 * TensorFlow.js keeps gradients by kernel name for every backend, and a gradient only runs for
 * a kernel that ran, so each backend offering the kernels registers these same ones.
 *
 * @example
 * ```ts
 * import { registerFusedGradients } from "./fused_gradients.ts";
 * registerFusedGradients();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  ADD_RELU,
  BATCH_NORM_RELU_TRAINING,
  BATCH_NORM_RELU_TRAINING_GRAD,
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  RELU_GRAD_FROM_OUTPUT,
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
} from "./fused_ops.ts";

/** The gradient of a fused BatchNorm kernel; with ReLU it also saves the output, the mask. */
function batchNormGradient(kernelName: string, gradKernel: string, relu: boolean): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ["x", "scale"],
    outputsToSave: [relu, true, true],
    gradFunc: (dys, saved, attrs) => {
      // Saved are the inputs, then the outputs kept: [y,] mean, variance.
      const [x, scale, ...outputs] = saved;
      const [mean, variance] = outputs.slice(-2);
      const inputs: tf.NamedTensorMap = { x, scale, mean, variance };
      if (relu) inputs.y = outputs[0];
      // Gradients reaching the statistics are zero: they only feed the moving averages.
      inputs.dy = (dys as tf.Tensor[])[0];
      // Computed here, not in the thunks: the tape runs each thunk in its own tidy, which would
      // dispose the two outputs that thunk does not return.
      const [dx, dScale, dOffset] = tf.engine().runKernel(gradKernel, inputs, attrs) as tf.Tensor[];
      return { x: () => dx, scale: () => dScale, offset: () => dOffset };
    },
  };
}

/** Both summands of {@linkcode ADD_RELU} get the ReLU's gradient. */
const addReluGradient: tf.GradConfig = {
  kernelName: ADD_RELU,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved;
    const dx = tf.engine().runKernel(RELU_GRAD_FROM_OUTPUT, {
      dy: dy as tf.Tensor,
      y,
    }) as tf.Tensor;
    return { a: () => dx, b: () => tf.clone(dx) };
  },
};

/** The loss's gradient reaches the logits only: labels are integers. */
const softmaxCrossEntropyGradient: tf.GradConfig = {
  kernelName: SOFTMAX_CROSS_ENTROPY,
  inputsToSave: ["logits", "labels"],
  gradFunc: (dy, saved) => {
    const [logits, labels] = saved;
    return {
      logits: () =>
        tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY_GRAD, {
          dy: dy as tf.Tensor,
          logits,
          labels,
        }) as tf.Tensor,
      labels: () => tf.zerosLike(labels),
    };
  },
};

/** Registers the fused kernels' gradients where none is registered yet; idempotent. */
export function registerFusedGradients(): void {
  for (
    const g of [
      batchNormGradient(BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, false),
      batchNormGradient(BATCH_NORM_RELU_TRAINING, BATCH_NORM_RELU_TRAINING_GRAD, true),
      addReluGradient,
      softmaxCrossEntropyGradient,
    ]
  ) {
    if (!tf.getGradient(g.kernelName)) tf.registerGradient(g);
  }
}
