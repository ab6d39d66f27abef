/**
 * The kernels the native backend replaces, as TensorFlow.js kernel configs. Each one runs the
 * CPU backend's own kernel where its fast path does not apply (other dtypes, dilations, NCHW,
 * tiny tensors, broadcasts oneDNN cannot express), so every input still gets an answer.
 *
 * @example
 * ```ts
 * import { openDnnl } from "./dnnl.ts";
 * import { nativeKernelConfigs } from "./kernels.ts";
 * import { BufferPool } from "./pool.ts";
 * const dnnl = openDnnl();
 * if (dnnl.ok) {
 *   const configs = nativeKernelConfigs(dnnl.lib, "native", new BufferPool());
 *   console.log(configs.map((k) => k.kernelName));
 * }
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { DNNL, type Dnnl } from "./dnnl.ts";
import { type ConvGeometry, ConvRunner } from "./conv.ts";
import { type BinaryOp, ElementwiseRunner } from "./elementwise.ts";
import { reduceAxesGemm, sumsFinite } from "./reduce.ts";
import { tileFast } from "./tile.ts";
import type { BufferPool } from "./pool.ts";
import { adoptingKernel } from "./backend.ts";
import { BatchNormRunner } from "./batch_norm.ts";
import { SgdRunner } from "./sgd.ts";
import {
  ADD_RELU,
  BATCH_NORM_RELU_TRAINING,
  BATCH_NORM_RELU_TRAINING_GRAD,
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  MOMENTUM_SGD_UPDATE,
  MOVING_AVERAGE,
  RELU_GRAD_FROM_OUTPUT,
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
  TOP_K_CORRECT,
} from "../fused_ops.ts";
import { softmaxCrossEntropy, softmaxCrossEntropyGrad, topKCorrect } from "./classification.ts";

/**
 * Below this many output elements the FFI round trip and primitive set-up cost more than the
 * CPU backend's JavaScript loop.
 */
export const MIN_NATIVE_ELEMENTS = 4096;

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** The float32 values of a tensor, kept out of V8's movable heap for the native call. */
function values(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  const v = backend.data.get(t.dataId).values;
  // A float32 tensor may still hold another typed array: the CPU backend casts int32 or bool
  // to float32 by relabelling the same storage (no precision is lost), and its own kernels read
  // any typed array. Native code reads raw bytes, so such values are converted first.
  if (!(v instanceof Float32Array)) return Float32Array.from(v as ArrayLike<number>);
  // Touching .buffer moves a small on-heap typed array to a fixed backing store, so the
  // address oneDNN keeps between set_data_handle and execute stays valid.
  void v.buffer;
  return v;
}

function cpuKernel(name: string): tf.KernelFunc {
  const k = tf.getKernel(name, "cpu");
  if (!k) throw new Error(`native backend: the cpu backend has no kernel ${name} to fall back on`);
  return k.kernelFunc;
}

type Shape4D = [number, number, number, number];

/**
 * The geometry of a 2-D convolution of an input of `inShape` by a filter of `filterShape`
 * under a conv kernel's attributes, or null where the native kernels do not apply. The gradient
 * kernels' attributes carry no dilations: they pass 1.
 */
function convGeometry(
  inShape: Shape4D,
  filterShape: Shape4D,
  a: Pick<tf.Conv2DAttrs, "strides" | "pad" | "dimRoundingMode" | "dataFormat">,
  dilations: tf.Conv2DAttrs["dilations"],
): ConvGeometry | null {
  return geometry(tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    a.strides,
    dilations,
    a.pad,
    a.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(a.dataFormat),
  ));
}

function geometry(info: tf.backend_util.Conv2DInfo): ConvGeometry | null {
  if (info.dataFormat !== "channelsLast" || info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    return null;
  }
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padBottom: info.padInfo.bottom,
    padLeft: info.padInfo.left,
    padRight: info.padInfo.right,
  };
}

function allFloat(...ts: tf.TensorInfo[]): boolean {
  return ts.every((t) => t.dtype === "float32" && tf.util.sizeFromShape(t.shape) > 0);
}

/** Throws unless `a` and `b`, the inputs of `kernel`, are float32 tensors of one shape. */
function oneShape(kernel: string, a: tf.TensorInfo, b: tf.TensorInfo): void {
  if (!allFloat(a, b) || !tf.util.arraysEqual(a.shape, b.shape)) {
    throw new Error(
      `native ${kernel}: expects two float32 tensors of one shape, got ` +
        `${a.dtype}[${a.shape}] and ${b.dtype}[${b.shape}]`,
    );
  }
}

