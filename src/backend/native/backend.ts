/**
 * The native backend's class: TensorFlow.js's CPU backend whose disposed float32 buffers go
 * back to a {@linkcode BufferPool}, and whose reads take buffers out of the pool for good.
 *
 * @example
 * ```ts
 * import { BufferPool } from "./pool.ts";
 * import { NativeBackend } from "./backend.ts";
 * const backend = new NativeBackend(new BufferPool());
 * backend.dispose();
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { BufferPool } from "./pool.ts";
import type { HostBufferLender } from "../host_buffers.ts";

/** MathBackendCPU with buffer recycling. */
export class NativeBackend extends MathBackendCPU implements HostBufferLender {
  /** Where the native kernels take their output buffers. */
  readonly pool: BufferPool;

  constructor(pool: BufferPool) {
    super();
    this.pool = pool;
  }

  /**
   * A pooled buffer for a tensor about to be created from host values (`hostBuffer` in
   * `../host_buffers.ts`); it comes back to the pool when that tensor's data is freed.
   */
  hostBuffer(length: number): Float32Array {
    return this.pool.take(length);
  }

  /** As the CPU backend's; the buffer handed out is never recycled afterwards. */
  override readSync(dataId: tf.DataId): tf.BackendValues {
    const values = super.readSync(dataId);
    this.pool.disown(values);
    return values;
  }

  /** As the CPU backend's; a buffer of data actually freed goes back to the pool. */
  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const done = super.disposeData(dataId, force);
    if (this.pool.owns(values) && !this.data.has(dataId)) this.pool.release(values);
    return done;
  }
}

/**
 * Wraps a CPU kernel so that the float32 buffers it creates become recyclable, and buffers its
 * outputs alias (zero-copy slices) never are.
 */
export function adoptingKernel(kernelFunc: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const result = kernelFunc(args);
    const backend = args.backend as NativeBackend;
    const inputIds = new Set<tf.DataId>();
    const inputBuffers = new Map<ArrayBufferLike, unknown>();
    for (const t of Object.values(args.inputs)) {
      if (!t) continue;
      inputIds.add(t.dataId);
      const v = backend.data.get(t.dataId)?.values;
      if (ArrayBuffer.isView(v)) inputBuffers.set(v.buffer, v);
    }
    for (const out of Array.isArray(result) ? result : [result]) {
      // Same data id: shared by reference count (reshape, identity), which is safe.
      if (inputIds.has(out.dataId)) continue;
      const v = backend.data.get(out.dataId)?.values;
      if (!ArrayBuffer.isView(v)) continue;
      const aliased = inputBuffers.get(v.buffer);
      if (aliased !== undefined) backend.pool.disown(aliased);
      else if (v instanceof Float32Array) backend.pool.adopt(v);
    }
    return result;
  };
}
