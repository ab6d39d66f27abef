/**
 * A small reader of zip archives held in memory, enough for PyTorch's `torch.save` files: the
 * central directory (zip64 included), stored entries (what PyTorch writes) and deflated ones
 * (through `DecompressionStream`), each checked against its CRC-32. Encrypted entries and other
 * compression methods are refused with a {@link FormatError} naming the entry.
 *
 * @example
 * ```ts ignore
 * import { readZip } from "./zip.ts";
 * const zip = readZip(await Deno.readFile("model.pth"), "model.pth");
 * const pkl = await zip.get("model/data.pkl")!.data();
 * ```
 *
 * @module
 */
import { FormatError } from "./errors.ts";

/** One member of an archive. */
export interface ZipEntry {
  /** Path inside the archive. */
  name: string;
  /** Uncompressed size in bytes. */
  size: number;
  /** The member's bytes, decompressed and CRC-checked. */
  data(): Promise<Uint8Array>;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

let crcTable: Uint32Array | undefined;

/**
 * CRC-32 (the zip polynomial) of `bytes`.
 *
 * @example
 * ```ts
 * import { crc32 } from "./zip.ts";
 * console.log(crc32(new TextEncoder().encode("123456789")).toString(16)); // "cbf43926"
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function inflateRaw(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes.slice()]).stream().pipeThrough(
    new DecompressionStream("deflate-raw"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Reads the central directory of the zip archive in `bytes`.
 *
 * @throws {FormatError} when there is no end-of-central-directory record, or the directory or a
 *   local header is damaged or points outside the file.
 */
export function readZip(bytes: Uint8Array, source = "<memory>"): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (problem: string) => new FormatError(source, `zip: ${problem}`);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad("no end-of-central-directory record (truncated or not a zip file)");
  let count = view.getUint16(eocd + 10, true);
  let dirSize = view.getUint32(eocd + 12, true);
  let dirOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR) {
      throw bad("zip64 sizes without a zip64 locator");
    }
    const record = Number(view.getBigUint64(locator + 8, true));
    if (record + 56 > bytes.length || view.getUint32(record, true) !== ZIP64_EOCD) {
      throw bad("zip64 end-of-central-directory record missing");
    }
    count = Number(view.getBigUint64(record + 32, true));
    dirSize = Number(view.getBigUint64(record + 40, true));
    dirOffset = Number(view.getBigUint64(record + 48, true));
  }
  if (dirOffset + dirSize > bytes.length) throw bad("central directory runs past the end");
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let at = dirOffset;
  for (let n = 0; n < count; n++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL) {
      throw bad(`central directory entry ${n} is damaged`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let packed = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let local = view.getUint32(at + 42, true);
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // Zip64 extra field: the 64-bit values of whichever fields are saturated, in this order.
    for (let e = at + 46 + nameLength; e + 4 <= at + 46 + nameLength + extraLength;) {
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (id === 1) {
        let f = e + 4;
        const next = () => {
          const v = Number(view.getBigUint64(f, true));
          f += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (packed === 0xffffffff) packed = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + length;
    }
    at += 46 + nameLength + extraLength + commentLength;
    if (local + 30 > bytes.length || view.getUint32(local, true) !== LOCAL) {
      throw bad(`local header of '${name}' is damaged`);
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + packed > bytes.length) throw bad(`'${name}' runs past the end of the file`);
    entries.set(name, {
      name,
      size,
      async data() {
        if (flags & 1) throw bad(`'${name}' is encrypted`);
        const stored = bytes.subarray(start, start + packed);
        let out: Uint8Array;
        if (method === 0) out = stored;
        else if (method === 8) out = await inflateRaw(stored);
        else throw bad(`'${name}' uses compression method ${method} (readable: stored, deflate)`);
        if (out.length !== size) {
          throw bad(`'${name}' holds ${out.length} bytes, its directory entry says ${size}`);
        }
        if (crc32(out) !== crc) throw bad(`'${name}' fails its CRC-32 check (the file is damaged)`);
        return out;
      },
    });
  }
  return entries;
}