/**
 * Kernel configs for `backendName` that replace the CPU backend's hot kernels; their outputs
 * take buffers from `buffers`, and their convolutions run on `conv` (whose precision the caller
 * may set).
 */
export function nativeKernelConfigs(
  dnnl: Dnnl,
  backendName: string,
  buffers: BufferPool,
  conv: ConvRunner = new ConvRunner(dnnl, buffers),
): tf.KernelConfig[] {
  // The buffer comes from the pool with old contents: every kernel here overwrites all of it.
  const output = (backend: MathBackendCPU, shape: number[]): [tf.TensorInfo, Float32Array] => {
    const out = buffers.take(tf.util.sizeFromShape(shape));
    return [backend.makeTensorInfo(shape, "float32", out), out];
  };
  const elementwise = new ElementwiseRunner(dnnl);
  const configs: tf.KernelConfig[] = [];
  const add = (kernelName: string, fast: (args: KernelArgs) => tf.TensorInfo | null) => {
    const fallback = adoptingKernel(cpuKernel(kernelName));
    configs.push({
      kernelName,
      backendName,
      kernelFunc: (args) => fast(args) ?? fallback(args),
    });
  };

  add(tf.Conv2D, ({ inputs, backend, attrs }) => {
    const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DAttrs;
    if (!allFloat(x, filter)) return null;
    const g = convGeometry(x.shape as Shape4D, filter.shape as Shape4D, a, a.dilations);
    if (!g) return null;
    const cpu = backend as MathBackendCPU;
    const [info, out] = output(cpu, [g.batch, g.outHeight, g.outWidth, g.outChannels]);
    conv.forward(g, values(cpu, x), values(cpu, filter), out);
    return info;
  });

  add(tf.Conv2DBackpropInput, ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (!allFloat(dy, filter)) return null;
    const g = convGeometry(a.inputShape, filter.shape as Shape4D, a, 1);
    if (!g) return null;
    const cpu = backend as MathBackendCPU;
    const [info, out] = output(cpu, [...a.inputShape]);
    conv.backwardData(g, values(cpu, dy), values(cpu, filter), out);
    return info;
  });

  add(tf.Conv2DBackpropFilter, ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    if (!allFloat(x, dy)) return null;
    const g = convGeometry(x.shape as Shape4D, a.filterShape, a, 1);
    if (!g) return null;
    const cpu = backend as MathBackendCPU;
    const [info, out] = output(cpu, [...a.filterShape]);
    conv.backwardWeights(g, values(cpu, x), values(cpu, dy), out);
    return info;
  });

  const binary = (kernelName: string, op: BinaryOp) =>
    add(kernelName, ({ inputs, backend }) => {
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (!allFloat(a, b)) return null;
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      if (tf.util.sizeFromShape(shape) < MIN_NATIVE_ELEMENTS) return null;
      const cpu = backend as MathBackendCPU;
      const plan = elementwise.planBinary(op, a.shape, b.shape, shape);
      if (!plan) return null;
      const [info, out] = output(cpu, shape);
      const [first, second] = plan.swapped ? [b, a] : [a, b];
      plan.run(values(cpu, first), values(cpu, second), out);
      return info;
    });
  binary(tf.Add, "add");
  binary(tf.Sub, "sub");
  binary(tf.Multiply, "mul");
  binary(tf.RealDiv, "div");
  binary(tf.Maximum, "max");
  binary(tf.Minimum, "min");
  binary(tf.SquaredDifference, "squaredDifference");

  const unary = (kernelName: string, alg: number, alpha: number, beta: number) =>
    add(kernelName, ({ inputs, backend }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      if (!allFloat(x) || tf.util.sizeFromShape(x.shape) < MIN_NATIVE_ELEMENTS) return null;
      const cpu = backend as MathBackendCPU;
      const [info, out] = output(cpu, [...x.shape]);
      elementwise.unary(alg, alpha, beta, values(cpu, x), out);
      return info;
    });
  unary(tf.Square, DNNL.eltwiseSquare, 0, 0);
  unary(tf.Neg, DNNL.eltwiseLinear, -1, 0);

  // oneDNN's ReLU turns NaN into 0 (as do its clip and max); the CPU backend keeps NaN, so a
  // diverging run still shows NaN losses. oneDNN runs on all cores, and finite per-channel sums
  // (one oneDNN pass, a tenth of a JavaScript scan) say there is no NaN for it to lose; else the
  // JavaScript loop does it. `out` may be `x` (in place); `channels` is the last axis.
  const relu = (x: Float32Array, out: Float32Array, channels: number) => {
    if (x.length >= MIN_NATIVE_ELEMENTS && sumsFinite(dnnl, x, channels)) {
      return elementwise.unary(DNNL.eltwiseRelu, 0, 0, x, out);
    }
    for (let i = 0; i < x.length; i++) {
      const xi = x[i];
      out[i] = xi < 0 ? 0 : xi;
    }
  };
  add(tf.Relu, ({ inputs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    if (!allFloat(x)) return null;
    const cpu = backend as MathBackendCPU;
    const [info, out] = output(cpu, [...x.shape]);
    relu(values(cpu, x), out, x.shape.at(-1) ?? 1);
    return info;
  });

  // A residual connection's sum and ReLU write one tensor instead of two; the gradient, read
  // from the output, is one pass instead of a step function and a product.
  configs.push({
    kernelName: ADD_RELU,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      oneShape(ADD_RELU, a, b);
      const cpu = backend as MathBackendCPU;
      const [info, out] = output(cpu, [...a.shape]);
      const [av, bv] = [values(cpu, a), values(cpu, b)];
      const plan = out.length >= MIN_NATIVE_ELEMENTS
        ? elementwise.planBinary("add", a.shape, b.shape, a.shape)
        : null;
      if (plan) plan.run(av, bv, out);
      else for (let i = 0; i < out.length; i++) out[i] = av[i] + bv[i];
      relu(out, out, a.shape.at(-1) ?? 1);
      return info;
    },
  });
  configs.push({
    kernelName: RELU_GRAD_FROM_OUTPUT,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { dy, y } = inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
      oneShape(RELU_GRAD_FROM_OUTPUT, dy, y);
      const cpu = backend as MathBackendCPU;
      const [info, out] = output(cpu, [...dy.shape]);
      elementwise.reluGradFromOutput(values(cpu, y), values(cpu, dy), out);
      return info;
    },
  });

  // The CPU backend calls a closure per element here; ReLU's gradient runs it on every
  // activation. With a branch on the sign, half the elements of random activations were
  // mispredicted (5.7 ms per million); a comparison turned into a number is branch-free.
  add(tf.Step, ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { alpha } = attrs as unknown as tf.StepAttrs;
    if (!allFloat(x)) return null;
    const cpu = backend as MathBackendCPU;
    const [info, out] = output(cpu, [...x.shape]);
    const v = values(cpu, x);
    if (alpha === 0) {
      let nan = false;
      for (let i = 0; i < v.length; i++) {
        const xi = v[i];
        out[i] = +(xi > 0);
        nan ||= xi !== xi;
      }
      if (!nan) return info;
    }
    for (let i = 0; i < v.length; i++) {
      const xi = v[i];
      out[i] = xi > 0 ? 1 : xi !== xi ? NaN : alpha;
    }
    return info;
  });

  add(tf.FusedBatchNorm, ({ inputs, backend, attrs }) => {
    const { x, mean, variance, offset, scale } = inputs as Record<
      string,
      tf.TensorInfo | undefined
    >;
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    if (!x || !mean || !variance) return null;
    const channels = x.shape[x.shape.length - 1];
    const params = [mean, variance, offset, scale].filter((t) => t !== undefined);
    if (
      !allFloat(x, ...params) || tf.util.sizeFromShape(x.shape) < MIN_NATIVE_ELEMENTS ||
      params.some((t) => tf.util.sizeFromShape(t.shape) !== channels)
    ) return null;
    const cpu = backend as MathBackendCPU;
    const [info, out] = output(cpu, [...x.shape]);
    elementwise.batchNorm(
      tf.util.sizeFromShape(x.shape) / channels,
      channels,
      varianceEpsilon,
      values(cpu, x),
      values(cpu, mean),
      values(cpu, variance),
      scale ? values(cpu, scale) : null,
      offset ? values(cpu, offset) : null,
      out,
    );
    return info;
  });

  const reduction = (kernelName: string, mean: boolean) =>
    add(kernelName, ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
      if (!allFloat(x) || tf.util.sizeFromShape(x.shape) < MIN_NATIVE_ELEMENTS) return null;
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const kept = x.shape.map((d, i) => axes.includes(i) ? 1 : d);
      const shape = keepDims ? kept : x.shape.filter((_, i) => !axes.includes(i));
      const cpu = backend as MathBackendCPU;
      const [info, out] = output(cpu, shape);
      // sgemm with beta 0 should not read its output, but a stale NaN must not leak if it does.
      out.fill(0);
      if (!reduceAxesGemm(dnnl, values(cpu, x), x.shape, axes, mean, out)) {
        cpu.disposeData(info.dataId);
        return null;
      }
      return info;
    });
  reduction(tf.Sum, false);
  reduction(tf.Mean, true);

  add(tf.Tile, ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { reps } = attrs as unknown as tf.TileAttrs;
    if (!allFloat(x)) return null;
    const cpu = backend as MathBackendCPU;
    const shape = x.shape.map((d, i) => d * reps[i]);
    const [info, out] = output(cpu, shape);
    tileFast(values(cpu, x), x.shape, reps, out);
    return info;
  });

  const batchNorm = new BatchNormRunner(dnnl, buffers);
  /** Channels of a channels-last tensor, checking that its parameters are per channel. */
  const perChannel = (x: tf.TensorInfo, ...perChannel: tf.TensorInfo[]) => {
    const channels = x.shape[x.shape.length - 1];
    const bad = [x, ...perChannel].find((t) => t.dtype !== "float32") ??
      perChannel.find((t) => tf.util.sizeFromShape(t.shape) !== channels);
    if (bad) {
      throw new Error(
        `native ${BATCH_NORM_TRAINING}: expects float32 x [..., C] with per-channel [C] ` +
          `parameters, got x ${x.dtype}[${x.shape}] and ${bad.dtype}[${bad.shape}]`,
      );
    }
    return channels;
  };
  const batchNormConfig = (kernelName: string, relu: boolean): tf.KernelConfig => ({
    kernelName,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, scale, offset } = inputs as Record<string, tf.TensorInfo>;
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      const channels = perChannel(x, scale, offset);
      const cpu = backend as MathBackendCPU;
      const [yInfo, y] = output(cpu, [...x.shape]);
      const [meanInfo, mean] = output(cpu, [channels]);
      const [varInfo, variance] = output(cpu, [channels]);
      batchNorm.forward(
        x.shape,
        varianceEpsilon,
        values(cpu, x),
        values(cpu, scale),
        values(cpu, offset),
        y,
        mean,
        variance,
        relu,
      );
      return [yInfo, meanInfo, varInfo];
    },
  });
  const batchNormGradConfig = (kernelName: string, relu: boolean): tf.KernelConfig => ({
    kernelName,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x, scale, mean, variance, y } = inputs as Record<string, tf.TensorInfo>;
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      const channels = perChannel(x, scale, mean, variance);
      const cpu = backend as MathBackendCPU;
      const [dxInfo, dx] = output(cpu, [...x.shape]);
      const [dScaleInfo, dScale] = output(cpu, [channels]);
      const [dShiftInfo, dShift] = output(cpu, [channels]);
      const run = (dyValues: Float32Array) =>
        batchNorm.backward(
          x.shape,
          varianceEpsilon,
          values(cpu, x),
          values(cpu, mean),
          values(cpu, variance),
          dyValues,
          values(cpu, scale),
          dx,
          dScale,
          dShift,
        );
      if (!relu) run(values(cpu, dy));
      else {
        const masked = buffers.take(dx.length);
        try {
          elementwise.reluGradFromOutput(values(cpu, y), values(cpu, dy), masked);
          run(masked);
        } finally {
          buffers.release(masked);
        }
      }
      return [dxInfo, dScaleInfo, dShiftInfo];
    },
  });
  configs.push(
    batchNormConfig(BATCH_NORM_TRAINING, false),
    batchNormGradConfig(BATCH_NORM_TRAINING_GRAD, false),
    batchNormConfig(BATCH_NORM_RELU_TRAINING, true),
    batchNormGradConfig(BATCH_NORM_RELU_TRAINING_GRAD, true),
  );

  configs.push({
    kernelName: MOVING_AVERAGE,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { moving, value } = inputs as Record<string, tf.TensorInfo>;
      const { momentum } = attrs as unknown as { momentum: number };
      oneShape(MOVING_AVERAGE, moving, value);
      const cpu = backend as MathBackendCPU;
      const [info, out] = output(cpu, [...moving.shape]);
      const [m, v] = [values(cpu, moving), values(cpu, value)];
      const f = Math.fround;
      const [keep, take] = [f(momentum), f(1 - momentum)];
      for (let i = 0; i < out.length; i++) out[i] = f(m[i] * keep) + f(v[i] * take);
      return info;
    },
  });
  configs.push(...classificationConfigs(backendName));
  const sgd = new SgdRunner(dnnl, buffers);
  configs.push({
    kernelName: MOMENTUM_SGD_UPDATE,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { variable, velocity, gradient } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as { lr: number; momentum: number; weightDecay: number };
      const n = tf.util.sizeFromShape(variable.shape);
      if (
        !allFloat(variable, velocity, gradient) ||
        tf.util.sizeFromShape(velocity.shape) !== n || tf.util.sizeFromShape(gradient.shape) !== n
      ) {
        throw new Error(
          `native ${MOMENTUM_SGD_UPDATE}: variable, velocity and gradient must be float32 of ` +
            `one size, got [${variable.shape}], [${velocity.shape}], [${gradient.shape}]`,
        );
      }
      const cpu = backend as MathBackendCPU;
      const [wInfo, wOut] = output(cpu, [...variable.shape]);
      const [vInfo, vOut] = output(cpu, [...variable.shape]);
      const w = values(cpu, variable);
      const v = values(cpu, velocity);
      const g = values(cpu, gradient);
      if (n >= MIN_NATIVE_ELEMENTS) {
        sgd.update(w, v, g, wOut, vOut, a);
        return [wInfo, vInfo];
      }
      // The op sequence rounds each intermediate to float32, its scalars too; so does this.
      const f = Math.fround;
      const [lr, m, wd] = [f(a.lr), f(a.momentum), f(a.weightDecay)];
      const decay = a.weightDecay !== 0;
      for (let i = 0; i < n; i++) {
        const gi = decay ? f(g[i] + f(w[i] * wd)) : g[i];
        const vi = f(f(v[i] * m) + gi);
        vOut[i] = vi;
        wOut[i] = w[i] - f(vi * lr);
      }
      return [wInfo, vInfo];
    },
  });

  return configs;
}

