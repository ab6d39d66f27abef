/**
 * Our WGSL training kernels over TensorFlow.js's `webgpu` backend, switched on or off as a
 * whole: `ours` registers them in place of the stock kernels (the convolution and its gradients
 * as implicit GEMMs, tiled in workgroup memory on a GPU and register-only on a CPU adapter, fused
 * BatchNorm training forward and backward, the momentum-SGD update), `stock` puts TensorFlow.js's
 * own kernels back, so a user can rule ours out and a benchmark can compare both. Model code does
 * not change.
 *
 * @example
 * ```ts
 * import { useWebGPUKernels } from "./webgpu_kernels.ts";
 * useWebGPUKernels("stock");
 * useWebGPUKernels("ours");
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-webgpu";
import { webgpuFusedConfigs, webgpuKernelConfigs } from "./webgpu/kernels.ts";
import { registerFusedGradients } from "./fused_gradients.ts";

/** Values of `--webgpu-kernels`. */
export const WEBGPU_KERNEL_CHOICES = ["ours", "stock"] as const;
/** Which kernels the `webgpu` backend runs. */
export type WebGPUKernels = typeof WEBGPU_KERNEL_CHOICES[number];

const stock = new Map<string, tf.KernelConfig>();
let active: WebGPUKernels = "stock";

function stockKernel(name: string): tf.KernelFunc {
  const k = stock.get(name) ?? tf.getKernel(name, "webgpu");
  if (!k) throw new Error(`webgpu backend: TensorFlow.js has no stock kernel ${name}`);
  return k.kernelFunc;
}

/** Which kernels are registered now. */
export function activeWebGPUKernels(): WebGPUKernels {
  return active;
}

/**
 * Registers our kernels (`ours`) or TensorFlow.js's own (`stock`) for the `webgpu` backend;
 * idempotent. Kernels run after the switch use the new set.
 */
export function useWebGPUKernels(which: WebGPUKernels): void {
  if (!WEBGPU_KERNEL_CHOICES.includes(which)) {
    throw new Error(
      `unknown WebGPU kernel set "${which}": choose one of ${WEBGPU_KERNEL_CHOICES.join(", ")}`,
    );
  }
  if (which === active) return;
  const ours = webgpuKernelConfigs(stockKernel);
  for (const k of ours) {
    const current = tf.getKernel(k.kernelName, "webgpu");
    if (current && !stock.has(k.kernelName)) stock.set(k.kernelName, current);
    if (current) tf.unregisterKernel(k.kernelName, "webgpu");
    const replacement = which === "ours" ? k : stock.get(k.kernelName);
    if (replacement) tf.registerKernel(replacement);
  }
  for (const k of webgpuFusedConfigs()) {
    if (tf.getKernel(k.kernelName, "webgpu")) tf.unregisterKernel(k.kernelName, "webgpu");
    if (which === "ours") tf.registerKernel(k);
  }
  registerFusedGradients();
  active = which;
}
