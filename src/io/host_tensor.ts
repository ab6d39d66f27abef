/**
 * Tensors held in plain typed arrays on the host, and their conversion to and from the
 * little-endian bytes that safetensors and `.npy` files store.
 *
 * @example
 * ```ts
 * import { type HostTensor, elementCount } from "./host_tensor.ts";
 *
 * const t: HostTensor = { dtype: "float32", shape: [2, 3], data: new Float32Array(6) };
 * console.log(elementCount(t.shape)); // 6
 * ```
 *
 * @module
 */
import { FormatError } from "./errors.ts";

/** Element types a {@link HostTensor} can hold. */
export type TensorDType = "float32" | "int32" | "uint8";

/** A dense, row-major (C order) tensor in host memory. */
export interface HostTensor {
  /** Element type; must agree with the typed array of `data`. */
  dtype: TensorDType;
  /** Dimensions; `[]` is a scalar (one element). */
  shape: number[];
  /** Elements in C order; length is the product of `shape`. */
  data: Float32Array | Int32Array | Uint8Array;
}

/**
 * How elements are stored in a file. The types beyond {@link TensorDType} are read only: on read,
 * `float64` becomes `float32` (an error if a finite value overflows), `float16` and `bfloat16`
 * become `float32` exactly, `int64` becomes `int32` (an error if a value does not fit), `int16` and
 * `int8` become `int32`, and `bool` becomes `uint8`, so every decoded tensor is a
 * {@link HostTensor}.
 */
export type StoredType =
  | TensorDType
  | "float64"
  | "int64"
  | "float16"
  | "bfloat16"
  | "int16"
  | "int8"
  | "bool";

/** Bytes per element of each stored type. */
export const STORED_SIZE: Readonly<Record<StoredType, number>> = {
  float32: 4,
  int32: 4,
  uint8: 1,
  float64: 8,
  int64: 8,
  float16: 2,
  bfloat16: 2,
  int16: 2,
  int8: 1,
  bool: 1,
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Number of elements of a shape (1 for the scalar shape `[]`).
 *
 * @example
 * ```ts
 * import { elementCount } from "./host_tensor.ts";
 * console.log(elementCount([2, 0, 3]), elementCount([])); // 0 1
 * ```
 */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** True when `shape` is a list of non-negative safe integers. */
export function isValidShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) &&
    shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0);
}

const ARRAY_OF: Readonly<
  Record<TensorDType, Float32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor>
> = {
  float32: Float32Array,
  int32: Int32Array,
  uint8: Uint8Array,
};

/**
 * Throws a `TypeError`/`RangeError` naming `label` when `t` is not a consistent
 * {@link HostTensor}: unknown dtype, typed array of another type, bad shape, or a data length
 * that is not the product of the shape.
 */
export function assertHostTensor(label: string, t: HostTensor): void {
  const expected = ARRAY_OF[t.dtype];
  if (expected === undefined) {
    throw new TypeError(`tensor '${label}': unsupported dtype '${t.dtype}'`);
  }
  if (!(t.data instanceof expected)) {
    throw new TypeError(
      `tensor '${label}': dtype ${t.dtype} needs a ${expected.name}, ` +
        `got ${Object.prototype.toString.call(t.data)}`,
    );
  }
  if (!isValidShape(t.shape)) {
    throw new RangeError(
      `tensor '${label}': shape ${JSON.stringify(t.shape)} is not a list of integers >= 0`,
    );
  }
  const n = elementCount(t.shape);
  if (t.data.length !== n) {
    throw new RangeError(
      `tensor '${label}': data has ${t.data.length} elements but shape [${t.shape}] needs ${n}`,
    );
  }
}

/**
 * The elements of `t` as little-endian bytes. On a little-endian host this is a view of
 * `t.data` (no copy), so do not mutate it.
 */
export function littleEndianBytes(t: HostTensor): Uint8Array {
  const view = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (LITTLE_ENDIAN_HOST || t.data.BYTES_PER_ELEMENT === 1) return view;
  return swapBytes(view, t.data.BYTES_PER_ELEMENT);
}

function swapBytes(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) {
    for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j];
  }
  return out;
}

/** Where in a file a block of elements sits, for decoding and for error messages. */
export interface ElementBlock {
  /** The file (or `<memory>`), named in every error. */
  source: string;
  /** What the block is, e.g. `tensor 'conv1.weight'`, named in conversion errors. */
  label: string;
  /** How the elements are stored. */
  stored: StoredType;
  /** Byte order of the stored elements. */
  littleEndian: boolean;
  /** Number of elements. */
  count: number;
}

/**
 * Copies `block.count` elements stored in `bytes` (exactly `count × size` bytes) into a fresh,
 * aligned typed array, converting byte order and the read-only 64-bit types.
 * Throws {@link FormatError} when a 64-bit value does not fit its 32-bit target.
 */
export function decodeElements(
  bytes: Uint8Array,
  block: ElementBlock,
): { dtype: TensorDType; data: HostTensor["data"] } {
  const { stored, count, littleEndian } = block;
  const size = STORED_SIZE[stored];
  if (bytes.length !== count * size) {
    throw new RangeError(`decodeElements: ${bytes.length} bytes for ${count} × ${size}`);
  }
  if (stored === "uint8" || stored === "bool") return { dtype: "uint8", data: bytes.slice() };
  if (stored === "float32" || stored === "int32") {
    // slice() copies into a new, aligned buffer, which the typed array views need.
    const raw = littleEndian === LITTLE_ENDIAN_HOST ? bytes.slice() : swapBytes(bytes, 4);
    return stored === "float32"
      ? { dtype: "float32", data: new Float32Array(raw.buffer) }
      : { dtype: "int32", data: new Int32Array(raw.buffer) };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (stored === "float64") {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = view.getFloat64(i * 8, littleEndian);
      const f = Math.fround(v);
      if (!Number.isFinite(f) && Number.isFinite(v)) {
        throw new FormatError(
          block.source,
          `${block.label}: float64 value ${v} at index ${i} overflows float32`,
        );
      }
      out[i] = f;
    }
    return { dtype: "float32", data: out };
  }
  if (stored === "float16" || stored === "bfloat16") {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const h = view.getUint16(i * 2, littleEndian);
      out[i] = stored === "bfloat16" ? bfloat16ToNumber(h) : float16ToNumber(h);
    }
    return { dtype: "float32", data: out };
  }
  if (stored === "int16" || stored === "int8") {
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      out[i] = stored === "int8" ? view.getInt8(i) : view.getInt16(i * 2, littleEndian);
    }
    return { dtype: "int32", data: out };
  }
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = view.getBigInt64(i * 8, littleEndian);
    if (v < -2147483648n || v > 2147483647n) {
      throw new FormatError(
        block.source,
        `${block.label}: int64 value ${v} at index ${i} does not fit int32`,
      );
    }
    out[i] = Number(v);
  }
  return { dtype: "int32", data: out };
}

function float16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const BF16_SCRATCH = new DataView(new ArrayBuffer(4));

function bfloat16ToNumber(h: number): number {
  // bfloat16 is the top half of a float32.
  BF16_SCRATCH.setUint32(0, h << 16);
  return BF16_SCRATCH.getFloat32(0);
}
