/**
 * The building blocks of ResNet-FCN: convolution with symmetric padding and BatchNorm with the
 * recipe's momentum convention. Each layer owns its variables and knows its exchange names.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NamedVariable } from "./network.ts";
import type { Tensor1D, Tensor4D, Variable } from "../tensor_types.ts";
import {
  ADD_RELU,
  BATCH_NORM_RELU_TRAINING,
  BATCH_NORM_TRAINING,
  MOVING_AVERAGE,
} from "../backend/fused_ops.ts";

/** Deterministic source of per-variable seeds, so one network seed fixes every initial value. */
export class SeedSequence {
  #next: number;
  /** Starts the sequence at `seed`. */
  constructor(seed: number) {
    this.#next = seed;
  }
  /** The next seed. */
  next(): number {
    this.#next = (Math.imul(this.#next, 1103515245) + 12345) >>> 0;
    return this.#next;
  }
}

/** Options of {@linkcode Conv2d}. */
export interface Conv2dOptions {
  /** Exchange name prefix, e.g. `layer1.0.conv1`. */
  name: string;
  /** Input channels. */
  inChannels: number;
  /** Output channels. */
  outChannels: number;
  /** Square kernel side. */
  kernel: number;
  /** Stride (default 1). */
  stride?: number;
  /** Symmetric zero padding on every side (default 0). */
  padding?: number;
  /** Whether the layer adds a learned bias (default false). */
  bias?: boolean;
  /**
   * Initialisation: `kaiming` draws the kernel from N(0, 2/fan_out) as torchvision's ResNet does;
   * `uniform` follows PyTorch's default conv init, U(±1/√fan_in) for kernel and bias.
   */
  init: "kaiming" | "uniform";
  /** Seeds for the initial values. */
  seeds: SeedSequence;
}

/** A 2-D convolution, HWIO kernel, explicit symmetric padding (never TensorFlow's `same`). */
export class Conv2d {
  /** Exchange name prefix. */
  readonly name: string;
  /** Kernel, shape [k, k, in, out]. */
  readonly kernel: tf.Variable;
  /** Bias, shape [out], when the layer has one. */
  readonly bias?: tf.Variable;
  /** Stride. */
  readonly stride: number;
  /** Symmetric padding. */
  readonly padding: number;
  /** Square kernel side. */
  readonly size: number;
  /** Output channels. */
  readonly outChannels: number;

  /** Creates and initialises the layer's variables. */
  constructor(opts: Conv2dOptions) {
    const { name, inChannels, outChannels, kernel } = opts;
    this.name = name;
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.size = kernel;
    this.outChannels = outChannels;
    const shape = [kernel, kernel, inChannels, outChannels];
    const fanIn = kernel * kernel * inChannels;
    const bound = 1 / Math.sqrt(fanIn);
    this.kernel = tf.tidy(() =>
      tf.variable(
        opts.init === "kaiming"
          ? tf.randomNormal(
            shape,
            0,
            Math.sqrt(2 / (kernel * kernel * outChannels)),
            "float32",
            opts.seeds.next(),
          )
          : tf.randomUniform(shape, -bound, bound, "float32", opts.seeds.next()),
        true,
      )
    );
    if (opts.bias) {
      this.bias = tf.tidy(() =>
        tf.variable(
          tf.randomUniform([outChannels], -bound, bound, "float32", opts.seeds.next()),
          true,
        )
      );
    }
  }

  /** Applies the convolution. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const p = this.padding;
    const y = tf.conv2d(
      x,
      this.kernel as tf.Tensor4D,
      this.stride,
      p === 0 ? "valid" : [[0, 0], [p, p], [p, p], [0, 0]],
    );
    return this.bias ? tf.add(y, this.bias) : y;
  }

  /** Output side for an input side. */
  outSize(inSize: number): number {
    return Math.floor((inSize + 2 * this.padding - this.size) / this.stride) + 1;
  }

  /** Variables under their exchange names. */
  variables(): NamedVariable[] {
    const vars = [{ name: `${this.name}.weight`, variable: this.kernel, trainable: true }];
    if (this.bias) vars.push({ name: `${this.name}.bias`, variable: this.bias, trainable: true });
    return vars;
  }
}

/** BatchNorm momentum: moving = momentum·moving + (1 − momentum)·batch (recipe). */
export const BN_MOMENTUM = 0.9;
/** BatchNorm epsilon (recipe). */
export const BN_EPSILON = 1e-5;

/** Batch mean and biased variance per channel of an NHWC batch; see `BatchNorm.syncMoments`. */
export type BatchMoments = (x: Tensor4D) => { mean: Tensor1D; variance: Tensor1D };

/**
 * Batch normalisation over N, H, W with learned scale and shift. In training it normalises with
 * the batch mean and biased batch variance and folds both into the moving statistics.
 */
export class BatchNorm {
  /** Exchange name prefix. */
  readonly name: string;
  /** Scale (γ), exchanged as `.weight`. */
  readonly gamma: Variable;
  /** Shift (β), exchanged as `.bias`. */
  readonly beta: Variable;
  /** Moving mean, exchanged as `.running_mean`. */
  readonly movingMean: Variable;
  /** Moving variance, exchanged as `.running_var`. */
  readonly movingVar: Variable;
  /**
   * When set, training computes the batch mean and biased variance with this instead of over
   * the local batch: the seam for statistics over several processes' batches (synchronised
   * BatchNorm, `src/dist/sync_bn.ts`). It must be differentiable. Process-wide, null by default.
   */
  static syncMoments: BatchMoments | null = null;

