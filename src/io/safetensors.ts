/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each
 * tensor name to `{dtype, shape, data_offsets}` (plus an optional `__metadata__` map of strings),
 * then the tensors' little-endian bytes back to back. Encoding orders tensors as the reference
 * implementation does (by dtype alignment, largest first, then by name) and pads the header with
 * spaces to a multiple of 8 bytes, so files are byte-identical to `safetensors.serialize`.
 * Decoding is strict: every inconsistency is a {@link FormatError} naming the file.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors, type HostTensor } from "./safetensors.ts";
 *
 * const tensors = new Map<string, HostTensor>([
 *   ["w", { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) }],
 * ]);
 * const bytes = encodeSafetensors(tensors, { note: "demo" });
 * const back = decodeSafetensors(bytes, "demo.safetensors");
 * console.log(back.tensors.get("w")?.data, back.metadata.note); // Float32Array [1, 2] "demo"
 * ```
 *
 * @module
 */
import { atomicWriteFile, joinChunks } from "./atomic.ts";
import { FormatError } from "./errors.ts";
import {
  assertHostTensor,
  decodeElements,
  elementCount,
  type HostTensor,
  isValidShape,
  littleEndianBytes,
  STORED_SIZE,
  type StoredType,
  type TensorDType,
} from "./host_tensor.ts";

export { FormatError } from "./errors.ts";
export type { HostTensor, TensorDType } from "./host_tensor.ts";

/** A decoded safetensors file. */
export interface SafetensorsContents {
  /** Tensors in file (offset) order. */
  tensors: Map<string, HostTensor>;
  /** The `__metadata__` map, `{}` when absent. */
  metadata: Record<string, string>;
}

/** The reference refuses headers above 100 MB; so do we, before allocating anything. */
const MAX_HEADER_BYTES = 100_000_000;

const FILE_DTYPE: Readonly<Record<TensorDType, string>> = {
  float32: "F32",
  int32: "I32",
  uint8: "U8",
};

/** File dtypes this reader understands; F64 and I64 are converted to float32 and int32. */
const READ_DTYPE: Readonly<Record<string, StoredType>> = {
  F32: "float32",
  I32: "int32",
  U8: "uint8",
  F64: "float64",
  I64: "int64",
};

/** Other dtypes of the safetensors spec, refused with a "not supported" rather than "unknown". */
const SPEC_DTYPES = new Set([
  "BOOL",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "F8_E8M0",
  "F4",
  "F6_E2M3",
  "F6_E3M2",
  "I16",
  "U16",
  "F16",
  "BF16",
  "U32",
  "U64",
  "C64",
]);

/**
 * The reference `Dtype` enum order (increasing alignment); tensors are written in descending
 * rank, then by name, so that every tensor's data stays aligned to its element size.
 */
const DTYPE_RANK: Readonly<Record<TensorDType, number>> = { uint8: 1, int32: 9, float32: 11 };

const utf8 = new TextEncoder();

/** Byte-wise comparison of UTF-8 encodings, as Rust's `str::cmp` orders names. */
function compareUtf8(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** Header bytes (length prefix included) followed by each tensor's data, ready to concatenate. */
function prepare(
  tensors: Map<string, HostTensor>,
  metadata: Record<string, string> | undefined,
): Uint8Array[] {
  const names = [...tensors.keys()];
  for (const name of names) {
    if (name === "__metadata__") {
      throw new RangeError("tensor name '__metadata__' is reserved by the safetensors format");
    }
    assertHostTensor(name, tensors.get(name)!);
  }
  names.sort((a, b) =>
    DTYPE_RANK[tensors.get(b)!.dtype] - DTYPE_RANK[tensors.get(a)!.dtype] || compareUtf8(a, b)
  );
  // The header is assembled by hand: a JS object would move integer-like names to the front.
  const entries: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareUtf8);
    for (const k of keys) {
      if (typeof metadata[k] !== "string") {
        throw new TypeError(
          `safetensors metadata '${k}' must be a string, got ${typeof metadata[k]}`,
        );
      }
    }
    const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
    entries.push(`"__metadata__":{${body.join(",")}}`);
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const bytes = littleEndianBytes(t);
    entries.push(
      `${JSON.stringify(name)}:{"dtype":"${FILE_DTYPE[t.dtype]}","shape":[${t.shape.join(",")}],` +
        `"data_offsets":[${offset},${offset + bytes.length}]}`,
    );
    offset += bytes.length;
    chunks.push(bytes);
  }
  const json = utf8.encode(`{${entries.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + headerLength).fill(0x20, 8);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, 8);
  return [head, ...chunks];
}

/**
 * Encodes tensors (and optional string metadata) as a safetensors file, byte-identical to the
 * reference serializer. Throws `TypeError`/`RangeError` naming the tensor when one is
 * inconsistent (data length ≠ product of shape, typed array ≠ dtype).
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors(new Map());
 * console.log(new TextDecoder().decode(bytes.subarray(8))); // "{}      "
 * ```
 */
