/**
 * The TensorFlow.js tensor types this API speaks, under local names so that the public
 * documentation can refer to them.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";

/** A TensorFlow.js tensor of any rank. */
export type Tensor = tf.Tensor;
/** A rank-0 tensor. */
export type Scalar = tf.Scalar;
/** A rank-1 tensor. */
export type Tensor1D = tf.Tensor1D;
/** A rank-2 tensor. */
export type Tensor2D = tf.Tensor2D;
/** A rank-4 tensor, NHWC for images. */
export type Tensor4D = tf.Tensor4D;
/** A mutable tensor that holds a parameter or optimiser state. */
export type Variable = tf.Variable;
/** Tensors by name, as gradients come from `tf.variableGrads`. */
export type NamedTensorMap = tf.NamedTensorMap;
