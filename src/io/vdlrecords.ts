/**
 * VisualDL's log files (`vdlrecords.<time>.log`, what `visualdl --logdir` reads), holding
 * scalars, written without a protobuf library.
 *
 * Each record is `uint64 length` (little-endian) then a `visualdl.Record` message; VisualDL's
 * framing has no checksum. A `Record` holds `values` (field 1), one `Value` each: `id` (field 1,
 * int64: the step), `tag` (field 2), `timestamp` (field 3, int64 milliseconds since the Unix
 * epoch) and `value` (field 4, float). VisualDL's own writer starts a file with a metadata record
 * (`tag` `meta_data_tag`, step 0, `meta_data` field 10 with an empty `display_name`); so does
 * this one. VisualDL reads only the newest `vdlrecords` file of a folder, one folder per run.
 *
 * @example
 * ```ts
 * import { frameVdlRecord, vdlScalarRecord } from "./vdlrecords.ts";
 *
 * const record = frameVdlRecord(vdlScalarRecord("train/loss", 1, 2.5, 1700000000));
 * console.log(record.length);
 * ```
 *
 * @module
 */
import { FormatError } from "./errors.ts";
import { ProtoWriter, readFields } from "./protobuf.ts";
import type { RecordFormat } from "./record_log.ts";

/** The tag of VisualDL's metadata record. */
export const META_TAG = "meta_data_tag";

/** The metadata record a file starts with (seconds in, milliseconds stored). */
export function vdlMetaRecord(wallTime: number): Uint8Array {
  const value = new ProtoWriter().varint(1, 0).string(2, META_TAG)
    .varint(3, Math.round(wallTime * 1000)).bytes(10, new Uint8Array());
  return new ProtoWriter().message(1, value).finish();
}

/** A record holding one scalar (stored as float32, as VisualDL does). */
export function vdlScalarRecord(
  tag: string,
  step: number,
  value: number,
  wallTime: number,
): Uint8Array {
  const v = new ProtoWriter().varint(1, step).string(2, tag)
    .varint(3, Math.round(wallTime * 1000)).float(4, value);
  return new ProtoWriter().message(1, v).finish();
}

/** Prefixes one payload with its length. */
export function frameVdlRecord(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(payload.length), true);
  out.set(payload, 8);
  return out;
}

/** The payloads of length-prefixed bytes; an incomplete last record (a crash) ends the list. */
export function unframeVdlRecords(bytes: Uint8Array): { payloads: Uint8Array[]; complete: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const payloads: Uint8Array[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    const end = at + 8 + Number(view.getBigUint64(at, true));
    if (end > bytes.length) break;
    payloads.push(bytes.subarray(at + 8, end));
    at = end;
  }
  return { payloads, complete: at };
}

/** The tag, step, value and wall time (seconds) of a scalar record; null for metadata. */
export function decodeVdlScalar(
  payload: Uint8Array,
  source: string,
): { tag: string; step: number; value: number; wallTime: number } | null {
  const values = readFields(payload, source).filter((f) => f.field === 1 && f.wire === 2);
  if (values.length !== 1) {
    throw new FormatError(source, `a VisualDL record holds ${values.length} values, expected 1`);
  }
  let tag = "";
  let step = 0;
  let ms = 0;
  let value: number | null = null;
  for (const f of readFields(values[0].data, source)) {
    if (f.field === 1 && f.wire === 0) step = f.int;
    else if (f.field === 2 && f.wire === 2) tag = new TextDecoder().decode(f.data);
    else if (f.field === 3 && f.wire === 0) ms = f.int;
    else if (f.field === 4 && f.wire === 5) {
      value = new DataView(f.data.buffer, f.data.byteOffset, 4).getFloat32(0, true);
    }
  }
  return value === null ? null : { tag, step, value, wallTime: ms / 1000 };
}

/** VisualDL logs as a {@linkcode RecordFormat}. */
export const VDLRECORDS: RecordFormat = {
  name: "VisualDL log",
  matches: (name) => /^vdlrecords\.\d+\.log$/.test(name),
  fileName: (wallTime) => `vdlrecords.${String(Math.floor(wallTime)).padStart(10, "0")}.log`,
  header: (wallTime) => [vdlMetaRecord(wallTime)],
  scalar: vdlScalarRecord,
  frame: frameVdlRecord,
  unframe: (bytes) => unframeVdlRecords(bytes),
  scalarOf: (payload, source) => decodeVdlScalar(payload, source),
};
