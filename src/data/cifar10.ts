/**
 * CIFAR-10 from its binary distribution: an extracted `cifar-10-batches-bin/` folder, the
 * `cifar-10-binary.tar.gz` archive read directly (no external `tar`), or a download from the
 * dataset authors' page into a cache folder (resumable, MD5-checked before use).
 *
 * A record is 3,073 bytes: one label byte (0–9), then the 1,024 red, 1,024 green and 1,024 blue
 * bytes of a 32×32 image, each plane row-major. Records are decoded to NHWC uint8. Files may hold
 * any whole, non-zero number of records; anything else fails with a {@link FormatError} that names
 * the file and the byte offset.
 *
 * @example
 * ```ts ignore
 * import { loadCifar10 } from "./cifar10.ts";
 * // Looks in ~/.cache/deno-trainer/cifar10, downloading there if the files are absent.
 * const { train, test } = await loadCifar10();
 * console.log(train.length, test.length); // 50000 10000
 * ```
 *
 * @module
 */
import { defaultCacheDir, downloadFile, md5File } from "../io/download.ts";
import { FormatError } from "../io/errors.ts";
import { ImageDataset } from "./image_dataset.ts";
import { readTarGzFile } from "./tar.ts";

export { md5File } from "../io/download.ts";

/** The ten CIFAR-10 class names, in label order. */
export const CIFAR10_CLASS_NAMES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);

/** Per-channel mean (RGB) of pixels scaled to [0, 1], from the recipe. */
export const CIFAR10_MEAN: readonly number[] = Object.freeze([0.5071, 0.4865, 0.4409]);
/** Per-channel standard deviation (RGB) of pixels scaled to [0, 1], from the recipe. */
export const CIFAR10_STD: readonly number[] = Object.freeze([0.1942, 0.1918, 0.1958]);

/** Bytes in one CIFAR-10 record: a label byte and 32·32·3 pixel bytes. */
export const CIFAR10_RECORD_BYTES = 3073;
const SIDE = 32;
const PLANE = SIDE * SIDE;

/** The published archive: where it lives, its size, MD5 and the folder it unpacks to. */
export const CIFAR10_ARCHIVE = Object.freeze({
  url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
  fileName: "cifar-10-binary.tar.gz",
  bytes: 170_052_171,
  md5: "c32a1d4ab5d03f1284b67883e8d87530",
  folder: "cifar-10-batches-bin",
});

/** Training batch files, in the order their records are concatenated. */
export const CIFAR10_TRAIN_FILES: readonly string[] = Object.freeze([
  "data_batch_1.bin",
  "data_batch_2.bin",
  "data_batch_3.bin",
  "data_batch_4.bin",
  "data_batch_5.bin",
]);
/** Test batch files. */
export const CIFAR10_TEST_FILES: readonly string[] = Object.freeze(["test_batch.bin"]);

/** The two splits of CIFAR-10. */
export interface Cifar10 {
  /** 50,000 training images (fewer for small test files). */
  train: ImageDataset;
  /** 10,000 test images. */
  test: ImageDataset;
}

/** The CIFAR-10 files are neither present nor downloadable; the message says how to provide them. */
export class DatasetNotFoundError extends Error {
  /**
   * Creates the error with a message that says where the files are expected.
   *
   * @param message What was looked for, where, and how to provide it.
   */
  constructor(message: string) {
    super(message);
    this.name = "DatasetNotFoundError";
  }
}

/**
 * Decodes CIFAR-10 records (label byte + three 32×32 planes each) into NHWC pixels and labels.
 *
 * @param bytes The whole contents of one batch file.
 * @param source The file name for error messages.
 * @throws {FormatError} for an empty file, a size that is not a whole number of records (naming
 *   the byte offset where the truncated record starts), or a label byte above 9.
 *
 * @example
 * ```ts
 * import { decodeCifarRecords } from "./cifar10.ts";
 * const rec = new Uint8Array(3073);
 * rec[0] = 7; rec[1] = 255; // label 7, red of pixel (0, 0)
 * const { images, labels } = decodeCifarRecords(rec, "one.bin");
 * labels[0] === 7 && images[0] === 255; // true
 * ```
 */
