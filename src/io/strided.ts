/**
 * Tensors stored as a view into a flat buffer (a torch storage, a Fortran-ordered numpy array):
 * the elements a shape, strides and offset select, copied out in C order.
 *
 * @example
 * ```ts
 * import { gatherStrided } from "./strided.ts";
 *
 * // A 2×3 float32 matrix stored column-major (strides 1, 2).
 * const bytes = new Uint8Array(new Float32Array([1, 4, 2, 5, 3, 6]).buffer);
 * const t = gatherStrided(bytes, {
 *   stored: "float32", littleEndian: true, shape: [2, 3], strides: [1, 2], offset: 0,
 *   source: "<memory>", label: "m",
 * });
 * console.log(t.data); // Float32Array [1, 2, 3, 4, 5, 6]
 * ```
 *
 * @module
 */
import { FormatError } from "./errors.ts";
import {
  decodeElements,
  elementCount,
  type HostTensor,
  STORED_SIZE,
  type StoredType,
} from "./host_tensor.ts";

/** Where a strided tensor's elements sit in its buffer. */
export interface StridedView {
  /** How the elements are stored. */
  stored: StoredType;
  /** Byte order of the stored elements. */
  littleEndian: boolean;
  /** Dimensions. */
  shape: number[];
  /** Step between neighbours along each dimension, in elements. */
  strides: number[];
  /** First element's index in the buffer. */
  offset: number;
  /** The file, named in errors. */
  source: string;
  /** What the tensor is, e.g. `tensor 'conv1.weight'`, named in errors. */
  label: string;
}

/**
 * Copies the elements `view` selects from `buffer` into a C-ordered {@link HostTensor},
 * converting read-only stored types as {@link decodeElements} does.
 *
 * @throws {FormatError} when the view reaches outside the buffer.
 */
export function gatherStrided(buffer: Uint8Array, view: StridedView): HostTensor {
  const { shape, strides, offset, stored } = view;
  const size = STORED_SIZE[stored];
  const count = elementCount(shape);
  if (shape.length !== strides.length) {
    throw new FormatError(
      view.source,
      `${view.label}: shape [${shape}] and strides [${strides}] differ in rank`,
    );
  }
  let lowest = offset;
  let highest = offset;
  if (count > 0) {
    for (let d = 0; d < shape.length; d++) {
      const reach = (shape[d] - 1) * strides[d];
      if (reach < 0) lowest += reach;
      else highest += reach;
    }
  }
  const available = Math.floor(buffer.length / size);
  if (count > 0 && (lowest < 0 || highest >= available)) {
    throw new FormatError(
      view.source,
      `${view.label}: shape [${shape}], strides [${strides}] and offset ${offset} reach element ` +
        `${lowest < 0 ? lowest : highest}, outside its ${available}-element storage`,
    );
  }
  let contiguous = true;
  for (let d = shape.length - 1, step = 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== step) contiguous = false;
    step *= shape[d];
  }
  let bytes: Uint8Array;
  if (contiguous || count === 0) {
    bytes = buffer.subarray(offset * size, (offset + count) * size);
  } else {
    bytes = new Uint8Array(count * size);
    const index = new Array<number>(shape.length).fill(0);
    let from = offset;
    for (let i = 0; i < count; i++) {
      bytes.set(buffer.subarray(from * size, (from + 1) * size), i * size);
      for (let d = shape.length - 1; d >= 0; d--) {
        index[d]++;
        from += strides[d];
        if (index[d] < shape[d]) break;
        from -= strides[d] * shape[d];
        index[d] = 0;
      }
    }
  }
  const { dtype, data } = decodeElements(bytes, {
    source: view.source,
    label: view.label,
    stored,
    littleEndian: view.littleEndian,
    count,
  });
  return { dtype, shape: [...shape], data };
}

/** C-order strides (in elements) of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1, step = 1; d >= 0; d--) {
    out[d] = step;
    step *= shape[d];
  }
  return out;
}
