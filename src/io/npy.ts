/**
 * NumPy's `.npy` format. Writes version 1.0 exactly as `numpy.save` does (header dict with sorted
 * keys, spare spaces for the growth axis, padded with spaces and a newline so the data starts at
 * a multiple of 64 bytes); reads versions 1.0, 2.0 and 3.0. Types: `<f4`, `<i4`, `|u1`, and on
 * read also `<f8`/`<i8` (converted to float32/int32) and big-endian `>` variants (byte-swapped).
 * C order only. Every malformed file is a {@link FormatError} naming the file.
 *
 * @example
 * ```ts
 * import { decodeNpy, encodeNpy } from "./npy.ts";
 *
 * const bytes = encodeNpy({ dtype: "int32", shape: [3], data: new Int32Array([1, 2, 3]) });
 * console.log(decodeNpy(bytes, "a.npy").data); // Int32Array [1, 2, 3]
 * ```
 *
 * @module
 */
import { atomicWriteFile } from "./atomic.ts";
import { FormatError } from "./errors.ts";
import {
  assertHostTensor,
  decodeElements,
  elementCount,
  type HostTensor,
  littleEndianBytes,
  STORED_SIZE,
  type StoredType,
  type TensorDType,
} from "./host_tensor.ts";

export { FormatError } from "./errors.ts";
export type { HostTensor, TensorDType } from "./host_tensor.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ARRAY_ALIGN = 64;
/** NumPy leaves room for the growth axis to reach this many digits without rewriting. */
const GROWTH_AXIS_MAX_DIGITS = 21;

const DESCR: Readonly<Record<TensorDType, string>> = {
  float32: "<f4",
  int32: "<i4",
  uint8: "|u1",
};

/** NumPy type codes (kind + size) this reader understands. */
const READ_TYPE: Readonly<Record<string, StoredType>> = {
  f4: "float32",
  f8: "float64",
  i4: "int32",
  i8: "int64",
  u1: "uint8",
};

