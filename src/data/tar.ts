/**
 * A small streaming reader for tar archives (POSIX ustar, with the GNU long-name and pax
 * extensions GNU tar writes), and gzip decompression through the web-standard
 * `DecompressionStream`, so `.tar.gz` files are read without an external `tar`.
 *
 * Only the entries a caller asks for are held in memory; the rest are skipped as they stream by.
 *
 * @example
 * ```ts ignore
 * import { readTarGzFile } from "./tar.ts";
 * for await (const e of readTarGzFile("cifar-10-binary.tar.gz", { want: (n) => n.endsWith(".bin") })) {
 *   console.log(e.name, e.data?.length);
 * }
 * ```
 *
 * @module
 */
import { FormatError } from "../io/errors.ts";

/** One member of a tar archive. */
export interface TarEntry {
  /** Path inside the archive, with any pax or GNU long name applied. */
  name: string;
  /** "file" for regular files, "directory", or "other" (links, devices, fifos). */
  type: "file" | "directory" | "other";
  /** Size of the member's data in bytes. */
  size: number;
  /** Byte offset of the member's header in the uncompressed tar stream. */
  offset: number;
  /** The member's bytes, present only for regular files the caller wanted. */
  data?: Uint8Array;
}

/** Options for {@link readTar}. */
export interface ReadTarOptions {
  /** Name used in error messages (default "<stream>"). */
  source?: string;
  /** Which regular files to load into memory (default: all). */
  want?: (name: string) => boolean;
}

const BLOCK = 512;

/** Pulls exact byte counts out of a stream of chunks of any size. */
class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  /** Bytes consumed so far. */
  offset = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      const { done, value } = await this.#reader.read();
      if (done) return false;
      this.#chunk = value;
      this.#pos = 0;
    }
    return true;
  }

  /** Reads up to `n` bytes into `out` (or discards them when `out` is null); returns the count. */
  async read(n: number, out: Uint8Array | null): Promise<number> {
    let got = 0;
    while (got < n && await this.#fill()) {
      const take = Math.min(n - got, this.#chunk.length - this.#pos);
      out?.set(this.#chunk.subarray(this.#pos, this.#pos + take), got);
      this.#pos += take;
      got += take;
    }
    this.offset += got;
    return got;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function parseOctal(field: Uint8Array, what: string, source: string, offset: number): number {
  // GNU tar stores sizes of 8 GiB and more in base-256 with the top bit set.
  if (field[0] & 0x80) {
    let v = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    return v;
  }
  const text = cString(field).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new FormatError(
      source,
      `tar header at byte offset ${offset} has a malformed ${what} field ${JSON.stringify(text)}`,
    );
  }
  return parseInt(text, 8);
}

function checksumOk(header: Uint8Array, source: string, offset: number): boolean {
  const stored = parseOctal(header.subarray(148, 156), "checksum", source, offset);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
  return sum === stored;
}

/** Reads the `path` record out of a pax extended header ("<len> <key>=<value>\n" records). */
function paxPath(data: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(data);
  let path: string | undefined;
  let i = 0;
  while (i < text.length) {
    const space = text.indexOf(" ", i);
    if (space < 0) break;
    const len = parseInt(text.slice(i, space), 10);
    if (!(len > 0)) break;
    const record = text.slice(space + 1, i + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0 && record.slice(0, eq) === "path") path = record.slice(eq + 1);
    i += len;
  }
  return path;
}

/**
 * Streams the members of an uncompressed tar archive. Throws {@link FormatError} naming the
 * source and the byte offset for a bad header checksum, a malformed field, or an archive that
 * ends inside a member. An archive that ends without the two zero blocks but on a member
 * boundary is accepted, as GNU tar does.
 *
 * @example
 * ```ts ignore
 * import { readTar } from "./tar.ts";
 * const stream = (await Deno.open("a.tar")).readable;
 * for await (const e of readTar(stream, { source: "a.tar" })) console.log(e.name);
 * ```
 */
export async function* readTar(
  stream: ReadableStream<Uint8Array>,
  opts: ReadTarOptions = {},
): AsyncGenerator<TarEntry> {
  const source = opts.source ?? "<stream>";
  const want = opts.want ?? (() => true);
  const reader = new ByteReader(stream);
  const header = new Uint8Array(BLOCK);
  let longName: string | undefined;
  try {
    while (true) {
      const offset = reader.offset;
      const got = await reader.read(BLOCK, header);
      if (got === 0) return;
      if (got < BLOCK) {
        throw new FormatError(
          source,
          `truncated tar header at byte offset ${offset}: ${got} of ${BLOCK} bytes`,
        );
      }
      if (header.every((b) => b === 0)) return;
      if (!checksumOk(header, source, offset)) {
        throw new FormatError(source, `tar header at byte offset ${offset} has a bad checksum`);
      }
      const size = parseOctal(header.subarray(124, 136), "size", source, offset);
      const flag = String.fromCharCode(header[156] || 48);
      const magic = cString(header.subarray(257, 263));
      const prefix = magic === "ustar" ? cString(header.subarray(345, 500)) : "";
      const base = cString(header.subarray(0, 100));
      const name = longName ?? (prefix ? `${prefix}/${base}` : base);
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      const isMeta = flag === "L" || flag === "x" || flag === "g";
      const isFile = flag === "0" || flag === "7";
      const keep = isMeta || (isFile && want(name));
      const data = keep ? new Uint8Array(size) : null;
      const dataOffset = reader.offset;
      const read = await reader.read(size, data);
      if (read < size) {
        throw new FormatError(
          source,
          `tar member "${name}" (header at byte offset ${offset}) needs ${size} bytes of data ` +
            `from byte offset ${dataOffset}, but the archive ends at byte offset ${reader.offset}`,
        );
      }
      await reader.read(padded - size, null);
      if (flag === "L") {
        longName = cString(data!);
        continue;
      }
      if (flag === "x") {
        longName = paxPath(data!) ?? longName;
        continue;
      }
      if (flag === "g") continue;
      longName = undefined;
      const type = isFile ? "file" : flag === "5" ? "directory" : "other";
      yield { name, type, size, offset, ...(data ? { data } : {}) };
    }
  } finally {
    await reader.cancel();
  }
}

/**
 * Gunzips a byte stream; decompression errors are rethrown as {@link FormatError} naming `source`.
 *
 * @example
 * ```ts ignore
 * import { gunzip } from "./tar.ts";
 * const tarStream = gunzip((await Deno.open("a.tar.gz")).readable, "a.tar.gz");
 * ```
 */
export function gunzip(
  stream: ReadableStream<Uint8Array>,
  source = "<stream>",
): ReadableStream<Uint8Array> {
  // DecompressionStream is typed to take only ArrayBuffer-backed chunks; any Uint8Array works.
  const inflated = stream.pipeThrough(
    new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>,
  );
  const reader = inflated.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (e) {
        controller.error(
          new FormatError(source, `not a valid gzip stream: ${(e as Error).message}`),
        );
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  });
}

/**
 * Streams the members of a `.tar.gz` file.
 *
 * @example
 * ```ts ignore
 * import { readTarGzFile } from "./tar.ts";
 * for await (const e of readTarGzFile("a.tar.gz")) console.log(e.name, e.size);
 * ```
 */
export async function* readTarGzFile(
  path: string,
  opts: Omit<ReadTarOptions, "source"> = {},
): AsyncGenerator<TarEntry> {
  const file = await Deno.open(path, { read: true });
  yield* readTar(gunzip(file.readable, path), { ...opts, source: path });
}
