/**
 * Backend choice: `auto` prefers a real GPU, then the native CPU backend, then WebGPU on a
 * software adapter, then TensorFlow.js's plain JavaScript CPU backend. Every choice comes with
 * the reason, so a run never falls back silently.
 *
 * @example
 * ```ts
 * import { selectBackend } from "./select.ts";
 * const report = await selectBackend("cpu");
 * console.log(report.summary);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { type AdapterReport, describeAdapter, findAdapter, startWebGPU } from "./webgpu.ts";
import { registerNativeBackend } from "./native.ts";
import { useWebGPUKernels, type WebGPUKernels } from "./webgpu_kernels.ts";

/** Backend names a user can ask for. */
export const BACKEND_CHOICES = ["auto", "webgpu", "native", "cpu"] as const;
/** A backend a user can ask for. */
export type BackendChoice = typeof BACKEND_CHOICES[number];

/** Options of {@linkcode selectBackend}. */
export interface SelectOptions {
  /**
   * On `webgpu`: our WGSL training kernels (`ours`, the default) or TensorFlow.js's own
   * (`stock`).
   */
  webgpuKernels?: WebGPUKernels;
}

/** What start-up chose and why. */
export interface BackendReport {
  /** What was asked for. */
  requested: BackendChoice;
  /** The TensorFlow.js backend now active. */
  backend: "webgpu" | "native" | "cpu";
  /** Why this backend was chosen. */
  reason: string;
  /** The WebGPU adapter, when one was found (also when another backend was chosen). */
  adapter?: AdapterReport;
  /** One line for logs: backend, adapter and reason. */
  summary: string;
}

// TensorFlow.js sees Deno's Node compatibility and nags about tfjs-node, which does not apply.
tf.env().set("IS_NODE", false);

let kernels: WebGPUKernels = "ours";

async function startGpu(): Promise<AdapterReport> {
  const adapter = await startWebGPU();
  useWebGPUKernels(kernels);
  return adapter;
}

function report(
  requested: BackendChoice,
  backend: BackendReport["backend"],
  reason: string,
  adapter?: AdapterReport,
): BackendReport {
  const where = backend === "webgpu" && adapter
    ? ` on "${adapter.description}"${adapter.software ? " (software)" : ""}, ${kernels} kernels`
    : "";
  return {
    requested,
    backend,
    reason,
    adapter,
    summary: `backend ${backend}${where}: ${reason}`,
  };
}

async function startCpu(): Promise<void> {
  await tf.setBackend("cpu");
  await tf.ready();
}

async function startNative(): Promise<
  { ok: true; detail: string } | { ok: false; reason: string }
> {
  const native = await registerNativeBackend();
  if (!native.ok) return native;
  if (!(await tf.setBackend("native"))) {
    return { ok: false, reason: "TensorFlow.js could not initialise the native backend" };
  }
  await tf.ready();
  return { ok: true, detail: `${native.library}, ${native.threads} threads` };
}

/**
 * Starts the requested backend. An explicit choice that cannot start throws with what to
 * install or set; `auto` walks the preference order and says why it stopped where it did.
 */
export async function selectBackend(
  requested: BackendChoice = "auto",
  opts: SelectOptions = {},
): Promise<BackendReport> {
  kernels = opts.webgpuKernels ?? "ours";
  if (!BACKEND_CHOICES.includes(requested)) {
    throw new Error(`unknown backend "${requested}": choose one of ${BACKEND_CHOICES.join(", ")}`);
  }
  if (requested === "cpu") {
    await startCpu();
    return report(requested, "cpu", "requested (TensorFlow.js JavaScript CPU kernels)");
  }
  if (requested === "webgpu") {
    const adapter = await startGpu();
    return report(requested, "webgpu", "requested", adapter);
  }
  if (requested === "native") {
    const native = await startNative();
    if (!native.ok) throw new Error(`native backend unavailable: ${native.reason}`);
    return report(requested, "native", `requested (${native.detail})`);
  }
  const gpu = await findAdapter();
  const adapter = gpu ? describeAdapter(gpu) : undefined;
  if (adapter && !adapter.software) {
    await startGpu();
    return report(requested, "webgpu", "auto: hardware GPU adapter found", adapter);
  }
  const noGpu = adapter
    ? `only a software adapter ("${adapter.description}")`
    : "no WebGPU adapter";
  const native = await startNative();
  if (native.ok) {
    return report(requested, "native", `auto: ${noGpu}; native CPU (${native.detail})`, adapter);
  }
  if (adapter) {
    await startGpu();
    return report(
      requested,
      "webgpu",
      `auto: ${noGpu} and native CPU unavailable (${native.reason}); using the software adapter`,
      adapter,
    );
  }
  await startCpu();
  return report(
    requested,
    "cpu",
    `auto: ${noGpu} and native CPU unavailable (${native.reason}); JavaScript CPU kernels (slow)`,
  );
}
