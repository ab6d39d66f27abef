/**
 * Gradient functions for the kernels training differentiates.
 *
 * `@tensorflow/tfjs-core` ships its gradient configs only as extensionless ES modules
 * (`dist/register_all_gradients.js`), which Deno cannot load, and the umbrella `@tensorflow/tfjs`
 * package that normally registers them is off limits (it bloats `deno compile`). Without them
 * `tf.variableGrads` fails with "gradient function not found". This module registers the configs
 * of the kernels that ResNet-FCN, its BatchNorm (`tf.moments` + `tf.batchNorm`) and the recipe's
 * loss use, ported from tfjs-core 4.22.0 (`src/gradients/*_grad.ts`, Apache-2.0) onto the public
 * API. A kernel that already has a gradient (e.g. registered by the umbrella package) keeps it.
 *
 * Importing the module is enough; `Model` imports it.
 *
 * @example
 * ```ts
 * import "./gradients.ts";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * const x = tf.variable(tf.scalar(3));
 * const { grads } = tf.variableGrads(() => tf.neg(tf.square(x)) as tf.Scalar, [x]);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

type GradFunc = tf.GradConfig["gradFunc"];
type Saved = tf.Tensor[];

const { getReductionAxes, assertAndGetBroadcastShape } = tf.broadcast_util;

/** Sums `dy` over the axes `shape` was broadcast along, then reshapes to `shape`. */
function unbroadcast(dy: tf.Tensor, shape: number[], outShape: number[]): tf.Tensor {
  const axes = getReductionAxes(shape, outShape);
  return tf.reshape(axes.length > 0 ? tf.sum(dy, axes) : dy, shape);
}

/** `shape` with every axis in `axes` set to 1 (the kept-dims shape of a reduction). */
function keepDims(shape: readonly number[], axes: readonly number[]): number[] {
  const out = [...shape];
  for (const a of axes) out[a] = 1;
  return out;
}

const binary = (
  kernelName: string,
  der: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => [tf.Tensor, tf.Tensor],
): tf.GradConfig => ({
  kernelName,
  inputsToSave: ["a", "b"],
  gradFunc: ((dy: tf.Tensor, [a, b]: Saved) => {
    const out = assertAndGetBroadcastShape(a.shape, b.shape);
    return {
      a: () => unbroadcast(der(dy, a, b)[0], a.shape, out),
      b: () => unbroadcast(der(dy, a, b)[1], b.shape, out),
    };
  }) as GradFunc,
});

const unary = (
  kernelName: string,
  der: (dy: tf.Tensor, x: tf.Tensor) => tf.Tensor,
  save: "input" | "output" = "input",
): tf.GradConfig => ({
  kernelName,
  ...(save === "input" ? { inputsToSave: ["x"] } : { outputsToSave: [true] }),
  gradFunc: ((dy: tf.Tensor, [x]: Saved) => ({ x: () => der(dy, x) })) as GradFunc,
});

const f32 = (t: tf.Tensor) => tf.cast(t, "float32");

const reduceGrad = (kernelName: string, mean: boolean): tf.GradConfig => ({
  kernelName,
  inputsToSave: ["x"],
  gradFunc: ((dy: tf.Tensor, [x]: Saved, attrs: tf.NamedAttrMap) => {
    const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape);
    const size = axes.reduce((n, a) => n * x.shape[a], 1);
    return {
      x: () => {
        const spread = tf.mul(tf.reshape(dy, keepDims(x.shape, axes)), tf.ones(x.shape));
        return mean ? tf.div(spread, size) : spread;
      },
    };
  }) as GradFunc,
});

