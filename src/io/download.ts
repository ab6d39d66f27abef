/**
 * Resumable, MD5-checked downloads into a cache folder, with a progress bar on stderr: what the
 * CIFAR-10 archive and the pretrained weights are fetched with. A transfer goes to `<target>.part`;
 * a later call resumes it with an HTTP range request (restarting when the server does not allow
 * one), and only a file whose MD5 matches is renamed to `<target>`.
 *
 * @example
 * ```ts ignore
 * import { downloadFile } from "./download.ts";
 * await downloadFile({
 *   url: "https://example.org/weights.pdparams",
 *   target: "cache/weights.pdparams",
 *   md5: "0123456789abcdef0123456789abcdef",
 * });
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { FormatError } from "./errors.ts";

/**
 * MD5 of a file as lowercase hex, streamed so large files need little memory.
 *
 * @example
 * ```ts
 * import { md5File } from "./download.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "abc");
 * console.log(await md5File(path)); // "900150983cd24fb0d6963f7d28e17f72"
 * ```
 */
export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * The trainer's cache folder for one kind of file: `$DENO_TRAINER_CACHE/<kind>` if set, else
 * `$XDG_CACHE_HOME/deno-trainer/<kind>`, else `~/.cache/deno-trainer/<kind>`.
 *
 * @example
 * ```ts
 * import { defaultCacheDir } from "./download.ts";
 * console.log(defaultCacheDir("pretrained")); // e.g. /home/me/.cache/deno-trainer/pretrained
 * ```
 */
export function defaultCacheDir(kind: string): string {
  const own = Deno.env.get("DENO_TRAINER_CACHE");
  if (own) return joinPath(own, kind);
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  const root = xdg ?? (home ? joinPath(home, ".cache") : ".cache");
  return joinPath(joinPath(root, "deno-trainer"), kind);
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : `${dir}/${name}`;
}

/** Options of {@link downloadFile}. */
export interface DownloadFileOptions {
  /** Where to download from. */
  url: string;
  /** The verified file's path; the transfer goes to `<target>.part` next to it. */
  target: string;
  /** Expected MD5, hex (either case). */
  md5: string;
  /** Draw a progress bar on stderr (default true). */
  progress?: boolean;
  /** Name shown on the progress bar (default the target's file name). */
  label?: string;
}

function formatMB(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** Draws the download progress on stderr: a bar on a terminal, a line per 10% otherwise. */
function progressReporter(name: string, enabled: boolean) {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const started = performance.now();
  let lastDraw = 0;
  let lastDecile = -1;
  return (received: number, total: number | null, resumedFrom: number, done = false) => {
    if (!enabled) return;
    const now = performance.now();
    const rate = (received - resumedFrom) / Math.max(1e-3, (now - started) / 1000);
    const frac = total ? received / total : 0;
    let line: string;
    if (total) {
      const width = 30;
      const filled = Math.round(frac * width);
      line = `${name} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ` +
        `${(frac * 100).toFixed(0).padStart(3)}% ${formatMB(received)}/${formatMB(total)} MB ` +
        `${formatMB(rate)} MB/s`;
    } else {
      line = `${name} ${formatMB(received)} MB ${formatMB(rate)} MB/s`;
    }
    if (tty) {
      if (!done && now - lastDraw < 200) return;
      lastDraw = now;
      Deno.stderr.writeSync(encoder.encode(`\r${line}\x1b[K${done ? "\n" : ""}`));
    } else {
      const decile = Math.floor(frac * 10);
      if (!done && decile === lastDecile) return;
      lastDecile = decile;
      Deno.stderr.writeSync(encoder.encode(`${line}\n`));
    }
  };
}

async function sizeOrZero(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
}

/**
 * Downloads `url` to `target`, resuming a partial `<target>.part` with an HTTP range request
 * when the server allows it (restarting otherwise), then checks the MD5 and only then renames it
 * into place. A download with the wrong MD5 is deleted and reported as a {@link FormatError}; a
 * transfer that stops part-way keeps its `.part` and says to run again.
 *
 * @returns `target`.
 *
 * @example
 * ```ts ignore
 * import { downloadFile } from "./download.ts";
 * const path = await downloadFile({ url, target: "cache/file.bin", md5, progress: false });
 * ```
 */
export async function downloadFile(opts: DownloadFileOptions): Promise<string> {
  const { url, target } = opts;
  const md5 = opts.md5.toLowerCase();
  const part = `${target}.part`;
  await Deno.mkdir(dirname(target), { recursive: true });
  const have = await sizeOrZero(part);
  const response = await fetch(url, have > 0 ? { headers: { Range: `bytes=${have}-` } } : {});
  let start: number;
  let total: number | null;
  if (response.status === 206) {
    const range = response.headers.get("content-range") ?? "";
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(range);
    if (!m || Number(m[1]) !== have) {
      await response.body?.cancel();
      throw new Error(`${url}: server answered the resume request with Content-Range "${range}"`);
    }
    start = have;
    total = m[2] === "*" ? null : Number(m[2]);
  } else if (response.status === 416 && have > 0) {
    // The .part already holds the whole file; the MD5 check below decides whether it is good.
    await response.body?.cancel();
    start = have;
    total = have;
  } else if (response.ok) {
    start = 0;
    const length = response.headers.get("content-length");
    total = length ? Number(length) : null;
  } else {
    await response.body?.cancel();
    throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  }
  const label = opts.label ?? target.slice(target.lastIndexOf("/") + 1);
  const report = progressReporter(label, opts.progress ?? true);
  if (response.body && response.status !== 416) {
    const file = await Deno.open(part, {
      write: true,
      create: true,
      append: start > 0,
      truncate: start === 0,
    });
    let received = start;
    try {
      for await (const chunk of response.body) {
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        received += chunk.length;
        report(received, total, start);
      }
    } catch (e) {
      throw new Error(
        `download of ${url} stopped at ${received} bytes (${(e as Error).message}); ` +
          `run again to resume from ${part}`,
      );
    } finally {
      file.close();
    }
    report(received, total, start, true);
    if (total !== null && received < total) {
      throw new Error(
        `download of ${url} stopped at ${received} of ${total} bytes; ` +
          `run again to resume from ${part}`,
      );
    }
  }
  const actual = await md5File(part);
  if (actual !== md5) {
    await Deno.remove(part);
    throw new FormatError(
      part,
      `downloaded file has MD5 ${actual}, expected ${md5}; it was deleted, run again to retry`,
    );
  }
  await Deno.rename(part, target);
  return target;
}
