/**
 * The `native` backend: TensorFlow.js's CPU backend with its hot kernels (convolution and its
 * two gradients, broadcasting element-wise arithmetic, ReLU, sums and means, tile) replaced by
 * multi-threaded native code from oneDNN (Debian `libdnnl2`), called through Deno's FFI. Model
 * code does not change: it is one more TensorFlow.js backend.
 *
 * oneDNN is opened at run time; where it is missing `registerNativeBackend` says why and
 * registers nothing, so backend choice can move on with that reason.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { registerNativeBackend } from "./native.ts";
 * const native = await registerNativeBackend();
 * if (native.ok) await tf.setBackend("native");
 * else console.log(`native backend unavailable: ${native.reason}`);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { adoptingKernel, NativeBackend } from "./native/backend.ts";
import { openDnnl } from "./native/dnnl.ts";
import { BufferPool } from "./native/pool.ts";
import { nativeKernelConfigs } from "./native/kernels.ts";
import { registerFusedGradients } from "./fused_gradients.ts";
import { type ConvPrecision, ConvRunner } from "./native/conv.ts";

export type { ConvPrecision };

/** The backend name registered with TensorFlow.js. */
export const NATIVE_BACKEND = "native";

/** Outcome of `registerNativeBackend`. */
export type NativeBackendResult =
  | { ok: true; name: "native"; library: string; threads: number }
  | { ok: false; reason: string };

let registered: NativeBackendResult | null = null;
let convolutions: ConvRunner | null = null;

/**
 * Sets what the native backend's convolutions compute in: `f32` (the default), or `bf16`,
 * mixed precision: each convolution and both its gradients take bfloat16 inputs and accumulate
 * and return float32, while weights, optimiser state, BatchNorm and the loss stay float32. Throws
 * a clear error where the backend is not registered or the CPU has no bfloat16 instructions.
 *
 * @example
 * ```ts
 * import { registerNativeBackend, setNativePrecision } from "./native.ts";
 * if ((await registerNativeBackend()).ok) setNativePrecision("f32");
 * ```
 */
export function setNativePrecision(precision: ConvPrecision): void {
  if (!convolutions) {
    throw new Error(`--precision ${precision}: the native backend is not running`);
  }
  convolutions.precision = precision;
}

/**
 * Threads oneDNN runs on: `OMP_NUM_THREADS` when set (OpenMP reads it), else every core.
 */
function threadCount(): number {
  const env = Number(Deno.env.get("OMP_NUM_THREADS"));
  return Number.isInteger(env) && env > 0 ? env : navigator.hardwareConcurrency;
}

/**
 * Registers the `native` backend (idempotent). All the CPU backend's kernels are registered
 * under `native` too, then the hot ones are replaced by oneDNN versions. Needs
 * `--allow-ffi` and the Debian package `libdnnl2`; never throws for their absence.
 *
 * @example
 * ```ts
 * import { registerNativeBackend } from "./native.ts";
 * const r = await registerNativeBackend();
 * console.log(r.ok ? `${r.library}, ${r.threads} threads` : r.reason);
 * ```
 */
// deno-lint-ignore require-await -- async by the agreed API, so that a later design may await.
export async function registerNativeBackend(): Promise<NativeBackendResult> {
  if (registered) return registered;
  let opened: ReturnType<typeof openDnnl>;
  try {
    opened = openDnnl();
  } catch (e) {
    return { ok: false, reason: `oneDNN failed to start: ${(e as Error).message}` };
  }
  if (!opened.ok) return { ok: false, reason: opened.reason };
  const dnnl = opened.lib;
  const pool = new BufferPool();
  convolutions = new ConvRunner(dnnl, pool);
  const replaced = nativeKernelConfigs(dnnl, NATIVE_BACKEND, pool, convolutions);
  const names = new Set(replaced.map((k) => k.kernelName));
  for (const k of tf.getKernelsForBackend("cpu")) {
    if (names.has(k.kernelName)) continue;
    tf.registerKernel({
      ...k,
      backendName: NATIVE_BACKEND,
      kernelFunc: adoptingKernel(k.kernelFunc),
    });
  }
  for (const k of replaced) tf.registerKernel(k);
  registerFusedGradients();
  // Priority below webgpu (3) and above cpu (1): a plain tf.ready() still prefers a GPU.
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(pool), 2);
  registered = {
    ok: true,
    name: NATIVE_BACKEND,
    library: `oneDNN ${dnnl.version} (${dnnl.path})`,
    threads: threadCount(),
  };
  return registered;
}