const CONFIGS: tf.GradConfig[] = [
  binary(tf.Add, (dy) => [dy, dy]),
  binary(tf.Sub, (dy) => [dy, tf.neg(dy)]),
  binary(tf.Multiply, (dy, a, b) => [tf.mul(dy, f32(b)), tf.mul(dy, f32(a))]),
  binary(tf.RealDiv, (dy, a, b) => [
    tf.div(dy, f32(b)),
    tf.neg(tf.div(tf.mul(dy, f32(a)), tf.square(f32(b)))),
  ]),
  binary(tf.SquaredDifference, (dy, a, b) => {
    const twice = tf.mul(tf.sub(a, b), 2);
    return [tf.mul(dy, twice), tf.mul(dy, tf.neg(twice))];
  }),
  unary(tf.Neg, (dy) => tf.neg(dy)),
  unary(tf.Cast, (dy) => dy.clone()),
  unary(tf.Identity, (dy) => dy.clone()),
  // From the output: relu(x) > 0 exactly where x > 0 (NaN stays NaN), and the output is kept for
  // the next layer anyway, so the input (a BatchNorm output or a residual sum) is not kept.
  unary(tf.Relu, (dy, y) => tf.mul(dy, f32(tf.step(y))), "output"),
  unary(tf.Square, (dy, x) => tf.mul(dy, tf.mul(f32(x), 2))),
  unary(tf.Sqrt, (dy, x) => tf.div(dy, tf.mul(tf.sqrt(f32(x)), 2))),
  unary(tf.Rsqrt, (dy, x) => tf.div(dy, tf.mul(tf.pow(x, 1.5), -2))),
  unary(tf.Log, (dy, x) => tf.div(dy, f32(x))),
  unary(tf.Exp, (dy, y) => tf.mul(dy, y), "output"),
  {
    kernelName: tf.Reshape,
    inputsToSave: ["x"],
    gradFunc: ((dy: tf.Tensor, [x]: Saved) => ({ x: () => tf.reshape(dy, x.shape) })) as GradFunc,
  },
  reduceGrad(tf.Sum, false),
  reduceGrad(tf.Mean, true),
  {
    kernelName: tf.Max,
    inputsToSave: ["x"],
    outputsToSave: [true],
    gradFunc: ((dy: tf.Tensor, [x, y]: Saved, attrs: tf.NamedAttrMap) => {
      const axes = tf.util.parseAxisParam(attrs.reductionIndices as number | number[], x.shape);
      const kept = keepDims(x.shape, axes);
      return {
        x: () => tf.mul(tf.reshape(dy, kept), tf.cast(tf.equal(x, tf.reshape(y, kept)), dy.dtype)),
      };
    }) as GradFunc,
  },
  {
    kernelName: tf.PadV2,
    inputsToSave: ["x"],
    gradFunc: ((dy: tf.Tensor, [x]: Saved, attrs: tf.NamedAttrMap) => {
      const paddings = attrs.paddings as [number, number][];
      return { x: () => tf.slice(dy, paddings.map((p) => p[0]), x.shape) };
    }) as GradFunc,
  },
  {
    kernelName: tf.Conv2D,
    inputsToSave: ["x", "filter"],
    gradFunc: ((dy: tf.Tensor, [x, filter]: Saved, attrs: tf.NamedAttrMap) => {
      const { dilations, strides, pad, dataFormat, dimRoundingMode } = attrs;
      const dil = typeof dilations === "number" ? [dilations] : dilations as number[];
      if (dil.some((d) => d !== 1)) {
        throw new Error(`gradient of conv2d: dilation rates other than 1 are not supported`);
      }
      const engine = tf.engine();
      const common = { strides, pad, dataFormat, dimRoundingMode };
      return {
        x: () =>
          engine.runKernel(tf.Conv2DBackpropInput, { dy, filter }, {
            ...common,
            inputShape: x.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        filter: () =>
          engine.runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
            ...common,
            filterShape: filter.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
    }) as GradFunc,
  },
  {
    kernelName: tf.FusedBatchNorm,
    inputsToSave: ["x", "mean", "variance", "scale"],
    gradFunc: ((dy: tf.Tensor, saved: Saved, attrs: tf.NamedAttrMap) => {
      const [x, mean, variance, scale] = saved;
      const eps = attrs.varianceEpsilon as number;
      const gamma = scale ?? tf.scalar(1);
      // Axes of x that mean/variance/scale/offset were broadcast along.
      const axes = getReductionAxes(mean.shape, x.shape);
      const toParam = (t: tf.Tensor) => tf.reshape(axes.length ? tf.sum(t, axes) : t, mean.shape);
      const xMinusMean = tf.sub(x, mean);
      const dyGamma = tf.mul(dy, gamma);
      const invStd = tf.rsqrt(tf.add(variance, eps));
      return {
        x: () => tf.mul(dyGamma, invStd),
        mean: () => toParam(tf.neg(tf.mul(dyGamma, invStd))),
        variance: () =>
          toParam(tf.mul(tf.mul(tf.pow(invStd, 3), -0.5), tf.mul(xMinusMean, dyGamma))),
        scale: () => toParam(tf.mul(dy, tf.mul(xMinusMean, invStd))),
        offset: () => toParam(dy),
      };
    }) as GradFunc,
  },
];

for (const config of CONFIGS) {
  if (tf.getGradient(config.kernelName) === undefined) tf.registerGradient(config);
}

/** Kernel names this module provides gradients for. */
export const REGISTERED_GRADIENTS: readonly string[] = CONFIGS.map((c) => c.kernelName);
