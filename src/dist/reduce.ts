/**
 * The reductions data-parallel training makes outside BatchNorm: the gradient average before
 * every update (one fused float32 buffer, one all-reduce per step), the broadcast of rank 0's
 * weights and momentum at the start, and the average of BatchNorm's moving statistics.
 *
 * TensorFlow.js computes every gradient of a step in one synchronous `tf.variableGrads` call, so
 * there is no point inside the backward pass at which a bucket could be sent while the rest is
 * computed; the gradients are therefore reduced together, once the backward pass is complete.
 *
 * @example
 * ```ts ignore
 * import { averagingHook } from "./reduce.ts";
 * optimizer.gradientHook = averagingHook(mpi, loader.state);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NamedTensorMap, Variable } from "../tensor_types.ts";
import type { NamedVariable } from "../nn/network.ts";
import type { GradientHook } from "../train/optimizer.ts";
import type { Communicator } from "./mpi.ts";
import type { ShardState } from "./shard.ts";

/**
 * A {@linkcode GradientHook} that replaces each rank's gradients by the average over the global
 * batch: every rank scales its gradients by its share of the batch (`state.weight`, so unequal
 * shards weigh by their size) and the scaled gradients are summed over the ranks in one
 * all-reduce of one buffer holding all of them. Every rank then applies the same update.
 */
export function averagingHook(comm: Communicator, state: ShardState): GradientHook {
  let buffer = new Float32Array(0);
  return (grads: NamedTensorMap, vars: readonly NamedVariable[]): NamedTensorMap => {
    const trainable = vars.filter((v) => v.trainable).map((v) => v.variable);
    const total = trainable.reduce((n, v) => n + v.size, 0);
    if (buffer.length !== total) buffer = new Float32Array(total);
    const w = state.weight;
    let at = 0;
    for (const v of trainable) {
      const g = grads[v.name];
      if (g === undefined) throw new Error(`gradient average: no gradient for ${v.name}`);
      const data = g.dataSync() as Float32Array;
      for (let i = 0; i < data.length; i++) buffer[at + i] = data[i] * w;
      at += data.length;
    }
    comm.allreduceSum(buffer);
    const out: NamedTensorMap = {};
    at = 0;
    for (const v of trainable) {
      out[v.name] = tf.tensor(buffer.slice(at, at + v.size), v.shape, "float32");
      at += v.size;
    }
    return out;
  };
}

/** Copies the values of `variables` from rank `root` to every rank (one broadcast). */
export function broadcastVariables(
  comm: Communicator,
  variables: readonly Variable[],
  root = 0,
): void {
  const buffer = pack(variables);
  comm.broadcast(buffer, root);
  unpack(variables, buffer);
}

/** Replaces the values of `variables` by their mean over the ranks (one all-reduce). */
export function averageVariables(comm: Communicator, variables: readonly Variable[]): void {
  const buffer = pack(variables);
  comm.allreduceSum(buffer);
  for (let i = 0; i < buffer.length; i++) buffer[i] /= comm.size;
  unpack(variables, buffer);
}

function pack(variables: readonly Variable[]): Float32Array {
  const buffer = new Float32Array(variables.reduce((n, v) => n + v.size, 0));
  let at = 0;
  for (const v of variables) {
    buffer.set(v.dataSync() as Float32Array, at);
    at += v.size;
  }
  return buffer;
}

function unpack(variables: readonly Variable[], buffer: Float32Array): void {
  let at = 0;
  for (const v of variables) {
    const t = tf.tensor(buffer.subarray(at, at + v.size), v.shape, "float32");
    v.assign(t);
    t.dispose();
    at += v.size;
  }
}
