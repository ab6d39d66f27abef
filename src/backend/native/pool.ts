/**
 * Recycles the float32 buffers of disposed tensors. A fresh multi-megabyte `ArrayBuffer` costs
 * a page fault per 4 KiB on first touch (0.4–1 ms for 4 MB here), which over the hundreds of
 * large tensors of a training step cost more than the arithmetic itself.
 *
 * How much it holds: at least {@linkcode MIN_POOL_BYTES}, and up to as many bytes as the live
 * owned buffers ever reached. A training step frees most of its activations' buffers in the
 * backward pass and needs them again in the next forward pass, so a pool that holds one step's
 * working set turns every later allocation into a reuse; a fixed cap below that (256 MiB, for a
 * ResNet50 step at batch 128 that allocates several GiB) dropped most buffers, and their
 * replacements' page faults took more time than the convolutions. Peak memory does not grow:
 * the process reached that size anyway while the step's tensors were alive.
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

/** Bytes in a cache line, and in an AVX-512 vector. */
const ALIGN = 64;

/**
 * `length` floats starting on a cache-line boundary, in an `ArrayBuffer` of their own (with up
 * to 64 bytes unused). V8 places a large buffer's data 16 bytes past a boundary, so each of
 * oneDNN's 64-byte vector loads would straddle two lines: batch norm's backward pass took 25 %
 * longer on such buffers.
 */
export function cacheLineAligned(length: number): Float32Array {
  const buffer = new ArrayBuffer(4 * length + ALIGN);
  const address = addressOf(new Uint8Array(buffer));
  return new Float32Array(buffer, (ALIGN - address % ALIGN) % ALIGN, length);
}

function addressOf(view: ArrayBufferView): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(view as Uint8Array)));
}

/** The pool holds at least this many bytes for reuse, however small the working set. */
export const MIN_POOL_BYTES = 256 * 1024 * 1024;

/** Buffers of disposed tensors, by length, for reuse by kernels that overwrite all of them. */
export class BufferPool {
  readonly #free = new Map<number, Float32Array[]>();
  readonly #owned = new WeakSet<Float32Array>();
  readonly #minBytes: number;
  #bytes = 0;
  #liveBytes = 0;
  #peakLiveBytes = 0;

  /** @param minBytes Bytes held for reuse at least (default {@linkcode MIN_POOL_BYTES}). */
  constructor(minBytes = MIN_POOL_BYTES) {
    this.#minBytes = minBytes;
  }

  /** Bytes now held for reuse. */
  get heldBytes(): number {
    return this.#bytes;
  }

  /** The most bytes it holds: the larger of its minimum and the peak of live owned bytes. */
  get capBytes(): number {
    return Math.max(this.#minBytes, this.#peakLiveBytes);
  }

  #lent(bytes: number): void {
    this.#liveBytes += bytes;
    if (this.#liveBytes > this.#peakLiveBytes) this.#peakLiveBytes = this.#liveBytes;
  }

  /**
   * A buffer of `length` floats with arbitrary contents, owned by the pool (the caller must
   * overwrite every element). Backed by its own `ArrayBuffer`, so never in V8's movable heap,
   * and aligned to a cache line.
   */
  take(length: number): Float32Array {
    const list = this.#free.get(length);
    const reused = list?.pop();
    if (reused) {
      this.#bytes -= reused.byteLength;
      this.#lent(reused.byteLength);
      return reused;
    }
    const fresh = cacheLineAligned(length);
    this.#owned.add(fresh);
    this.#lent(fresh.byteLength);
    return fresh;
  }

  /**
   * Marks a buffer a kernel created for its own output as recyclable once disposed, when it
   * starts on a cache line, so that every buffer `take` hands out does.
   */
  adopt(values: Float32Array): void {
    if (
      values.byteOffset === 0 && values.byteLength === values.buffer.byteLength &&
      !this.#owned.has(values) && values.length > 0 && addressOf(values) % ALIGN === 0
    ) {
      this.#owned.add(values);
      this.#lent(values.byteLength);
    }
  }

  /** Whether `values` may be recycled. */
  owns(values: unknown): values is Float32Array {
    return values instanceof Float32Array && this.#owned.has(values);
  }

  /** Never recycle `values` (it escaped to code that may keep it). */
  disown(values: unknown): void {
    if (values instanceof Float32Array && this.#owned.delete(values)) {
      this.#liveBytes -= values.byteLength;
    }
  }

  /** Takes back an owned buffer whose tensor was disposed. */
  release(values: Float32Array): void {
    if (!this.#owned.has(values)) return;
    this.#liveBytes -= values.byteLength;
    if (this.#bytes + values.byteLength > this.capBytes) {
      this.#owned.delete(values);
      return;
    }
    const list = this.#free.get(values.length);
    if (list) list.push(values);
    else this.#free.set(values.length, [values]);
    this.#bytes += values.byteLength;
  }
}
