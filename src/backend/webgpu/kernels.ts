/**
 * Our kernels for TensorFlow.js's `webgpu` backend, as kernel configs. Each one hands inputs its
 * fast path does not cover (NCHW, dilations, other dtypes, dispatches beyond the device's
 * limits) to the stock kernel it replaces, so every input still gets an answer.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-webgpu";
 * import { webgpuKernelConfigs } from "./kernels.ts";
 * const stock = (name: string) => tf.getKernel(name, "webgpu")!.kernelFunc;
 * console.log(webgpuKernelConfigs(stock).map((k) => k.kernelName));
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import {
  convFilterGradient,
  convInputGradient,
  filterGradientTiles,
  inputGradientTiles,
} from "./conv_backprop.ts";
import { convForward, forwardRows, forwardTiles } from "./conv_forward.ts";
import {
  type ConvPass,
  directConvFilterGradient,
  directConvForward,
  directConvInputGradient,
  directCovers,
  directFilterTiles,
  directForwardTiles,
  directInputTiles,
} from "./conv_direct.ts";
import { convGemm } from "./limits.ts";
import { batchNormBackward, batchNormForward } from "./batch_norm.ts";
import { type MomentumAttrs, momentumUpdate } from "./sgd.ts";
import {
  BATCH_NORM_RELU_TRAINING,
  BATCH_NORM_RELU_TRAINING_GRAD,
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  MOMENTUM_SGD_UPDATE,
} from "../fused_ops.ts";

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/** The stock kernel of a name, for inputs our kernels do not cover. */
export type StockKernel = (name: string) => tf.KernelFunc;

function convInfo(
  inShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  a: Pick<tf.Conv2DAttrs, "strides" | "pad" | "dimRoundingMode" | "dataFormat">,
): Conv2DInfo | null {
  const info = tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(a.dataFormat),
  );
  return info.dataFormat === "channelsLast" ? info : null;
}

function float32(...ts: tf.TensorInfo[]): boolean {
  return ts.every((t) => t.dtype === "float32");
}

/** Whether a grid fits the device's workgroup count per dimension. */
function fits(backend: WebGPUBackend, groups: number): boolean {
  return groups <= backend.device.limits.maxComputeWorkgroupsPerDimension;
}

/** Whether the direct (register-only) GEMMs serve `info` on `backend`, with `rows` of tiles. */
function direct(
  backend: WebGPUBackend,
  info: Conv2DInfo,
  pass: ConvPass,
  rows: number,
  perGroup: number,
): boolean {
  return convGemm(backend) === "direct" && directCovers(info, pass) &&
    fits(backend, Math.ceil(rows / perGroup));
}

/** Channels of a channels-last float32 tensor whose parameters are per channel, or throws. */
function perChannel(kernel: string, x: tf.TensorInfo, ...params: tf.TensorInfo[]): number {
  const channels = x.shape[x.shape.length - 1];
  const bad = [x, ...params].find((t) => t.dtype !== "float32") ??
    params.find((t) => tf.util.sizeFromShape(t.shape) !== channels);
  if (bad) {
    throw new Error(
      `webgpu ${kernel}: expects float32 x [..., C] with per-channel [C] parameters, got x ` +
        `${x.dtype}[${x.shape}] and ${bad.dtype}[${bad.shape}]`,
    );
  }
  return channels;
}

/** BatchNorm's training forward, with the ReLU that follows it where `relu`. */
function batchNormConfig(kernelName: string, relu: boolean): tf.KernelConfig {
  return {
    kernelName,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, scale, offset } = inputs as Record<string, tf.TensorInfo>;
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      perChannel(kernelName, x, scale, offset);
      return batchNormForward(backend as WebGPUBackend, x, scale, offset, varianceEpsilon, relu);
    },
  };
}

/** The gradient of {@linkcode batchNormConfig}'s kernel: masked by its output `y` where `relu`. */
function batchNormGradConfig(kernelName: string, relu: boolean): tf.KernelConfig {
  return {
    kernelName,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x, scale, mean, variance, y } = inputs as Record<string, tf.TensorInfo>;
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      perChannel(kernelName, x, scale, mean, variance);
      return batchNormBackward(
        backend as WebGPUBackend,
        dy,
        x,
        scale,
        mean,
        variance,
        varianceEpsilon,
        relu ? y : undefined,
      );
    },
  };
}