export function encodeSafetensors(
  tensors: Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  return joinChunks(prepare(tensors, metadata));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface Entry {
  name: string;
  stored: StoredType;
  shape: number[];
  start: number;
  end: number;
}

function parseEntry(source: string, name: string, raw: unknown): Entry {
  const bad = (problem: string) => new FormatError(source, `tensor '${name}': ${problem}`);
  if (!isPlainObject(raw)) throw bad("header entry is not a JSON object");
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== "string") throw bad(`dtype is missing or not a string`);
  const stored = READ_DTYPE[dtype];
  if (stored === undefined) {
    const kind = SPEC_DTYPES.has(dtype) ? "unsupported" : "unknown";
    throw bad(`${kind} dtype '${dtype}' (readable: ${Object.keys(READ_DTYPE).join(", ")})`);
  }
  if (!isValidShape(shape)) {
    throw bad(`shape ${JSON.stringify(shape)} is not a list of integers >= 0`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[1] < offsets[0]
  ) {
    throw bad(
      `data_offsets ${JSON.stringify(offsets)} are not [begin, end] with 0 <= begin <= end`,
    );
  }
  const [start, end] = offsets as [number, number];
  const expected = elementCount(shape) * STORED_SIZE[stored];
  if (end - start !== expected) {
    throw bad(
      `data_offsets [${start}, ${end}] span ${end - start} bytes but shape [${shape}] of ` +
        `${dtype} needs ${expected}`,
    );
  }
  return { name, stored, shape, start, end };
}

function parseMetadata(source: string, raw: unknown): Record<string, string> {
  if (!isPlainObject(raw)) throw new FormatError(source, "__metadata__ is not a JSON object");
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") {
      throw new FormatError(source, `__metadata__ value '${k}' is ${typeof v}, not a string`);
    }
  }
  return { ...raw } as Record<string, string>;
}

/**
 * Decodes a safetensors file. Throws {@link FormatError} (message `<source>: <problem>`) when the
 * header length runs past the end, the header is not UTF-8 JSON, a dtype is unknown or
 * unsupported, a shape or offset is malformed, offsets disagree with shape × dtype size, tensors
 * overlap or leave gaps, or the data is truncated or followed by stray bytes.
 * F64 and I64 tensors are converted to float32 and int32 (see {@link StoredType}).
 *
 * @param source Named in errors; pass the file path.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "<memory>",
): SafetensorsContents {
  if (bytes.length < 8) {
    throw new FormatError(
      source,
      `${bytes.length} bytes is too short for a safetensors file (the header length alone is 8)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(
      source,
      `safetensors header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`,
    );
  }
  const headerLength = Number(n);
  if (8 + headerLength > bytes.length) {
    throw new FormatError(
      source,
      `safetensors header length ${headerLength} runs past the end of the file ` +
        `(${bytes.length - 8} bytes follow the length field)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw new FormatError(source, "safetensors header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new FormatError(
      source,
      `safetensors header is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (!isPlainObject(header)) {
    throw new FormatError(source, "safetensors header is not a JSON object");
  }

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") metadata = parseMetadata(source, raw);
    else entries.push(parseEntry(source, name, raw));
  }
  entries.sort((a, b) => a.start - b.start || a.end - b.end);

  let at = 0;
  let previous = "";
  for (const e of entries) {
    if (e.start < at) {
      throw new FormatError(
        source,
        `tensor '${e.name}' (bytes ${e.start}..${e.end}) overlaps tensor '${previous}' (ends at ${at})`,
      );
    }
    if (e.start > at) {
      throw new FormatError(
        source,
        `gap of ${
          e.start - at
        } bytes before tensor '${e.name}' (offsets must be contiguous from 0)`,
      );
    }
    at = e.end;
    previous = e.name;
  }
  const dataStart = 8 + headerLength;
  const available = bytes.length - dataStart;
  if (at > available) {
    throw new FormatError(
      source,
      `truncated: the header describes ${at} data bytes but only ${available} follow it`,
    );
  }
  if (at < available) {
    throw new FormatError(source, `${available - at} unexpected bytes after the last tensor`);
  }

  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    const { dtype, data } = decodeElements(
      bytes.subarray(dataStart + e.start, dataStart + e.end),
      {
        source,
        label: `tensor '${e.name}'`,
        stored: e.stored,
        littleEndian: true,
        count: elementCount(e.shape),
      },
    );
    tensors.set(e.name, { dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/**
 * Reads and decodes a safetensors file; errors name `path`.
 *
 * @example
 * ```ts
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * const path = `${await Deno.makeTempDir()}/model.safetensors`;
 * await writeSafetensors(path, new Map([
 *   ["bias", { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) }],
 * ]));
 * const { tensors } = await readSafetensors(path);
 * console.log(tensors.get("bias")?.data); // Float32Array [1, 2]
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  return decodeSafetensors(await Deno.readFile(path), path);
}

/**
 * Writes a safetensors file atomically (temporary sibling, fsync, rename): a crash leaves the
 * old file or the new one, never a partial file.
 *
 * @example
 * ```ts
 * import { writeSafetensors } from "./safetensors.ts";
 * await writeSafetensors(`${await Deno.makeTempDir()}/w.safetensors`, new Map([
 *   ["bias", { dtype: "float32", shape: [3], data: new Float32Array(3) }],
 * ]));
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await atomicWriteFile(path, prepare(tensors, metadata));
}
