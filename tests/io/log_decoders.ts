/**
 * Readers of TensorBoard event files and VisualDL logs written for the tests alone, sharing no
 * code with `src/io` (bitwise CRC-32C, a hand-rolled protobuf walk), so an encoder bug cannot be
 * mirrored by its own decoder.
 */

/** CRC-32C bit by bit, straight from the definition (reflected polynomial 0x82F63B78). */
export function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/** TensorFlow's mask: rotate right 15, add 0xa282ead8. */
export function mask(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

type Field = { no: number; wire: number; v: bigint | Uint8Array };

function parse(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = () => {
    let x = 0n;
    let shift = 0n;
    while (true) {
      const c = b[i++];
      if (c === undefined) throw new Error("varint past end");
      x |= BigInt(c & 127) << shift;
      shift += 7n;
      if (!(c & 128)) return x;
    }
  };
  while (i < b.length) {
    const key = Number(varint());
    const no = key >> 3;
    const wire = key & 7;
    let v: bigint | Uint8Array;
    if (wire === 0) v = varint();
    else if (wire === 1) v = b.slice(i, i += 8);
    else if (wire === 5) v = b.slice(i, i += 4);
    else if (wire === 2) {
      const n = Number(varint());
      v = b.slice(i, i += n);
    } else throw new Error(`wire type ${wire}`);
    if (i > b.length) throw new Error("field past end");
    out.push({ no, wire, v });
  }
  return out;
}

const f64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getFloat64(0, true);
const f32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getFloat32(0, true);
const text = (b: Uint8Array) => new TextDecoder("utf-8", { fatal: true }).decode(b);

/** One decoded event of a TensorBoard file. */
export interface TestEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: { tag: string; value: number }[];
}

/** Every record of a TFRecord file, with both masked CRCs checked; throws on any mismatch. */
export function readTFRecordsChecked(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    if (i + 12 > bytes.length) throw new Error(`truncated header at ${i}`);
    const len = Number(view.getBigUint64(i, true));
    if (view.getUint32(i + 8, true) !== mask(crc32cBitwise(bytes.slice(i, i + 8)))) {
      throw new Error(`length CRC mismatch at ${i}`);
    }
    const data = bytes.slice(i + 12, i + 12 + len);
    if (data.length !== len || i + 16 + len > bytes.length) throw new Error(`truncated at ${i}`);
    if (view.getUint32(i + 12 + len, true) !== mask(crc32cBitwise(data))) {
      throw new Error(`data CRC mismatch at ${i}`);
    }
    out.push(data);
    i += 16 + len;
  }
  return out;
}

/** Decodes `tensorflow.Event` messages (wall_time 1, step 2, file_version 3, summary 5). */
export function decodeEvents(bytes: Uint8Array): TestEvent[] {
  return readTFRecordsChecked(bytes).map((rec) => {
    const ev: TestEvent = { wallTime: NaN, step: 0, scalars: [] };
    for (const f of parse(rec)) {
      if (f.no === 1) ev.wallTime = f64(f.v as Uint8Array);
      else if (f.no === 2) ev.step = Number(f.v as bigint);
      else if (f.no === 3) ev.fileVersion = text(f.v as Uint8Array);
      else if (f.no === 5) {
        for (const val of parse(f.v as Uint8Array).filter((x) => x.no === 1)) {
          const fields = parse(val.v as Uint8Array);
          const tag = text(fields.find((x) => x.no === 1)!.v as Uint8Array);
          const simple = fields.find((x) => x.no === 2 && x.wire === 5)!;
          ev.scalars.push({ tag, value: f32(simple.v as Uint8Array) });
        }
      }
    }
    return ev;
  });
}

/** One `visualdl.Record.Value`. */
export interface TestVdlValue {
  id: number;
  tag: string;
  timestamp: number;
  value?: number;
  metaDisplayName?: string;
}

/** Decodes a VisualDL log: uint64 length + `Record` (values 1: id 1, tag 2, timestamp 3, value 4). */
export function decodeVdl(bytes: Uint8Array): TestVdlValue[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: TestVdlValue[] = [];
  let i = 0;
  while (i < bytes.length) {
    const len = Number(view.getBigUint64(i, true));
    if (i + 8 + len > bytes.length) throw new Error(`truncated at ${i}`);
    const values = parse(bytes.slice(i + 8, i + 8 + len)).filter((f) => f.no === 1);
    if (values.length !== 1) throw new Error(`record at ${i} has ${values.length} values`);
    const v: TestVdlValue = { id: 0, tag: "", timestamp: 0 };
    for (const f of parse(values[0].v as Uint8Array)) {
      if (f.no === 1) v.id = Number(f.v as bigint);
      else if (f.no === 2) v.tag = text(f.v as Uint8Array);
      else if (f.no === 3) v.timestamp = Number(f.v as bigint);
      else if (f.no === 4) v.value = f32(f.v as Uint8Array);
      else if (f.no === 10) {
        const name = parse(f.v as Uint8Array).find((x) => x.no === 1);
        v.metaDisplayName = name ? text(name.v as Uint8Array) : "";
      }
    }
    out.push(v);
    i += 8 + len;
  }
  return out;
}

/** The one file in `dir` whose name starts with `prefix`; fails when there are none or several. */
export async function onlyFile(dir: string, prefix: string): Promise<string> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.startsWith(prefix)) names.push(e.name);
  if (names.length !== 1) throw new Error(`${dir}: ${names.length} files named ${prefix}*`);
  return `${dir}/${names[0]}`;
}
