/**
 * Builders for small CIFAR-format files and archives used by the data tests: records with known
 * pixels, a minimal ustar writer and gzip through CompressionStream.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The pixel value the fixtures put at (record, row, col, channel) of a file with salt `salt`. */
export function pixelAt(salt: number, r: number, y: number, x: number, c: number): number {
  return (salt * 31 + r * 7 + y * 3 + x * 5 + c * 101) % 256;
}

/** One CIFAR batch file of `labels.length` records, laid out as the format says (planes R, G, B). */
export function cifarFile(salt: number, labels: number[]): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((label, r) => {
    const off = r * 3073;
    out[off] = label;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          out[off + 1 + c * 1024 + y * 32 + x] = pixelAt(salt, r, y, x, c);
        }
      }
    }
  });
  return out;
}

/** Labels and salts of the six small fixture files: 3, 2, 1, 2, 1 train records and 4 test ones. */
export const FIXTURE_FILES: Record<string, { salt: number; labels: number[] }> = {
  "data_batch_1.bin": { salt: 1, labels: [0, 1, 2] },
  "data_batch_2.bin": { salt: 2, labels: [3, 4] },
  "data_batch_3.bin": { salt: 3, labels: [5] },
  "data_batch_4.bin": { salt: 4, labels: [6, 7] },
  "data_batch_5.bin": { salt: 5, labels: [8] },
  "test_batch.bin": { salt: 6, labels: [9, 0, 5, 3] },
};

/** Writes the fixture batch files into `dir` (created). */
export async function writeFixtureFolder(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, f] of Object.entries(FIXTURE_FILES)) {
    await Deno.writeFile(`${dir}/${name}`, cifarFile(f.salt, f.labels));
  }
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** A ustar archive of the given members (and directories, for names ending in "/"). */
export function encodeTar(members: { name: string; data?: Uint8Array }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const m of members) {
    const isDir = m.name.endsWith("/");
    const data = m.data ?? new Uint8Array(0);
    const h = new Uint8Array(512);
    h.set(enc.encode(m.name), 0);
    h.set(enc.encode(octal(isDir ? 0o755 : 0o644, 8)), 100);
    h.set(enc.encode(octal(0, 8)), 108);
    h.set(enc.encode(octal(0, 8)), 116);
    h.set(enc.encode(octal(data.length, 12)), 124);
    h.set(enc.encode(octal(0, 12)), 136);
    h[156] = isDir ? 0x35 : 0x30;
    h.set(enc.encode("ustar\0" + "00"), 257);
    h.fill(32, 148, 156);
    const sum = h.reduce((s, b) => s + b, 0);
    h.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    blocks.push(h);
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(1024));
  return concat(blocks);
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Gzips bytes with the web-standard CompressionStream. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The fixture files as a `.tar.gz` laid out like the real archive. */
export async function fixtureArchive(): Promise<Uint8Array> {
  const members = [
    { name: "cifar-10-batches-bin/" },
    ...Object.entries(FIXTURE_FILES).map(
      ([name, f]) => ({ name: `cifar-10-batches-bin/${name}`, data: cifarFile(f.salt, f.labels) }),
    ),
    { name: "cifar-10-batches-bin/readme.html", data: new TextEncoder().encode("<p>hi</p>") },
  ];
  return await gzip(encodeTar(members));
}

/** MD5 of bytes as lowercase hex. */
export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}
