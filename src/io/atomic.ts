/**
 * Crash-safe file writes: write a temporary sibling, fsync it, rename it over the target, fsync
 * the folder. A reader sees the old file or the new one, never a torn mix.
 *
 * @example
 * ```ts
 * import { atomicWriteFile } from "./atomic.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await atomicWriteFile(`${dir}/hello.txt`, [new TextEncoder().encode("hi")]);
 * ```
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** A short random hex tag that keeps temporary names of concurrent writers apart. */
export function randomTag(): string {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The hidden temporary sibling name used while writing `name`: `.<name>.tmp-<pid>-<rand>`. */
export function tempSiblingName(name: string): string {
  return `.${name}.tmp-${Deno.pid}-${randomTag()}`;
}

/** Flushes a folder's entry table to disk, so a rename inside it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const f = await Deno.open(dir, { read: true });
  try {
    await f.sync();
  } finally {
    f.close();
  }
}

/** `chunks` joined into one array, in order. */
export function joinChunks(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Creates (or truncates) `path`, writes `chunks` in order, and fsyncs the file. */
export async function writeFileSynced(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.length) done += await f.write(chunk.subarray(done));
    }
    await f.sync();
  } finally {
    f.close();
  }
}

/**
 * Writes `chunks` to `path` atomically: a hidden temporary file in the same folder is written and
 * fsynced, then renamed over `path`, then the folder is fsynced. On failure the temporary file is
 * removed and the error rethrown; `path` is untouched.
 */
export async function atomicWriteFile(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, tempSiblingName(basename(path)));
  try {
    await writeFileSynced(tmp, chunks);
    await Deno.rename(tmp, path);
  } catch (err) {
    // Best-effort cleanup: the write error is the one worth reporting.
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dir);
}
