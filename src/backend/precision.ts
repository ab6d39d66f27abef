/**
 * `--precision`: the arithmetic of the training kernels. `f32` everywhere is the default. `bf16`
 * (mixed: the convolutions and their gradients take bfloat16 inputs and accumulate in f32; master
 * weights, optimiser, BatchNorm and the loss stay f32) needs the native backend on a CPU with
 * bfloat16 instructions (AVX-512 BF16 or AMX). `f16` (mixed: f16 storage and math in the
 * convolutions, f32 accumulation, master weights and BatchNorm statistics) needs WebGPU with the
 * `shader-f16` feature. A run that asks for what
 * it cannot have stops with one line saying why, rather than training in another precision.
 *
 * @example
 * ```ts
 * import { precisionProblem } from "./precision.ts";
 * console.log(precisionProblem("f16", { backend: "cpu" }));
 * ```
 *
 * @module
 */
import type { BackendReport } from "./select.ts";

/** Values of `--precision`. */
export const PRECISION_CHOICES = ["f32", "bf16", "f16"] as const;
/** A training precision. */
export type Precision = typeof PRECISION_CHOICES[number];

/**
 * Why `precision` cannot run on the started backend, in one line; null when it can. For `bf16`
 * on `native` the CPU is checked when the precision is set ({@linkcode setNativePrecision} in
 * `native.ts`). On an adapter with `shader-f16` the answer is still a refusal: the f16 kernels
 * are not built yet.
 */
export function precisionProblem(
  precision: Precision,
  report: Pick<BackendReport, "backend" | "adapter">,
): string | null {
  if (precision === "f32") return null;
  if (precision === "bf16") {
    return report.backend === "native" ? null : `--precision bf16 runs only on --backend native ` +
      `(this run is on ${report.backend}); use --precision f32`;
  }
  if (report.backend !== "webgpu") {
    return `--precision f16 runs only on --backend webgpu (this run is on ${report.backend}); ` +
      "use --precision f32";
  }
  const adapter = report.adapter;
  if (!adapter?.features.includes("shader-f16")) {
    return `--precision f16 needs a WebGPU adapter with the shader-f16 feature; "${
      adapter?.description ?? "this adapter"
    }" has none (use --precision f32)`;
  }
  return "--precision f16: the f16 training kernels are not built yet; use --precision f32";
}