export function decodeCifarRecords(
  bytes: Uint8Array,
  source: string,
): { images: Uint8Array; labels: Int32Array } {
  if (bytes.length === 0) throw new FormatError(source, "file is empty (no CIFAR-10 records)");
  const n = Math.floor(bytes.length / CIFAR10_RECORD_BYTES);
  const rest = bytes.length - n * CIFAR10_RECORD_BYTES;
  if (rest !== 0) {
    throw new FormatError(
      source,
      `size ${bytes.length} bytes is not a whole number of ${CIFAR10_RECORD_BYTES}-byte records: ` +
        `the record at byte offset ${n * CIFAR10_RECORD_BYTES} is truncated ` +
        `(${rest} of ${CIFAR10_RECORD_BYTES} bytes)`,
    );
  }
  const images = new Uint8Array(n * PLANE * 3);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const off = r * CIFAR10_RECORD_BYTES;
    const label = bytes[off];
    if (label > 9) {
      throw new FormatError(
        source,
        `record ${r} at byte offset ${off} has label byte ${label}; CIFAR-10 labels are 0–9`,
      );
    }
    labels[r] = label;
    const out = r * PLANE * 3;
    for (let c = 0; c < 3; c++) {
      const plane = off + 1 + c * PLANE;
      for (let p = 0; p < PLANE; p++) images[out + p * 3 + c] = bytes[plane + p];
    }
  }
  return { images, labels };
}

/** Concatenates decoded files, in order, into one dataset. */
function joinSplit(
  parts: { images: Uint8Array; labels: Int32Array }[],
  source: string,
): ImageDataset {
  const n = parts.reduce((s, p) => s + p.labels.length, 0);
  const images = new Uint8Array(n * PLANE * 3);
  const labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * PLANE * 3);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  return new ImageDataset({
    images,
    labels,
    imageShape: [SIDE, SIDE, 3],
    classNames: CIFAR10_CLASS_NAMES,
    source,
  });
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : `${dir}/${name}`;
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Reads CIFAR-10 from a folder holding the six batch files (`cifar-10-batches-bin/` itself), or
 * from a folder that holds `cifar-10-batches-bin/`.
 *
 * @throws {DatasetNotFoundError} if a batch file is missing (naming it).
 * @throws {FormatError} if a batch file is damaged.
 *
 * @example
 * ```ts ignore
 * import { readCifar10Folder } from "./cifar10.ts";
 * const { train } = await readCifar10Folder("data/cifar-10-batches-bin");
 * ```
 */
export async function readCifar10Folder(dir: string): Promise<Cifar10> {
  const nested = join(dir, CIFAR10_ARCHIVE.folder);
  const base = !(await holdsBatches(dir)) && (await statOrNull(nested))?.isDirectory ? nested : dir;
  const readAll = async (names: readonly string[]) => {
    const parts = [];
    for (const name of names) {
      const path = join(base, name);
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(path);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new DatasetNotFoundError(
            `CIFAR-10 batch file ${path} is missing; the folder must hold ` +
              `${[...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES].join(", ")}`,
          );
        }
        throw e;
      }
      parts.push(decodeCifarRecords(bytes, path));
    }
    return parts;
  };
  return {
    train: joinSplit(await readAll(CIFAR10_TRAIN_FILES), `${base} (train)`),
    test: joinSplit(await readAll(CIFAR10_TEST_FILES), `${base} (test)`),
  };
}

/** Options for {@link readCifar10Archive}. */
export interface ReadArchiveOptions {
  /**
   * Expected MD5 of the archive, checked before anything is read from it; `null` skips the check.
   * Default: the published archive's MD5, {@link CIFAR10_ARCHIVE}.
   */
  md5?: string | null;
}

/**
 * Reads CIFAR-10 straight out of `cifar-10-binary.tar.gz`, after checking its MD5.
 *
 * @throws {FormatError} for a wrong MD5 (both sums are named), a damaged gzip or tar stream, a
 *   missing batch member, or a damaged batch file (named as `archive:member`).
 *
 * @example
 * ```ts ignore
 * import { readCifar10Archive } from "./cifar10.ts";
 * const { train, test } = await readCifar10Archive("downloads/cifar-10-binary.tar.gz");
 * ```
 */
