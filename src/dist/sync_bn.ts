/**
 * Synchronised BatchNorm: the batch mean and variance of every BatchNorm layer taken over the
 * global batch (all ranks' shards) instead of each rank's own, so that N ranks compute what one
 * process computes on the whole batch.
 *
 * Per layer, two all-reduces of one value per channel: first the sums Σx (the mean
 * μ = Σx / M over the global count M = global batch · H · W), then the sums Σ(x − μ)² (the
 * biased variance), the same two passes as `tf.moments` in one process.
 *
 * The gradient. Rank r's loss is the mean over its own shard, L_r, and the update applies
 * Σ_r w_r ∇L_r (w_r = the rank's share of the global batch; see `reduce.ts`), which is the
 * gradient of the global loss L = Σ_r w_r L_r. A reduced sum S = Σ_r s_r feeds every rank's
 * loss, so ∂L/∂s_r = Σ_q w_q ∂L_q/∂S: the same on every rank. For rank r's own backward pass to
 * contribute exactly that after the weighting by w_r, the gradient of the all-reduce on rank r
 * is (Σ_q w_q·dy_q) / w_r, with dy_q the upstream gradient of S on rank q: an all-reduce of the
 * weighted upstream gradients (with equal shards simply Σ_q dy_q). Every rank runs its backward
 * pass through the same layers in the same order, so these all-reduces pair up across ranks.
 *
 * @example
 * ```ts ignore
 * import { BatchNorm } from "../nn/layers.ts";
 * import { syncedMoments } from "./sync_bn.ts";
 * BatchNorm.syncMoments = syncedMoments(mpi, loader.state);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BatchMoments } from "../nn/layers.ts";
import type { Tensor1D } from "../tensor_types.ts";
import type { Communicator } from "./mpi.ts";
import type { ShardState } from "./shard.ts";

/**
 * The sum of `t` over every rank, differentiable: its gradient on this rank is the all-reduce
 * of the upstream gradients weighted by each rank's share `state.weight`, divided by this
 * rank's share (see the module documentation).
 */
export function allReduceSum(comm: Communicator, state: ShardState, t: Tensor1D): Tensor1D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const sums = Float32Array.from(x.dataSync() as Float32Array);
    comm.allreduceSum(sums);
    const w = state.weight;
    return {
      value: tf.tensor1d(sums),
      gradFunc: (dy: tf.Tensor) => {
        const g = Float32Array.from(dy.dataSync() as Float32Array, (v) => v * w);
        comm.allreduceSum(g);
        for (let i = 0; i < g.length; i++) g[i] /= w;
        return tf.tensor1d(g);
      },
    };
  });
  return op(t) as tf.Tensor1D;
}

/**
 * A {@linkcode BatchMoments} over the global batch, for `BatchNorm.syncMoments`. `state` gives
 * the current global batch size (each rank's images have the same height and width).
 */
export function syncedMoments(comm: Communicator, state: ShardState): BatchMoments {
  return (x: tf.Tensor4D) => {
    const [, h, w] = x.shape;
    const count = state.global * h * w;
    const mean = tf.div(allReduceSum(comm, state, tf.sum(x, [0, 1, 2])), count) as tf.Tensor1D;
    const squares = tf.sum(tf.square(tf.sub(x, mean)), [0, 1, 2]) as tf.Tensor1D;
    const variance = tf.div(allReduceSum(comm, state, squares), count) as tf.Tensor1D;
    return { mean, variance };
  };
}
