/**
 * The contract between networks and everything that trains, saves or inspects them.
 *
 * @module
 */
import type { Tensor, Tensor4D, Variable } from "../tensor_types.ts";

/** One variable of a network under its exchange name (PyTorch/Paddle naming). */
export interface NamedVariable {
  /** Exchange name, e.g. `layer1.0.conv1.weight` or `bn1.running_mean`. */
  name: string;
  /** The variable; conv kernels are HWIO here (OIHW in exchanged files). */
  variable: Variable;
  /** False for BatchNorm moving statistics, which the optimiser never touches. */
  trainable: boolean;
}

/** One row of a Keras-like summary. */
export interface LayerInfo {
  /** Layer name, e.g. `layer1.0.conv1`. */
  name: string;
  /** Layer kind, e.g. `Conv2D`, `BatchNorm`, `ReLU`, `Add`. */
  type: string;
  /** Output shape with the batch dimension as `null`. */
  outputShape: (number | null)[];
  /** Number of scalar parameters (trainable and not) the layer owns. */
  params: number;
}

/** A trainable image network. */
export interface Network {
  /** Human-readable name such as `ResNet50-FCN`. */
  readonly name: string;
  /**
   * Forward pass on an NHWC batch. With `training` true, BatchNorm normalises with batch
   * statistics and updates its moving statistics; otherwise it uses the moving statistics.
   */
  apply(x: Tensor4D, training: boolean): Tensor;
  /** Every variable, in a stable order, under its exchange name. */
  variables(): NamedVariable[];
  /** Layer rows for an input of the given side (height = width) and channel count. */
  layers(inputSize: number): LayerInfo[];
  /** Frees every variable. */
  dispose(): void;
}