export async function readCifar10Archive(
  path: string,
  opts: ReadArchiveOptions = {},
): Promise<Cifar10> {
  const expected = opts.md5 === undefined ? CIFAR10_ARCHIVE.md5 : opts.md5;
  if (expected !== null) {
    const actual = await md5File(path);
    if (actual !== expected.toLowerCase()) {
      throw new FormatError(
        path,
        `MD5 is ${actual}, expected ${expected.toLowerCase()}: the archive is damaged or not ` +
          `the CIFAR-10 binary distribution; delete it and download it again`,
      );
    }
  }
  const wanted = new Set([...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES]);
  const baseName = (name: string) => name.slice(name.lastIndexOf("/") + 1);
  const decoded = new Map<string, { images: Uint8Array; labels: Int32Array }>();
  for await (
    const entry of readTarGzFile(path, {
      want: (name) => wanted.has(baseName(name)) && !decoded.has(baseName(name)),
    })
  ) {
    if (!entry.data) continue;
    const name = baseName(entry.name);
    decoded.set(name, decodeCifarRecords(entry.data, `${path}:${entry.name}`));
  }
  const pick = (names: readonly string[]) =>
    names.map((name) => {
      const part = decoded.get(name);
      if (!part) {
        throw new FormatError(path, `archive has no member ${CIFAR10_ARCHIVE.folder}/${name}`);
      }
      return part;
    });
  return {
    train: joinSplit(pick(CIFAR10_TRAIN_FILES), `${path} (train)`),
    test: joinSplit(pick(CIFAR10_TEST_FILES), `${path} (test)`),
  };
}

/**
 * The default cache folder: `$DENO_TRAINER_CACHE/cifar10` if set, else
 * `$XDG_CACHE_HOME/deno-trainer/cifar10`, else `~/.cache/deno-trainer/cifar10`.
 *
 * @example
 * ```ts
 * import { defaultCifar10CacheDir } from "./cifar10.ts";
 * console.log(defaultCifar10CacheDir()); // e.g. /home/me/.cache/deno-trainer/cifar10
 * ```
 */
export function defaultCifar10CacheDir(): string {
  return defaultCacheDir("cifar10");
}

/** Options for {@link downloadCifar10}. */
export interface DownloadOptions {
  /** Folder to download into (default {@link defaultCifar10CacheDir}). */
  cacheDir?: string;
  /** Where to download from (default the authors' page, {@link CIFAR10_ARCHIVE}). */
  url?: string;
  /** Expected MD5 (default the published archive's). */
  md5?: string;
  /** Draw a progress bar on stderr (default true). */
  progress?: boolean;
}

/**
 * Downloads the CIFAR-10 archive into `cacheDir`, resuming a partial `.part` file with an HTTP
 * range request when the server allows it (restarting otherwise), then checks the MD5 and only
 * then renames it into place. A damaged download is deleted.
 *
 * @returns the path of the verified archive.
 *
 * @example
 * ```ts ignore
 * import { downloadCifar10, readCifar10Archive } from "./cifar10.ts";
 * const archive = await downloadCifar10({ cacheDir: "data" });
 * const { train } = await readCifar10Archive(archive);
 * ```
 */
export async function downloadCifar10(opts: DownloadOptions = {}): Promise<string> {
  return await downloadFile({
    url: opts.url ?? CIFAR10_ARCHIVE.url,
    target: join(opts.cacheDir ?? defaultCifar10CacheDir(), CIFAR10_ARCHIVE.fileName),
    md5: opts.md5 ?? CIFAR10_ARCHIVE.md5,
    progress: opts.progress,
  });
}

/** Options for {@link loadCifar10}. */
export interface LoadCifar10Options {
  /**
   * An extracted `cifar-10-batches-bin/` folder, a folder holding it or the archive, or the
   * `.tar.gz` archive itself. When given, nothing is downloaded. Default: look in `cacheDir`.
   */
  path?: string;
  /** Cache folder searched, and downloaded into (default {@link defaultCifar10CacheDir}). */
  cacheDir?: string;
  /** Download into `cacheDir` when the files are not there (default true). */
  download?: boolean;
  /** Download address (default the authors' page). */
  url?: string;
  /** Expected archive MD5; `null` skips the check (default the published archive's). */
  md5?: string | null;
  /** Progress bar on stderr while downloading (default true). */
  progress?: boolean;
}