/** The fused training kernels `../fused_ops.ts` names; model code uses them where present. */
export function webgpuFusedConfigs(): tf.KernelConfig[] {
  return [
    batchNormConfig(BATCH_NORM_TRAINING, false),
    batchNormGradConfig(BATCH_NORM_TRAINING_GRAD, false),
    batchNormConfig(BATCH_NORM_RELU_TRAINING, true),
    batchNormGradConfig(BATCH_NORM_RELU_TRAINING_GRAD, true),
    {
      kernelName: MOMENTUM_SGD_UPDATE,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { variable, velocity, gradient } = inputs as Record<string, tf.TensorInfo>;
        const n = tf.util.sizeFromShape(variable.shape);
        if (
          !float32(variable, velocity, gradient) ||
          tf.util.sizeFromShape(velocity.shape) !== n ||
          tf.util.sizeFromShape(gradient.shape) !== n
        ) {
          throw new Error(
            `webgpu ${MOMENTUM_SGD_UPDATE}: variable, velocity and gradient must be float32 of ` +
              `one size, got [${variable.shape}], [${velocity.shape}], [${gradient.shape}]`,
          );
        }
        return momentumUpdate(
          backend as WebGPUBackend,
          variable,
          velocity,
          gradient,
          attrs as unknown as MomentumAttrs,
        );
      },
    },
  ];
}

/** The replaced kernels, each falling back on `stock` outside its fast path. */
export function webgpuKernelConfigs(stock: StockKernel): tf.KernelConfig[] {
  const stockForward = stock(tf.Conv2D);
  const stockFilter = stock(tf.Conv2DBackpropFilter);
  const stockInput = stock(tf.Conv2DBackpropInput);
  return [
    {
      kernelName: tf.Conv2D,
      backendName: "webgpu",
      kernelFunc: (args) => {
        const { x, filter } = args.inputs as Record<"x" | "filter", tf.TensorInfo>;
        const a = args.attrs as unknown as tf.Conv2DAttrs;
        const backend = args.backend as WebGPUBackend;
        const dilations = typeof a.dilations === "number" ? [a.dilations] : a.dilations ?? [1];
        const info = convInfo(
          x.shape as [number, number, number, number],
          filter.shape as [number, number, number, number],
          a,
        );
        if (!info || !float32(x, filter) || dilations.some((d) => d !== 1)) {
          return stockForward(args);
        }
        const t = directForwardTiles(backend, info);
        if (direct(backend, info, "forward", forwardRows(info), t.g * t.rm)) {
          return directConvForward(backend, info, x, filter);
        }
        const tiles = forwardTiles(backend, info);
        if (!fits(backend, Math.ceil(forwardRows(info) / tiles.tm))) return stockForward(args);
        return convForward(backend, info, x, filter);
      },
    },
    {
      kernelName: tf.Conv2DBackpropFilter,
      backendName: "webgpu",
      kernelFunc: (args) => {
        const { x, dy } = args.inputs as Record<"x" | "dy", tf.TensorInfo>;
        const a = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
        const backend = args.backend as WebGPUBackend;
        const info = convInfo(
          x.shape as [number, number, number, number],
          a.filterShape as [number, number, number, number],
          a,
        );
        if (!info || !float32(x, dy)) return stockFilter(args);
        const rows = info.filterHeight * info.filterWidth * info.inChannels;
        const t = directFilterTiles(backend, info);
        if (direct(backend, info, "filter", rows, t.g * t.rm)) {
          return directConvFilterGradient(backend, info, x, dy);
        }
        const tiles = filterGradientTiles(backend, info);
        if (!fits(backend, Math.ceil(rows / tiles.tm))) return stockFilter(args);
        return convFilterGradient(backend, info, x, dy);
      },
    },
    {
      kernelName: tf.Conv2DBackpropInput,
      backendName: "webgpu",
      kernelFunc: (args) => {
        const { dy, filter } = args.inputs as Record<"dy" | "filter", tf.TensorInfo>;
        const a = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
        const backend = args.backend as WebGPUBackend;
        const info = convInfo(
          a.inputShape as [number, number, number, number],
          filter.shape as [number, number, number, number],
          a,
        );
        if (!info || !float32(dy, filter)) return stockInput(args);
        const rows = info.batchSize * Math.ceil(info.inHeight / info.strideHeight) *
          Math.ceil(info.inWidth / info.strideWidth);
        const t = directInputTiles(backend, info);
        if (direct(backend, info, "input", rows, t.g * t.rm)) {
          return directConvInputGradient(backend, info, dy, filter);
        }
        const tiles = inputGradientTiles(backend, info);
        if (!fits(backend, Math.ceil(rows / tiles.tm))) return stockInput(args);
        return convInputGradient(backend, info, dy, filter);
      },
    },
  ];
}
