/**
 * Stops training with a `DeviceError` as soon as the WebGPU device is lost or reports an error
 * (out of memory, a buffer over the size limit), instead of training on — or saving — results
 * the device never computed. On other backends it does nothing.
 *
 * It checks after every training and evaluation batch and before every epoch's end hooks run
 * on, so put it first in the callback list: `ModelCheckpoint` then never saves a state computed
 * after the problem, and the last checkpoint stays the last good one. The error's message says
 * `GPU device lost: …` or `GPU out of memory: …`; `describeFailure` gives exit code 4.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { DeviceGuard } from "./device_guard.ts";
 * import { Model } from "../src/train/model.ts";
 * import { resnetFCN } from "../src/nn/resnet_fcn.ts";
 * import { syntheticDataset } from "../src/data/synthetic.ts";
 *
 * const data = syntheticDataset({ length: 4, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare();
 * await model.fit(data, data, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [new DeviceGuard()] });
 * model.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { DeviceError, deviceProblem, watchDevice } from "../src/backend/device_watch.ts";
import { Callback } from "../src/train/callback.ts";

/** How long `onTrainError` waits for the device to report why an operation failed. */
const SETTLE_MS = 100;

/** Throws on a device problem; see the module documentation. */
export class DeviceGuard extends Callback {
  #active = false;

  /** Starts watching the device when the backend is WebGPU. */
  override onTrainBegin(): void {
    this.#active = tf.getBackend() === "webgpu";
    if (!this.#active) return;
    // tfjs-backend-webgpu keeps its GPUDevice as `device`.
    const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
    if (device === undefined) throw new Error("DeviceGuard: the webgpu backend has no device");
    watchDevice(device);
    this.#check();
  }

  /** Throws a `DeviceError` when the device reported a problem. */
  override onTrainBatchEnd(): void {
    this.#check();
  }

  /** Throws a `DeviceError` when the device reported a problem. */
  override onEvalBatchEnd(): void {
    this.#check();
  }

  /** Throws a `DeviceError` when the device reported a problem. */
  override onEpochEnd(): void {
    this.#check();
  }

  /** Waits briefly for the device's own report of what failed. */
  override async onTrainError(): Promise<void> {
    if (!this.#active) return;
    // tfjs may throw its vague error before the device's own report arrives; give it a moment,
    // so that `describeFailure` can name the cause.
    const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
    const settle = new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    await Promise.race([device?.lost ?? settle, settle]);
  }

  #check(): void {
    if (!this.#active) return;
    const problem = deviceProblem();
    if (problem !== null) throw new DeviceError(problem);
  }
}
