/**
 * The momentum-SGD update with coupled weight decay on the `webgpu` backend, one kernel per
 * parameter: it reads weights, velocity and gradient and writes the new velocity and the new
 * weights in place (the op sequence takes six kernels and two new buffers), rounding every
 * intermediate to float32 as that sequence does. Where another tensor shares the weights' or
 * the velocity's buffer, writing in place would change it too, so the update then writes two
 * new tensors instead (one dispatch still).
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
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { dispatchRaw, ownsBuffer } from "./raw_dispatch.ts";

/** Hyper-parameters of one update. */
export interface MomentumAttrs {
  /** Learning rate. */
  lr: number;
  /** Momentum factor. */
  momentum: number;
  /** Coupled weight decay (0: none). */
  weightDecay: number;
}

/**
 * `[newWeights, newVelocity]` of one momentum-SGD step: the input tensors themselves, updated
 * in place (and referenced once more, as a kernel output must be), where they own their buffers.
 */
export function momentumUpdate(
  backend: WebGPUBackend,
  w: tf.TensorInfo,
  velocity: tf.TensorInfo,
  gradient: tf.TensorInfo,
  a: MomentumAttrs,
): tf.TensorInfo[] {
  const n = w.shape.reduce((x, y) => x * y, 1);
  const g = a.weightDecay === 0 ? "g[index]" : "g[index] + w[index] * params.decay";
  const params = { lr: a.lr, momentum: a.momentum, decay: a.weightDecay };
  // The size is a run-time value: one pipeline serves every parameter.
  const key = `ourMomentumSGD_${a.weightDecay === 0}`;
  // One update, written in place or to new tensors.
  const update = (vOut: string, wOut: string) => `
  if (index < params.n) {
    let v = vel[index] * params.momentum + (${g});
    ${vOut}[index] = v;
    ${wOut}[index] = w[index] - v * params.lr;
  }`;
  if (ownsBuffer(backend, w) && ownsBuffer(backend, velocity)) {
    dispatchRaw(backend, {
      name: "ourMomentumSGD",
      key: `${key}_inplace`,
      bindings: [
        { name: "w", tensor: w, write: true },
        { name: "vel", tensor: velocity, write: true },
        { name: "g", tensor: gradient },
      ],
      params,
      ints: { n },
      count: n,
      body: update("vel", "w"),
    });
    backend.incRef(w.dataId);
    backend.incRef(velocity.dataId);
    return [w, velocity];
  }
  const [wNew, vNew] = dispatchRaw(backend, {
    name: "ourMomentumSGD",
    key,
    bindings: [
      { name: "w", tensor: w },
      { name: "vel", tensor: velocity },
      { name: "g", tensor: gradient },
      { name: "wNew", shape: [...w.shape] },
      { name: "vNew", shape: [...w.shape] },
    ],
    params,
    ints: { n },
    count: n,
    body: update("vNew", "wNew"),
  });
  return [wNew, vNew];
}
