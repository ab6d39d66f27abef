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
import { reduceAxesGemm } from "./reduce.ts";
import { tileFast } from "./tile.ts";
import type { BufferPool } from "./pool.ts";
import { adoptingKernel } from "./backend.ts";

/**
 * Below this many output elements the FFI round trip and primitive set-up cost more than the
 * CPU backend's JavaScript loop.
 */
export const MIN_NATIVE_ELEMENTS = 4096;

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** The float32 values of a tensor, kept out of V8's movable heap for the native call. */
function values(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  const v = backend.data.get(t.dataId).values as Float32Array;
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

/**
 * Kernel configs for `backendName` that replace the CPU backend's hot kernels; their outputs
 * take buffers from `buffers`.
 */
export function nativeKernelConfigs(
  dnnl: Dnnl,
  backendName: string,
  buffers: BufferPool,
): tf.KernelConfig[] {
  // The buffer comes from the pool with old contents: every kernel here overwrites all of it.
  const output = (backend: MathBackendCPU, shape: number[]): [tf.TensorInfo, Float32Array] => {
    const out = buffers.take(tf.util.sizeFromShape(shape));
    return [backend.makeTensorInfo(shape, "float32", out), out];
  };
  const conv = new ConvRunner(dnnl);
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
    const g = geometry(tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(a.dataFormat),
    ));
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
    const g = geometry(tf.backend_util.computeConv2DInfo(
      a.inputShape,
      filter.shape as [number, number, number, number],
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(a.dataFormat),
    ));
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
    const g = geometry(tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      a.filterShape,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(a.dataFormat),
    ));
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

  // oneDNN's ReLU turns NaN into 0; this keeps NaN as the CPU backend does, so a diverging run
  // still shows NaN losses. A plain loop is far faster than the CPU backend's closure per element.
  add(tf.Relu, ({ inputs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    if (!allFloat(x)) return null;
    const cpu = backend as MathBackendCPU;
    const [info, out] = output(cpu, [...x.shape]);
    const v = values(cpu, x);
    for (let i = 0; i < v.length; i++) {
      const xi = v[i];
      out[i] = xi < 0 ? 0 : xi;
    }
    return info;
  });

  // The CPU backend calls a closure per element here; ReLU's gradient runs it on every
  // activation.
  add(tf.Step, ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { alpha } = attrs as unknown as tf.StepAttrs;
    if (!allFloat(x)) return null;
    const cpu = backend as MathBackendCPU;
    const [info, out] = output(cpu, [...x.shape]);
    const v = values(cpu, x);
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

  return configs;
}
