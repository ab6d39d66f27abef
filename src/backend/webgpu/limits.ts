/**
 * Workgroup sizes of our `webgpu` kernels, chosen from the device's limits (`GPUDevice.limits`)
 * rather than from one device's numbers: a kernel asks here for its one-dimensional group or its
 * GEMM limits and gets the largest size the device allows up to what the kernel wants.
 *
 * @example
 * ```ts
 * import { powerOfTwoWithin } from "./limits.ts";
 * console.log(powerOfTwoWithin(64, { maxComputeInvocationsPerWorkgroup: 32,
 *   maxComputeWorkgroupSizeX: 256 })); // 32
 * ```
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { GemmLimits } from "./gemm.ts";

/** The limits that bound a one-dimensional workgroup. */
export interface LinearLimits {
  /** Invocations one workgroup may have. */
  maxComputeInvocationsPerWorkgroup: number;
  /** Workgroup size along x. */
  maxComputeWorkgroupSizeX: number;
}

/** The largest power of two ≤ `wanted` that a one-dimensional workgroup may have on `limits`. */
export function powerOfTwoWithin(wanted: number, limits: LinearLimits): number {
  const most = Math.min(
    wanted,
    limits.maxComputeInvocationsPerWorkgroup,
    limits.maxComputeWorkgroupSizeX,
  );
  let w = 1;
  while (w * 2 <= most) w *= 2;
  return w;
}

/** Invocations per workgroup of our element-wise kernels (64 where the device allows it). */
export function linearGroup(backend: WebGPUBackend): number {
  return powerOfTwoWithin(64, backend.device.limits);
}

/** Invocations per workgroup of our per-channel reductions (256 where the device allows it). */
export function reduceGroup(backend: WebGPUBackend): number {
  return powerOfTwoWithin(256, backend.device.limits);
}

/** The device limits GEMM tiles are chosen from. */
export function deviceLimits(backend: WebGPUBackend): GemmLimits {
  const l = backend.device.limits;
  return {
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
  };
}

/** Environment variable forcing the convolution GEMM family: `tiled` or `direct`. */
export const WEBGPU_GEMM_ENV = "DENO_TRAINER_WEBGPU_GEMM";

/** The convolution GEMM families: workgroup-memory tiles, or registers only. */
export type ConvGemm = "tiled" | "direct";

let forced: ConvGemm | undefined;

/**
 * Forces the convolution GEMM family in this process (`undefined`: the adapter's choice again).
 * Tests use it rather than setting {@linkcode WEBGPU_GEMM_ENV}: changing the environment of a
 * process whose driver threads may read it is not thread-safe.
 */
export function forceConvGemm(gemm: ConvGemm | undefined): void {
  forced = gemm;
}

/**
 * The family for a `wanted` value of {@linkcode WEBGPU_GEMM_ENV} (unset: none) on a CPU adapter
 * (`cpuAdapter`) or a GPU: `direct` (no workgroup memory or barriers, see `conv_direct.ts`) on a
 * CPU, `tiled` on a GPU, unless `wanted` names one.
 */
export function chooseConvGemm(wanted: string | undefined, cpuAdapter: boolean): ConvGemm {
  if (wanted === "tiled" || wanted === "direct") return wanted;
  if (wanted) throw new Error(`${WEBGPU_GEMM_ENV}="${wanted}": choose tiled or direct`);
  return cpuAdapter ? "direct" : "tiled";
}

/**
 * The convolution GEMM family for `backend`'s adapter (WebGPU reports a CPU adapter — llvmpipe,
 * SwiftShader, WARP — as a fallback adapter), as {@linkcode forceConvGemm} or
 * {@linkcode WEBGPU_GEMM_ENV} may override it.
 */
export function convGemm(backend: WebGPUBackend): ConvGemm {
  return forced ?? chooseConvGemm(
    Deno.env.get(WEBGPU_GEMM_ENV),
    backend.device.adapterInfo?.isFallbackAdapter === true,
  );
}
