/**
 * The momentum-SGD update with coupled weight decay on the `webgpu` backend: the new velocity
 * and the new weights, each by one element-wise kernel over the same three inputs (the op
 * sequence takes six), rounding every intermediate to float32 as that sequence does.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
 * import { startWebGPU } from "../webgpu.ts";
 * import { momentumUpdate } from "./sgd.ts";
 * await startWebGPU();
 * const [w, v] = momentumUpdate(tf.backend() as WebGPUBackend, tf.ones([3]), tf.zeros([3]),
 *   tf.ones([3]), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";

const GROUP = 64;

/** Hyper-parameters of one update. */
export interface MomentumAttrs {
  /** Learning rate. */
  lr: number;
  /** Momentum factor. */
  momentum: number;
  /** Coupled weight decay (0: none). */
  weightDecay: number;
}

class MomentumProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames = ["w", "vel", "g"];
  workgroupSize: [number, number, number] = [GROUP, 1, 1];
  size = true;
  uniforms = "lr : f32, momentum : f32, decay : f32,";
  readonly #weights: boolean;
  readonly #decay: boolean;

  constructor(shape: number[], weights: boolean, decay: boolean) {
    this.outputShape = shape;
    this.#weights = weights;
    this.#decay = decay;
    const count = shape.reduce((a, b) => a * b, 1);
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    this.dispatch = [Math.ceil(count / GROUP), 1, 1];
    this.shaderKey = `ourMomentumSGD_${weights}_${decay}`;
  }

  getUserCode(): string {
    const g = this.#decay ? "g[index] + w[index] * uniforms.decay" : "g[index]";
    return `
fn main(index: i32) {
  // Every binding must be used for the pipeline's layout, w too where only the velocity is made.
  _ = w[0];
  if (index < uniforms.size) {
    let v = vel[index] * uniforms.momentum + (${g});
    setOutputAtIndex(index, ${this.#weights ? "w[index] - v * uniforms.lr" : "v"});
  }
}`;
  }
}

/** `[newWeights, newVelocity]` of one momentum-SGD step. */
export function momentumUpdate(
  backend: WebGPUBackend,
  w: tf.TensorInfo,
  velocity: tf.TensorInfo,
  gradient: tf.TensorInfo,
  a: MomentumAttrs,
): tf.TensorInfo[] {
  const decay = a.weightDecay !== 0;
  // One entry per scalar: a three-element entry would be laid out as a vec3.
  const uniforms = [a.lr, a.momentum, a.weightDecay].map((x) => ({ type: "float32", data: [x] }));
  const shape = [...w.shape];
  return [true, false].map((weights) =>
    backend.runWebGPUProgram(
      new MomentumProgram(shape, weights, decay),
      [w, velocity, gradient],
      "float32",
      uniforms,
    )
  );
}