function shapeRepr(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(", ")})`;
}

/**
 * Encodes a tensor as a `.npy` file, byte-identical to `numpy.save` of the same array.
 *
 * @example
 * ```ts
 * import { encodeNpy } from "./npy.ts";
 * const bytes = encodeNpy({ dtype: "float32", shape: [], data: new Float32Array([1]) });
 * console.log(bytes.length); // 128 + 4
 * ```
 */
export function encodeNpy(t: HostTensor): Uint8Array {
  assertHostTensor("npy", t);
  const data = littleEndianBytes(t);
  let header = `{'descr': '${DESCR[t.dtype]}', 'fortran_order': False, 'shape': ${
    shapeRepr(t.shape)
  }, }`;
  if (t.shape.length > 0) header += " ".repeat(GROWTH_AXIS_MAX_DIGITS - String(t.shape[0]).length);
  const text = new TextEncoder().encode(header);
  const hlen = text.length + 1; // + the closing newline
  // Version 1.0 stores the header length in 16 bits; NumPy moves to 2.0 (32 bits) beyond that.
  let lengthBytes = 2;
  let padlen = ARRAY_ALIGN - ((MAGIC.length + 2 + lengthBytes + hlen) % ARRAY_ALIGN);
  if (hlen + padlen > 0xffff) {
    lengthBytes = 4;
    padlen = ARRAY_ALIGN - ((MAGIC.length + 2 + lengthBytes + hlen) % ARRAY_ALIGN);
  }
  const prefix = MAGIC.length + 2 + lengthBytes;
  const out = new Uint8Array(prefix + hlen + padlen + data.length);
  out.set(MAGIC, 0);
  out[6] = lengthBytes === 2 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (lengthBytes === 2) view.setUint16(8, hlen + padlen, true);
  else view.setUint32(8, hlen + padlen, true);
  out.set(text, prefix);
  out.fill(0x20, prefix + text.length, prefix + hlen + padlen - 1);
  out[prefix + hlen + padlen - 1] = 0x0a;
  out.set(data, prefix + hlen + padlen);
  return out;
}

type PyValue = string | boolean | null | number | PyValue[] | { [key: string]: PyValue };

/** Parses the Python literal subset NumPy writes in headers: dict, tuple, str, int, bools. */
function parsePyLiteral(text: string, fail: (problem: string) => never): PyValue {
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const expect = (c: string) => {
    skip();
    if (text[i] !== c) fail(`expected '${c}' at column ${i} of the header`);
    i++;
  };
  const value = (): PyValue => {
    skip();
    const c = text[i];
    if (c === "{") {
      i++;
      const obj: { [key: string]: PyValue } = {};
      for (skip(); text[i] !== "}"; skip()) {
        const key = value();
        if (typeof key !== "string") fail(`header dict key at column ${i} is not a string`);
        expect(":");
        obj[key] = value();
        skip();
        if (text[i] === ",") i++;
        else if (text[i] !== "}") fail(`expected ',' or '}' at column ${i} of the header`);
      }
      i++;
      return obj;
    }
    if (c === "(" || c === "[") {
      const close = c === "(" ? ")" : "]";
      i++;
      const items: PyValue[] = [];
      for (skip(); text[i] !== close; skip()) {
        items.push(value());
        skip();
        if (text[i] === ",") i++;
        else if (text[i] !== close) fail(`expected ',' or '${close}' at column ${i} of the header`);
      }
      i++;
      return items;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail(`unterminated string at column ${i} of the header`);
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(text.slice(i));
    if (!m) fail(`unexpected ${c === undefined ? "end" : `'${c}'`} at column ${i} of the header`);
    i += m[0].length;
    if (m[0] === "True") return true;
    if (m[0] === "False") return false;
    if (m[0] === "None") return null;
    return Number(m[0].replace("L", ""));
  };
  const v = value();
  skip();
  if (i !== text.length) fail(`unexpected text after the header dict at column ${i}`);
  return v;
}

/**
 * Decodes a `.npy` file (versions 1.0, 2.0, 3.0). Throws {@link FormatError} naming `source`
 * for a bad magic, an unsupported version, a header that runs past the end or does not parse,
 * missing or extra header keys, an unsupported dtype, Fortran order, or data that is truncated
 * or followed by stray bytes.
 *
 * @param source Named in errors; pass the file path.
 */
export function decodeNpy(bytes: Uint8Array, source = "<memory>"): HostTensor {
  const fail = (problem: string): never => {
    throw new FormatError(source, problem);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail("not a .npy file (it does not start with the \\x93NUMPY magic)");
  }
  const [major, minor] = [bytes[6], bytes[7]];
  if (major < 1 || major > 3 || minor !== 0) {
    fail(`unsupported .npy format version ${major}.${minor} (readable: 1.0, 2.0, 3.0)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start: number;
  let hlen: number;
  if (major === 1) {
    hlen = view.getUint16(8, true);
    start = 10;
  } else {
    if (bytes.length < 12) fail("truncated .npy header length field");
    hlen = view.getUint32(8, true);
    start = 12;
  }
  if (start + hlen > bytes.length) {
    fail(`.npy header length ${hlen} runs past the end of the file (${bytes.length} bytes)`);
  }
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(start, start + hlen),
  );
  const header = parsePyLiteral(text.trim(), (p) => fail(`malformed .npy header: ${p}`));
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    return fail("malformed .npy header: not a dict");
  }
  const keys = Object.keys(header).sort().join(",");
  if (keys !== "descr,fortran_order,shape") {
    fail(`.npy header keys are {${keys}}, expected {descr, fortran_order, shape}`);
  }
  const { descr, fortran_order: fortranOrder, shape } = header;
  if (typeof descr !== "string") {
    return fail(`unsupported .npy dtype ${JSON.stringify(descr)} (structured arrays are not read)`);
  }
  const m = /^([<>|=]?)([a-z])(\d+)$/.exec(descr);
  const stored = m ? READ_TYPE[m[2] + m[3]] : undefined;
  if (!m || stored === undefined) {
    return fail(
      `unsupported .npy dtype '${descr}' (readable: <f4, <i4, |u1, <f8, <i8, and '>' forms)`,
    );
  }
  const size = STORED_SIZE[stored];
  if (size > 1 && m[1] !== "<" && m[1] !== ">") {
    fail(`.npy dtype '${descr}' has no explicit byte order ('<' or '>')`);
  }
  if (
    !Array.isArray(shape) ||
    !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)
  ) {
    return fail(`.npy shape ${JSON.stringify(shape)} is not a tuple of integers >= 0`);
  }
  const dims = shape as number[];
  if (typeof fortranOrder !== "boolean") fail(`.npy fortran_order is not True or False`);
  // With at most one dimension, Fortran and C order lay the data out identically.
  if (fortranOrder && dims.length > 1) {
    fail(
      `Fortran-order arrays are not supported (shape ${shapeRepr(dims)}); ` +
        "save with numpy.ascontiguousarray",
    );
  }
  const count = elementCount(dims);
  const dataStart = start + hlen;
  const need = count * size;
  const have = bytes.length - dataStart;
  if (have < need) {
    fail(
      `truncated: shape ${shapeRepr(dims)} of '${descr}' needs ${need} data bytes, found ${have}`,
    );
  }
  if (have > need) fail(`${have - need} unexpected bytes after the array data`);
  const { dtype, data } = decodeElements(bytes.subarray(dataStart), {
    source,
    label: "array",
    stored,
    littleEndian: m[1] !== ">",
    count,
  });
  return { dtype, shape: dims, data };
}

/**
 * Reads and decodes a `.npy` file; errors name `path`.
 *
 * @example
 * ```ts
 * import { readNpy, writeNpy } from "./npy.ts";
 * const path = `${await Deno.makeTempDir()}/labels.npy`;
 * await writeNpy(path, { dtype: "int32", shape: [2], data: new Int32Array([3, 1]) });
 * const labels = await readNpy(path);
 * console.log(labels.shape, labels.data); // [2] Int32Array [3, 1]
 * ```
 */
export async function readNpy(path: string): Promise<HostTensor> {
  return decodeNpy(await Deno.readFile(path), path);
}

/**
 * Writes a `.npy` file atomically (temporary sibling, fsync, rename).
 *
 * @example
 * ```ts
 * import { writeNpy } from "./npy.ts";
 * const dir = await Deno.makeTempDir();
 * await writeNpy(`${dir}/x.npy`, { dtype: "uint8", shape: [2], data: new Uint8Array([7, 9]) });
 * ```
 */
export async function writeNpy(path: string, t: HostTensor): Promise<void> {
  await atomicWriteFile(path, [encodeNpy(t)]);
}
