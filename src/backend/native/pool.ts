/**
 * Recycles the float32 buffers of disposed tensors. A fresh multi-megabyte `ArrayBuffer` costs
 * a page fault per 4 KiB on first touch (0.4–1 ms for 4 MB here), which over the hundreds of
 * large tensors of a training step cost more than the arithmetic itself.
 *
 * Safety: only buffers this pool may own are recycled — ones a kernel created for a tensor of
 * its own. A buffer stops being owned for good when it escapes: when `dataSync`/`data` hands it
 * to user code, or when a kernel's output aliases it (a zero-copy slice).
 *
 * @example
 * ```ts
 * import { BufferPool } from "./pool.ts";
 * const pool = new BufferPool();
 * const a = pool.take(8192);
 * pool.release(a);
 * console.log(pool.take(8192) === a); // true
 * ```
 *
 * @module
 */

/** Default cap on the bytes held for reuse. */
export const DEFAULT_POOL_BYTES = 256 * 1024 * 1024;

/** Buffers of disposed tensors, by length, for reuse by kernels that overwrite all of them. */
export class BufferPool {
  readonly #free = new Map<number, Float32Array[]>();
  readonly #owned = new WeakSet<Float32Array>();
  readonly #maxBytes: number;
  #bytes = 0;

  /** @param maxBytes Most bytes held for reuse (default {@linkcode DEFAULT_POOL_BYTES}). */
  constructor(maxBytes = DEFAULT_POOL_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes now held for reuse. */
  get heldBytes(): number {
    return this.#bytes;
  }

  /**
   * A buffer of `length` floats with arbitrary contents, owned by the pool (the caller must
   * overwrite every element). Backed by its own `ArrayBuffer`, so never in V8's movable heap.
   */
  take(length: number): Float32Array {
    const list = this.#free.get(length);
    const reused = list?.pop();
    if (reused) {
      this.#bytes -= reused.byteLength;
      return reused;
    }
    const fresh = new Float32Array(new ArrayBuffer(4 * length));
    this.#owned.add(fresh);
    return fresh;
  }

  /** Marks a buffer a kernel created for its own output as recyclable once disposed. */
  adopt(values: Float32Array): void {
    if (values.byteOffset === 0 && values.byteLength === values.buffer.byteLength) {
      this.#owned.add(values);
    }
  }

  /** Whether `values` may be recycled. */
  owns(values: unknown): values is Float32Array {
    return values instanceof Float32Array && this.#owned.has(values);
  }

  /** Never recycle `values` (it escaped to code that may keep it). */
  disown(values: unknown): void {
    if (values instanceof Float32Array) this.#owned.delete(values);
  }

  /** Takes back an owned buffer whose tensor was disposed. */
  release(values: Float32Array): void {
    if (!this.#owned.has(values) || this.#bytes + values.byteLength > this.#maxBytes) return;
    const list = this.#free.get(values.length);
    if (list) list.push(values);
    else this.#free.set(values.length, [values]);
    this.#bytes += values.byteLength;
  }
}
