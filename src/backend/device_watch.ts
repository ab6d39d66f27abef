/**
 * Watches a WebGPU device for what tfjs does not report: a lost device (driver reset, crash,
 * `destroy()`) and uncaptured errors (an allocation that failed, a buffer over the size limit).
 * tfjs pushes no error scopes, so such errors only surface later as a vague "validation error
 * occurred" — or not at all, leaving garbage in the results. {@linkcode deviceProblem} tells
 * what happened first; `plugins/device_guard.ts` turns it into a training error at once.
 *
 * @example
 * ```ts ignore
 * import * as tf from "@tensorflow/tfjs-core";
 * import { deviceProblem, watchDevice } from "./device_watch.ts";
 * watchDevice((tf.backend() as unknown as { device: GPUDevice }).device);
 * // ... later
 * const problem = deviceProblem(); // { kind: "device_lost", message: "..." } or null
 * ```
 *
 * @module
 */

/** What went wrong on the device. */
export interface DeviceProblem {
  /** `device_lost`; `out_of_memory` (an allocation failed or exceeded a limit); `gpu_error`. */
  kind: "device_lost" | "out_of_memory" | "gpu_error";
  /** The device's own words. */
  message: string;
}

/** Thrown by the guard when the device reported a problem; the message says which. */
export class DeviceError extends Error {
  /** The problem. */
  readonly problem: DeviceProblem;

  /**
   * Wraps a recorded problem.
   *
   * @param problem What the device reported.
   */
  constructor(problem: DeviceProblem) {
    const what = {
      device_lost: "GPU device lost",
      out_of_memory: "GPU out of memory",
      gpu_error: "GPU error",
    }[problem.kind];
    super(`${what}: ${problem.message}`);
    this.name = "DeviceError";
    this.problem = problem;
  }
}

const watched = new WeakSet<GPUDevice>();
let first: DeviceProblem | null = null;

const TOO_BIG = /greater than the maximum|exceeds the maximum|too large|out of memory/i;

function record(problem: DeviceProblem): void {
  // The first problem is the cause; later ones are its consequences.
  first ??= problem;
}

/** Starts watching `device` (again for the same device does nothing). */
export function watchDevice(device: GPUDevice): void {
  if (watched.has(device)) return;
  watched.add(device);
  device.lost.then((info) => {
    record({ kind: "device_lost", message: `${info.reason ?? "unknown"}: ${info.message}` });
  });
  device.addEventListener("uncapturederror", (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    const oom =
      (typeof GPUOutOfMemoryError !== "undefined" && error instanceof GPUOutOfMemoryError) ||
      TOO_BIG.test(error.message);
    record({ kind: oom ? "out_of_memory" : "gpu_error", message: error.message });
  });
}

/** The first problem a watched device reported, or null. */
export function deviceProblem(): DeviceProblem | null {
  return first;
}

/** Forgets the recorded problem (for tests, and after a new device was started). */
export function clearDeviceProblem(): void {
  first = null;
}