  /**
   * When set, training hands each new moving statistic here (a kept tensor, which the receiver
   * assigns or disposes) instead of assigning it at once: the seam for a training loop that
   * queues one step's forward pass before it commits the previous step (`Model.fit` on
   * `webgpu`), so that a step it drops leaves no trace. Process-wide, null by default.
   */
  static deferMoving: ((moving: Variable, value: tf.Tensor) => void) | null = null;

  /**
   * Creates γ = 1, β = 0, moving mean 0 and moving variance 1. Variables stay unnamed in
   * TensorFlow.js, whose variable names are process-global: two networks would collide.
   */
  constructor(name: string, channels: number) {
    this.name = name;
    this.gamma = tf.variable(tf.ones([channels]), true);
    this.beta = tf.variable(tf.zeros([channels]), true);
    this.movingMean = tf.variable(tf.zeros([channels]), false);
    this.movingVar = tf.variable(tf.ones([channels]), false);
  }

  /**
   * Normalises, then applies ReLU when `relu` is true (in one kernel where the backend has
   * it); in training also updates the moving statistics.
   */
  apply(x: Tensor4D, training: boolean, relu = false): Tensor4D {
    if (!training) {
      return thenRelu(
        tf.batchNorm4d(
          x,
          this.movingMean as tf.Tensor1D,
          this.movingVar as tf.Tensor1D,
          this.beta as tf.Tensor1D,
          this.gamma as tf.Tensor1D,
          BN_EPSILON,
        ),
        relu,
      );
    }
    const { mean, variance, y: fusedY, relu: fusedRelu }: BatchStatistics =
      BatchNorm.syncMoments !== null
        ? BatchNorm.syncMoments(x)
        : batchStatistics(x, this.gamma, this.beta, relu);
    updateMoving(this.movingMean, mean);
    updateMoving(this.movingVar, variance);
    const y = fusedY ?? tf.batchNorm4d(
      x,
      mean as tf.Tensor1D,
      variance as tf.Tensor1D,
      this.beta as tf.Tensor1D,
      this.gamma as tf.Tensor1D,
      BN_EPSILON,
    );
    return thenRelu(y, relu && fusedRelu !== true);
  }

  /** Variables under their exchange names, in PyTorch's state-dict order. */
  variables(): NamedVariable[] {
    return [
      { name: `${this.name}.weight`, variable: this.gamma, trainable: true },
      { name: `${this.name}.bias`, variable: this.beta, trainable: true },
      { name: `${this.name}.running_mean`, variable: this.movingMean, trainable: false },
      { name: `${this.name}.running_var`, variable: this.movingVar, trainable: false },
    ];
  }
}

interface BatchStatistics {
  mean: tf.Tensor;
  variance: tf.Tensor;
  y?: tf.Tensor4D;
  /** Whether `y` has ReLU applied already. */
  relu?: boolean;
}

/**
 * `relu(a + b)`, a residual connection's sum and activation: one kernel where the active backend
 * has it (the native backend), else the two ops.
 */
export function addRelu(a: Tensor4D, b: Tensor4D): Tensor4D {
  if (tf.getKernel(ADD_RELU, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(ADD_RELU, { a, b }) as Tensor4D;
  }
  return tf.tidy(() => tf.relu(tf.add(a, b)));
}

/** `tf.relu(y)` when `relu`, freeing `y` (the gradient keeps what it needs); else `y`. */
function thenRelu(y: Tensor4D, relu: boolean): Tensor4D {
  if (!relu) return y;
  const out = tf.relu(y);
  y.dispose();
  return out;
}

/**
 * The batch mean and biased variance over N, H, W; where the active backend has a fused
 * training kernel (the native backend), also the normalised output `y`, computed with them in
 * one kernel whose gradient is one kernel too, instead of about 25 small ones.
 */
function batchStatistics(
  x: tf.Tensor4D,
  gamma: tf.Variable,
  beta: tf.Variable,
  relu: boolean,
): BatchStatistics {
  const backend = tf.getBackend();
  const withRelu = relu && tf.getKernel(BATCH_NORM_RELU_TRAINING, backend) !== undefined;
  const kernel = withRelu ? BATCH_NORM_RELU_TRAINING : BATCH_NORM_TRAINING;
  if (tf.getKernel(kernel, backend) === undefined) return tf.moments(x, [0, 1, 2]);
  const [y, mean, variance] = tf.engine().runKernel(
    kernel,
    { x, scale: gamma, offset: beta },
    { varianceEpsilon: BN_EPSILON },
  ) as tf.Tensor[];
  return { mean, variance, y: y as tf.Tensor4D, relu: withRelu };
}

function updateMoving(moving: Variable, batch: tf.Tensor): void {
  const value = blend(moving, batch);
  if (BatchNorm.deferMoving === null) moving.assign(value);
  else BatchNorm.deferMoving(moving, tf.keep(value));
}

/** The moving average's update: one kernel where the backend has it, else three ops. */
function blend(moving: tf.Tensor, batch: tf.Tensor): tf.Tensor {
  if (tf.getKernel(MOVING_AVERAGE, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(
      MOVING_AVERAGE,
      { moving, value: batch },
      { momentum: BN_MOMENTUM },
    ) as tf.Tensor;
  }
  return tf.tidy(() => tf.add(tf.mul(moving, BN_MOMENTUM), tf.mul(batch, 1 - BN_MOMENTUM)));
}