/** The logits and labels of a classification kernel, checked: float32 `[N, C]`, int32 `[N]`. */
function logitsAndLabels(
  kernel: string,
  backend: MathBackendCPU,
  inputs: tf.NamedTensorInfoMap,
): { logits: Float32Array; labels: Int32Array; classes: number } {
  const { logits, labels } = inputs as Record<string, tf.TensorInfo>;
  if (
    logits.dtype !== "float32" || logits.shape.length !== 2 || labels.dtype !== "int32" ||
    labels.shape.length !== 1 || labels.shape[0] !== logits.shape[0]
  ) {
    throw new Error(
      `native ${kernel}: logits must be float32 [N, C] and labels int32 [N], got ` +
        `${logits.dtype} [${logits.shape}] and ${labels.dtype} [${labels.shape}]`,
    );
  }
  return {
    logits: values(backend, logits),
    labels: backend.data.get(labels.dataId).values as Int32Array,
    classes: logits.shape[1],
  };
}

/** The classification head's kernels, in JavaScript: one pass each over a small batch. */
function classificationConfigs(backendName: string): tf.KernelConfig[] {
  const scalar = (backend: MathBackendCPU, x: number) =>
    backend.makeTensorInfo([], "float32", Float32Array.of(x));
  return [{
    kernelName: TOP_K_CORRECT,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const cpu = backend as MathBackendCPU;
      const { logits, labels, classes } = logitsAndLabels(TOP_K_CORRECT, cpu, inputs);
      const { k } = attrs as unknown as { k: number };
      return scalar(cpu, topKCorrect(logits, labels, classes, k));
    },
  }, {
    kernelName: SOFTMAX_CROSS_ENTROPY,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const cpu = backend as MathBackendCPU;
      const { logits, labels, classes } = logitsAndLabels(SOFTMAX_CROSS_ENTROPY, cpu, inputs);
      return scalar(cpu, softmaxCrossEntropy(logits, labels, classes));
    },
  }, {
    kernelName: SOFTMAX_CROSS_ENTROPY_GRAD,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const cpu = backend as MathBackendCPU;
      const { logits, labels, classes } = logitsAndLabels(SOFTMAX_CROSS_ENTROPY_GRAD, cpu, inputs);
      const dy = values(cpu, inputs.dy as tf.TensorInfo)[0];
      const out = new Float32Array(logits.length);
      softmaxCrossEntropyGrad(dy, logits, labels, classes, out);
      return cpu.makeTensorInfo([labels.length, classes], "float32", out);
    },
  }];
}
