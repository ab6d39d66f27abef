/**
 * WebGPU adapter discovery and the TensorFlow.js `webgpu` backend start-up.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-webgpu";

/** What the WebGPU adapter reports, and the limits that bound the network's kernels. */
export interface AdapterReport {
  /** Vendor as the driver names it (may be a PCI id). */
  vendor: string;
  /** Architecture, often empty. */
  architecture: string;
  /** Device id. */
  device: string;
  /** Human-readable adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  description: string;
  /** True for a software rasteriser (llvmpipe, lavapipe, SwiftShader, WARP). */
  software: boolean;
  /** Limits relevant to training kernels. */
  limits: Record<string, number>;
  /** Optional features, e.g. `shader-f16`. */
  features: string[];
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|warp|software/i;

const LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

/** The help printed when no adapter is found. */
export const NO_ADAPTER_HELP: string = [
  "no WebGPU adapter found (navigator.gpu.requestAdapter() returned null).",
  "Without a GPU, install Mesa's software drivers (Debian/Ubuntu: apt-get install",
  "libegl-mesa0 libgl1-mesa-dri mesa-vulkan-drivers) and, if Vulkan still finds nothing,",
  "set DENO_WEBGPU_BACKEND=gl. On NVIDIA, make sure the Vulkan loader (libvulkan1) and the",
  "driver's ICD are installed. Or choose another backend: --backend native|cpu.",
].join(" ");

/** Describes an adapter. */
export function describeAdapter(adapter: GPUAdapter): AdapterReport {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const k of LIMITS) limits[k] = Number(adapter.limits[k]);
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software:
      (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
      SOFTWARE_NAMES.test(`${info.description} ${info.vendor}`),
    limits,
    features: [...adapter.features].sort(),
  };
}

/** Asks for the high-performance adapter; null when WebGPU has none (or is absent). */
export async function findAdapter(): Promise<GPUAdapter | null> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) return null;
  return await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
}

/** Starts TensorFlow.js on WebGPU; throws with {@linkcode NO_ADAPTER_HELP} when impossible. */
export async function startWebGPU(): Promise<AdapterReport> {
  const adapter = await findAdapter();
  if (!adapter) throw new Error(NO_ADAPTER_HELP);
  const report = describeAdapter(adapter);
  if (!(await tf.setBackend("webgpu"))) {
    throw new Error(`TensorFlow.js could not start on WebGPU adapter "${report.description}"`);
  }
  await tf.ready();
  return report;
}
