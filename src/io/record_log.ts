/**
 * An append-only file of framed records holding scalars (a TensorBoard event file, a VisualDL
 * `vdlrecords` log): the format-independent part. A format is a {@linkcode RecordFormat}; this
 * module finds the run folder's existing file or starts a new one, and on reopening drops the
 * records a resumed run will write again, so every (tag, step) is in the file once.
 *
 * Records are buffered in memory by {@linkcode RecordLog.add} and written by
 * {@linkcode RecordLog.flush} in one write; {@linkcode RecordLog.sync} also forces them to disk.
 * A crash can leave a torn last record; reopening drops it.
 *
 * @example
 * ```ts ignore
 * import { RecordLog } from "./record_log.ts";
 * import { TFEVENTS } from "./tfevents.ts";
 * const log = await RecordLog.open("vis_logs/run1", TFEVENTS, { wallTime: Date.now() / 1000 });
 * log.add("train/loss", 1, 2.3, Date.now() / 1000);
 * await log.sync();
 * log.close();
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { atomicWriteFile } from "./atomic.ts";

/**
 * The run folder of a JSONL scalar log: its path with `.jsonl` replaced by `.logs`
 * (`vis_logs/scalars-X.jsonl` → `vis_logs/scalars-X.logs`). A suffix, so that a log named like a
 * sibling folder (a save folder `out/run` beside `out/run.jsonl`) never writes into that folder.
 */
export function runFolderOf(jsonlPath: string): string {
  return jsonlPath.replace(/\.jsonl$/, "") + ".logs";
}

/** How one file format names, frames and encodes its records. */
export interface RecordFormat {
  /** Short name for messages, e.g. `TensorBoard event file`. */
  name: string;
  /** Whether a file name in a run folder is a file of this format. */
  matches(fileName: string): boolean;
  /** The name of a new file started at `wallTime` (seconds since the Unix epoch). */
  fileName(wallTime: number): string;
  /** The payloads a new file starts with (a file version, metadata). */
  header(wallTime: number): Uint8Array[];
  /** The payload of one scalar. */
  scalar(tag: string, step: number, value: number, wallTime: number): Uint8Array;
  /** One payload with its framing. */
  frame(payload: Uint8Array): Uint8Array;
  /**
   * The payloads of a file's bytes, and how many bytes the complete records take. An incomplete
   * or corrupt last record (what a crash leaves) ends the list; damage before it throws.
   */
  unframe(bytes: Uint8Array, source: string): { payloads: Uint8Array[]; complete: number };
  /** The tag and step of a scalar payload; null for header payloads. */
  scalarOf(payload: Uint8Array, source: string): { tag: string; step: number } | null;
}

/** Options of {@linkcode RecordLog.open}. */
export interface RecordLogOpenOptions {
  /** When a file exists: keep only the scalars this accepts (resuming); default keeps all. */
  keep?: (tag: string, step: number) => boolean;
  /** Wall time of a new file's name and header, seconds since the Unix epoch. */
  wallTime: number;
}

/** One open record file; see the module documentation. */
export class RecordLog {
  /** The file's path. */
  readonly path: string;
  readonly #format: RecordFormat;
  #file: Deno.FsFile | null;
  #pending: Uint8Array[] = [];

  private constructor(path: string, format: RecordFormat, file: Deno.FsFile) {
    this.path = path;
    this.#format = format;
    this.#file = file;
  }

  /**
   * Opens the newest file of `format` in `dir` for appending (after dropping what `keep`
   * rejects and any torn last record), or creates a new one with its header.
   */
  static async open(
    dir: string,
    format: RecordFormat,
    opts: RecordLogOpenOptions,
  ): Promise<RecordLog> {
    await Deno.mkdir(dir, { recursive: true });
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && format.matches(e.name)) names.push(e.name);
    }
    names.sort();
    const existing = names.at(-1);
    if (existing === undefined) {
      const path = join(dir, format.fileName(opts.wallTime));
      const file = await Deno.open(path, { write: true, createNew: true });
      const log = new RecordLog(path, format, file);
      log.#pending.push(...format.header(opts.wallTime).map((p) => format.frame(p)));
      await log.flush();
      return log;
    }
    const path = join(dir, existing);
    await trim(path, format, opts.keep ?? (() => true));
    return new RecordLog(path, format, await Deno.open(path, { append: true }));
  }

  /** Buffers one scalar; written by the next {@linkcode flush}. */
  add(tag: string, step: number, value: number, wallTime: number): void {
    this.#pending.push(this.#format.frame(this.#format.scalar(tag, step, value, wallTime)));
  }

  /** Writes the buffered records in one write. */
  async flush(): Promise<void> {
    if (this.#file === null) throw new Error(`${this.path}: written to after close`);
    if (this.#pending.length === 0) return;
    const bytes = new Uint8Array(this.#pending.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of this.#pending) {
      bytes.set(p, at);
      at += p.length;
    }
    this.#pending = [];
    let done = 0;
    while (done < bytes.length) done += await this.#file.write(bytes.subarray(done));
  }

  /** Writes the buffered records and forces the file to disk. */
  async sync(): Promise<void> {
    await this.flush();
    await this.#file!.syncData();
  }

  /** Closes the file; records still buffered are lost, so call {@linkcode sync} first. */
  close(): void {
    this.#file?.close();
    this.#file = null;
  }
}

/** Rewrites `path` atomically without rejected scalars and a torn tail, when there are any. */
async function trim(
  path: string,
  format: RecordFormat,
  keep: (tag: string, step: number) => boolean,
): Promise<void> {
  const bytes = await Deno.readFile(path);
  const { payloads, complete } = format.unframe(bytes, path);
  const kept = payloads.filter((p) => {
    const s = format.scalarOf(p, path);
    return s === null || keep(s.tag, s.step);
  });
  if (kept.length === payloads.length && complete === bytes.length) return;
  await atomicWriteFile(path, kept.map((p) => format.frame(p)));
}
