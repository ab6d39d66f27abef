/**
 * Our kernels for TensorFlow.js's `webgpu` backend, as kernel configs. Each one hands inputs its
 * fast path does not cover (NCHW, dilations, other dtypes, dispatches beyond the device's
 * limits) to the stock kernel it replaces, so every input still gets an answer.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { webgpuKernelConfigs } from "./kernels.ts";
 * const stock = (name: string) => tf.getKernel(name, "webgpu")!.kernelFunc;
 * console.log(webgpuKernelConfigs(stock).map((k) => k.kernelName));
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { convFilterGradient, convInputGradient, deviceLimits } from "./conv_backprop.ts";
import { gemmTiles } from "./gemm.ts";

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

/** The replaced kernels, each falling back on `stock` outside its fast path. */
export function webgpuKernelConfigs(stock: StockKernel): tf.KernelConfig[] {
  const stockFilter = stock(tf.Conv2DBackpropFilter);
  const stockInput = stock(tf.Conv2DBackpropInput);
  return [
    {
      kernelName: tf.Conv2DBackpropFilter,
      backendName: "webgpu",
      kernelFunc: (args) => {
        const { x, dy } = args.inputs as unknown as tf.Conv2DBackpropFilterInputs;
        const a = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
        const backend = args.backend as WebGPUBackend;
        const info = convInfo(
          x.shape as [number, number, number, number],
          a.filterShape as [number, number, number, number],
          a,
        );
        if (!info || !float32(x, dy)) return stockFilter(args);
        const rows = info.filterHeight * info.filterWidth * info.inChannels;
        const tiles = gemmTiles(deviceLimits(backend), rows, info.outChannels);
        if (!fits(backend, Math.ceil(rows / tiles.tm))) return stockFilter(args);
        return convFilterGradient(backend, info, x, dy);
      },
    },
    {
      kernelName: tf.Conv2DBackpropInput,
      backendName: "webgpu",
      kernelFunc: (args) => {
        const { dy, filter } = args.inputs as unknown as tf.Conv2DBackpropInputInputs;
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
        const tiles = gemmTiles(deviceLimits(backend), rows, info.inChannels);
        if (!fits(backend, Math.ceil(rows / tiles.tm))) return stockInput(args);
        return convInputGradient(backend, info, dy, filter);
      },
    },
  ];
}
