/**
 * TensorBoard event files (`events.out.tfevents.<time>.<host>`) holding scalars, written without
 * a protobuf library: TFRecord framing around `Event` messages.
 *
 * A TFRecord is `uint64 length`, `uint32 masked CRC-32C of those 8 bytes`, the payload, `uint32
 * masked CRC-32C of the payload`, all little-endian. The file starts with an `Event` holding
 * `wall_time` (field 1, double) and `file_version` (field 3) `"brain.Event:2"`; each scalar is an
 * `Event` with `wall_time`, `step` (field 2, int64) and `summary` (field 5), a `Summary` with one
 * `value` (field 1): `tag` (field 1) and `simple_value` (field 2, float), the form TensorBoard's
 * scalar dashboard and `EventAccumulator.Scalars` read.
 *
 * @example
 * ```ts
 * import { frameTFRecord, scalarEvent } from "./tfevents.ts";
 *
 * const record = frameTFRecord(scalarEvent("train/loss", 1, 2.5, 1700000000));
 * console.log(record.length); // 16 bytes of framing plus the event
 * ```
 *
 * @module
 */
import { maskedCrc32c } from "./crc32c.ts";
import { FormatError } from "./errors.ts";
import { ProtoWriter, readFields } from "./protobuf.ts";
import type { RecordFormat } from "./record_log.ts";

/** The `file_version` TensorBoard expects in the first event. */
export const FILE_VERSION = "brain.Event:2";

/** The first event of a file: its wall time and {@linkcode FILE_VERSION}. */
export function fileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).string(3, FILE_VERSION).finish();
}

/** An event holding one scalar summary value (stored as float32, as TensorBoard does). */
export function scalarEvent(
  tag: string,
  step: number,
  value: number,
  wallTime: number,
): Uint8Array {
  const summaryValue = new ProtoWriter().string(1, tag).float(2, value);
  const summary = new ProtoWriter().message(1, summaryValue);
  return new ProtoWriter().double(1, wallTime).varint(2, step).message(5, summary).finish();
}

/** Wraps one payload in TFRecord framing. */
export function frameTFRecord(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + payload.length);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(payload.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(payload, 12);
  view.setUint32(12 + payload.length, maskedCrc32c(payload), true);
  return out;
}

/**
 * The payloads of TFRecord-framed bytes with both CRCs checked. A truncated last record, or a
 * last record whose checksum fails, ends the list (a crash mid-write); a bad record with more
 * after it throws {@linkcode FormatError}.
 */
export function unframeTFRecords(
  bytes: Uint8Array,
  source: string,
): { payloads: Uint8Array[]; complete: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const payloads: Uint8Array[] = [];
  let at = 0;
  while (at + 12 <= bytes.length) {
    const length = Number(view.getBigUint64(at, true));
    const end = at + 12 + length + 4;
    const headerOk = view.getUint32(at + 8, true) === maskedCrc32c(bytes.subarray(at, at + 8));
    if (headerOk && end > bytes.length) break;
    const payload = bytes.subarray(at + 12, at + 12 + length);
    if (!headerOk || view.getUint32(end - 4, true) !== maskedCrc32c(payload)) {
      if (headerOk && end === bytes.length) break;
      throw new FormatError(source, `TFRecord at byte ${at} fails its CRC-32C check`);
    }
    payloads.push(payload);
    at = end;
  }
  return { payloads, complete: at };
}

/** The tag, step and value of a scalar event; null for any other event. */
export function decodeScalarEvent(
  payload: Uint8Array,
  source: string,
): { tag: string; step: number; value: number; wallTime: number } | null {
  let step = 0;
  let wallTime = 0;
  let summary: Uint8Array | null = null;
  for (const f of readFields(payload, source)) {
    if (f.field === 1 && f.wire === 1) wallTime = dv(f.data).getFloat64(0, true);
    else if (f.field === 2 && f.wire === 0) step = f.int;
    else if (f.field === 5 && f.wire === 2) summary = f.data;
  }
  if (summary === null) return null;
  const value = readFields(summary, source).find((f) => f.field === 1 && f.wire === 2);
  if (value === undefined) return null;
  let tag = "";
  let simple: number | null = null;
  for (const f of readFields(value.data, source)) {
    if (f.field === 1 && f.wire === 2) tag = new TextDecoder().decode(f.data);
    else if (f.field === 2 && f.wire === 5) simple = dv(f.data).getFloat32(0, true);
  }
  return simple === null ? null : { tag, step, value: simple, wallTime };
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The host name in new file names, as TensorFlow writes it; `localhost` where unavailable. */
function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "localhost";
  }
}

/** TensorBoard event files as a {@linkcode RecordFormat}. */
export const TFEVENTS: RecordFormat = {
  name: "TensorBoard event file",
  matches: (name) => name.startsWith("events.out.tfevents."),
  fileName: (wallTime) =>
    `events.out.tfevents.${String(Math.floor(wallTime)).padStart(10, "0")}.${hostName()}`,
  header: (wallTime) => [fileVersionEvent(wallTime)],
  scalar: scalarEvent,
  frame: frameTFRecord,
  unframe: unframeTFRecords,
  scalarOf: (payload, source) => decodeScalarEvent(payload, source),
};