function howToProvide(where: string): string {
  return `To provide CIFAR-10, either download ${CIFAR10_ARCHIVE.url} ` +
    `(${CIFAR10_ARCHIVE.bytes.toLocaleString("en-US")} bytes, MD5 ${CIFAR10_ARCHIVE.md5}) ` +
    `into ${where} (it is read without extracting; an extracted ` +
    `${CIFAR10_ARCHIVE.folder}/ folder there works too), or pass the path of an extracted ` +
    `${CIFAR10_ARCHIVE.folder}/ folder or of the archive.`;
}

/** True if `dir` is a folder holding at least one of the batch files. */
async function holdsBatches(dir: string): Promise<boolean> {
  for (const name of [...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES]) {
    if ((await statOrNull(join(dir, name)))?.isFile) return true;
  }
  return false;
}

/** Reads whatever CIFAR-10 form sits at `path`, or returns null if there is none. */
async function readAt(path: string, md5: string | null | undefined): Promise<Cifar10 | null> {
  const info = await statOrNull(path);
  if (!info) return null;
  if (info.isFile) return await readCifar10Archive(path, { md5 });
  for (const dir of [path, join(path, CIFAR10_ARCHIVE.folder)]) {
    if (await holdsBatches(dir)) return await readCifar10Folder(dir);
  }
  const archive = join(path, CIFAR10_ARCHIVE.fileName);
  if ((await statOrNull(archive))?.isFile) return await readCifar10Archive(archive, { md5 });
  return null;
}

/**
 * Loads CIFAR-10 from `path` if given; otherwise from the cache folder, downloading it there first
 * when absent (and `download` is not false).
 *
 * @throws {DatasetNotFoundError} when the files are neither present nor downloadable; the
 *   message names the folder searched and how to provide the files.
 * @throws {FormatError} for a damaged file or archive, or a wrong MD5.
 *
 * @example
 * ```ts ignore
 * import { loadCifar10 } from "./cifar10.ts";
 * const { train, test } = await loadCifar10({ path: "data/cifar-10-batches-bin" });
 * ```
 */
export async function loadCifar10(opts: LoadCifar10Options = {}): Promise<Cifar10> {
  if (opts.path !== undefined) {
    const found = await readAt(opts.path, opts.md5);
    if (found) return found;
    throw new DatasetNotFoundError(
      `CIFAR-10 not found at ${opts.path}: expected the batch files ` +
        `(${CIFAR10_TRAIN_FILES[0]} … ${CIFAR10_TEST_FILES[0]}), a ${CIFAR10_ARCHIVE.folder}/ ` +
        `folder, or ${CIFAR10_ARCHIVE.fileName}. ${howToProvide("a folder")}`,
    );
  }
  const dir = opts.cacheDir ?? defaultCifar10CacheDir();
  const cached = await readAt(dir, opts.md5);
  if (cached) return cached;
  if (opts.download === false) {
    throw new DatasetNotFoundError(
      `CIFAR-10 not found in ${dir} (looked for ${CIFAR10_ARCHIVE.folder}/ and ` +
        `${CIFAR10_ARCHIVE.fileName}) and downloading is off. ${howToProvide(dir)}`,
    );
  }
  let archive: string;
  try {
    archive = await downloadCifar10({
      cacheDir: dir,
      url: opts.url,
      md5: opts.md5 ?? undefined,
      progress: opts.progress,
    });
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new DatasetNotFoundError(
      `CIFAR-10 not found in ${dir} (looked for ${CIFAR10_ARCHIVE.folder}/ and ` +
        `${CIFAR10_ARCHIVE.fileName}) and the download from ${opts.url ?? CIFAR10_ARCHIVE.url} ` +
        `failed: ${(e as Error).message}. ${howToProvide(dir)}`,
    );
  }
  return await readCifar10Archive(archive, { md5: opts.md5 });
}
