/**
 * Crash-safe checkpoint folders. A checkpoint is `<saveDir>/<name>/` holding its files plus a
 * `manifest.json` `{ format: 1, created, meta, files: { name: { bytes, sha256 } } }`.
 *
 * Writing goes to a hidden sibling `.<name>.tmp-<pid>-<rand>/`: every file is written and
 * fsynced, the manifest last, then the folder is renamed into place. An existing checkpoint of
 * that name is first renamed aside to `.<name>.old-<pid>-<rand>/` and removed once the new one
 * is in place. A crash at any moment therefore leaves the old complete checkpoint or the new
 * complete one: leftovers are hidden folders, which listing ignores (an aside folder whose
 * checkpoint is gone is listed in its place) and which the next write to that `saveDir` cleans
 * up (restoring such an aside folder). One process writes to a given `saveDir` at a time.
 *
 * @example
 * ```ts
 * import { latestCheckpoint, readCheckpoint, writeCheckpoint } from "./checkpoint.ts";
 *
 * const saveDir = await Deno.makeTempDir();
 * await writeCheckpoint(`${saveDir}/0`, { "model.safetensors": new Uint8Array([1, 2]) }, {
 *   epoch: 0,
 *   globalStep: 100,
 * });
 * const dir = await latestCheckpoint(saveDir);
 * const { files, meta } = await readCheckpoint(dir!);
 * console.log(meta.globalStep, files["model.safetensors"]); // 100 Uint8Array [1, 2]
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { randomTag, syncDir, tempSiblingName, writeFileSynced } from "./atomic.ts";

/** A checkpoint folder is missing, incomplete, damaged, or cannot be written. */
export class CheckpointError extends Error {
  /** The checkpoint (or save) folder concerned. */
  readonly dir: string;
  /** The file inside it that is at fault, when there is one. */
  readonly file?: string;

  /**
   * Creates the error for checkpoint folder `dir`, optionally naming the damaged file.
   *
   * @param dir The folder concerned.
   * @param problem What is wrong (the message is `checkpoint <dir>: <problem>`).
   * @param file The file at fault, if any.
   */
  constructor(dir: string, problem: string, file?: string) {
    super(`checkpoint ${dir}: ${problem}`);
    this.name = "CheckpointError";
    this.dir = dir;
    this.file = file;
  }
}

/** One entry of `manifest.json`'s `files`. */
export interface ManifestFile {
  /** Size in bytes. */
  bytes: number;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
}

/** The content of `manifest.json`. */
export interface Manifest {
  /** Layout version, always 1. */
  format: 1;
  /** When the checkpoint was written, in ms since the Unix epoch. */
  created: number;
  /** Caller data, e.g. `{ epoch, globalStep, scheduler }`. */
  meta: Record<string, unknown>;
  /** Every file of the checkpoint (the manifest excluded). */
  files: Record<string, ManifestFile>;
}

/** One checkpoint found by {@link listCheckpoints}. */
export interface CheckpointInfo {
  /** Checkpoint name, e.g. `3` or `final`. */
  name: string;
  /** Folder to pass to {@link readCheckpoint}. */
  dir: string;
  /** The manifest's `meta`, `{}` when the manifest is unreadable. */
  meta: Record<string, unknown>;
  /** The manifest's `created`, 0 when unreadable. */
  created: number;
  /** True when the manifest and every file it lists check out. */
  intact: boolean;
  /** Why it is not intact. */
  problem?: string;
}

/** Options of {@link listCheckpoints}. */
export interface ListOptions {
  /** Hash every file (true) or only compare sizes (false, fast). Default `true`. */
  verify?: boolean;
}

const MANIFEST = "manifest.json";
const LEFTOVER = /^\.(.+)\.(tmp|old)-\d+-[0-9a-f]+$/;

/** Writes to one save folder are serialised, so cleanup never meets this process's own work. */
const locks = new Map<string, Promise<unknown>>();

async function withLock<T>(key: string, job: () => Promise<T>): Promise<T> {
  const before = locks.get(key) ?? Promise.resolve();
  const run = before.catch(() => {}).then(job);
  locks.set(key, run);
  try {
    return await run;
  } finally {
    if (locks.get(key) === run) locks.delete(key);
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A plain file name: no separators, not hidden, not the manifest. */
function isPlainFileName(name: string): boolean {
  return name.length > 0 && !/[/\\\0]/.test(name) && !name.startsWith(".") && name !== MANIFEST;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Creates `dir` (and its parents) if needed and proves it writable by creating and removing a
 * probe file. Throws {@link CheckpointError} saying which folder and why otherwise.
 *
 * @example
 * ```ts
 * import { ensureWritableDir } from "./checkpoint.ts";
 * await ensureWritableDir(await Deno.makeTempDir() + "/output/ResNet50-FCN");
 * ```
 */
export async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (err) {
    throw new CheckpointError(dir, `cannot create folder: ${(err as Error).message}`);
  }
  const probe = join(dir, `.write-probe-${Deno.pid}-${randomTag()}`);
  try {
    await Deno.writeFile(probe, new Uint8Array([1]));
    await Deno.remove(probe);
  } catch (err) {
    // A full disk fails the write after creating the file: leave nothing behind.
    await Deno.remove(probe).catch(() => {});
    throw new CheckpointError(dir, `folder is not writable: ${(err as Error).message}`);
  }
}

/** Removes temporary folders of interrupted writes and restores interrupted replacements. */
async function cleanLeftovers(saveDir: string): Promise<void> {
  for await (const entry of Deno.readDir(saveDir)) {
    const m = LEFTOVER.exec(entry.name);
    if (!m) continue;
    const path = join(saveDir, entry.name);
    const target = join(saveDir, m[1]);
    if (m[2] === "old" && !(await exists(target))) await Deno.rename(path, target);
    else await Deno.remove(path, { recursive: true });
  }
}

/**
 * Writes a checkpoint folder `dir` holding `files` and a manifest with `meta`, atomically
 * (see the module doc), replacing an existing checkpoint of that name. `meta` must be
 * JSON-serialisable; file names must be plain (no `/`, not hidden, not `manifest.json`).
 *
 * @example
 * ```ts
 * import { writeCheckpoint } from "./checkpoint.ts";
 * const saveDir = await Deno.makeTempDir();
 * await writeCheckpoint(`${saveDir}/final`, { "a.bin": new Uint8Array(4) }, { epoch: 9 });
 * ```
 */
export async function writeCheckpoint(
  dir: string,
  files: Record<string, Uint8Array>,
  meta: Record<string, unknown>,
): Promise<void> {
  const saveDir = dirname(dir);
  const name = basename(dir);
  if (!name || name.startsWith(".")) {
    throw new CheckpointError(dir, "checkpoint names must not be empty or start with '.'");
  }
  for (const file of Object.keys(files)) {
    if (!isPlainFileName(file)) {
      throw new CheckpointError(dir, `invalid file name '${file}'`, file);
    }
  }
  const manifest: Manifest = { format: 1, created: Date.now(), meta, files: {} };
  for (const [file, bytes] of Object.entries(files)) {
    manifest.files[file] = { bytes: bytes.length, sha256: sha256Hex(bytes) };
  }
  let manifestText: string;
  try {
    manifestText = JSON.stringify(manifest, null, 2);
  } catch (err) {
    throw new CheckpointError(dir, `meta is not JSON-serialisable: ${(err as Error).message}`);
  }

  await ensureWritableDir(saveDir);
  await withLock(resolve(saveDir), async () => {
    await cleanLeftovers(saveDir);
    const tmp = join(saveDir, tempSiblingName(name));
    let aside: string | null = null;
    try {
      await Deno.mkdir(tmp);
      for (const [file, bytes] of Object.entries(files)) {
        await writeFileSynced(join(tmp, file), [bytes]);
      }
      // The manifest goes last: a folder with a manifest has all its files.
      await writeFileSynced(join(tmp, MANIFEST), [new TextEncoder().encode(manifestText + "\n")]);
      await syncDir(tmp);
      if (await exists(dir)) {
        aside = join(saveDir, `.${name}.old-${Deno.pid}-${randomTag()}`);
        await Deno.rename(dir, aside);
      }
      await Deno.rename(tmp, dir);
      await syncDir(saveDir);
    } catch (err) {
      // Best-effort rollback; the original error is the one to report.
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      if (aside !== null && !(await exists(dir))) await Deno.rename(aside, dir).catch(() => {});
      throw new CheckpointError(dir, `write failed: ${(err as Error).message}`);
    }
    if (aside !== null) await Deno.remove(aside, { recursive: true });
  });
}

/** Reads and validates `manifest.json`; throws CheckpointError naming the problem. */
async function readManifest(dir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, MANIFEST));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new CheckpointError(dir, `no ${MANIFEST} (incomplete or not a checkpoint)`, MANIFEST);
    }
    throw new CheckpointError(dir, `cannot read ${MANIFEST}: ${(err as Error).message}`, MANIFEST);
  }
  let m: Manifest;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(
      dir,
      `${MANIFEST} is not valid JSON: ${(err as Error).message}`,
      MANIFEST,
    );
  }
  const valid = typeof m === "object" && m !== null && m.format === 1 &&
    typeof m.created === "number" && typeof m.meta === "object" && m.meta !== null &&
    typeof m.files === "object" && m.files !== null &&
    Object.entries(m.files).every(([f, e]) =>
      isPlainFileName(f) && Number.isSafeInteger(e?.bytes) && typeof e?.sha256 === "string"
    );
  if (!valid) throw new CheckpointError(dir, `${MANIFEST} is not a format-1 manifest`, MANIFEST);
  return m;
}

/** Checks one file against its manifest entry; returns its bytes when `hash` is set. */
async function checkFile(
  dir: string,
  file: string,
  entry: ManifestFile,
  hash: boolean,
): Promise<Uint8Array | null> {
  const path = join(dir, file);
  try {
    if (!hash) {
      const { size } = await Deno.stat(path);
      if (size !== entry.bytes) {
        throw new CheckpointError(
          dir,
          `file ${file} is ${size} bytes, manifest says ${entry.bytes}`,
          file,
        );
      }
      return null;
    }
    const bytes = await Deno.readFile(path);
    if (bytes.length !== entry.bytes) {
      throw new CheckpointError(
        dir,
        `file ${file} is ${bytes.length} bytes, manifest says ${entry.bytes}`,
        file,
      );
    }
    if (sha256Hex(bytes) !== entry.sha256) {
      throw new CheckpointError(
        dir,
        `file ${file} is damaged (SHA-256 differs from the manifest)`,
        file,
      );
    }
    return bytes;
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    if (err instanceof Deno.errors.NotFound) {
      throw new CheckpointError(dir, `file ${file} listed in the manifest is missing`, file);
    }
    throw new CheckpointError(dir, `cannot read file ${file}: ${(err as Error).message}`, file);
  }
}

/**
 * Reads a checkpoint folder, verifying every file's size and SHA-256 against the manifest.
 * Throws {@link CheckpointError} naming the folder and the missing or damaged file.
 *
 * @example
 * ```ts
 * import { readCheckpoint, writeCheckpoint } from "./checkpoint.ts";
 * const dir = `${await Deno.makeTempDir()}/3`;
 * await writeCheckpoint(dir, { "a.bin": new Uint8Array(4) }, { globalStep: 40 });
 * const { files, meta } = await readCheckpoint(dir);
 * console.log(files["a.bin"].length, meta.globalStep); // 4 40
 * ```
 */
export async function readCheckpoint(
  dir: string,
): Promise<{ files: Record<string, Uint8Array>; meta: Record<string, unknown> }> {
  const manifest = await readManifest(dir);
  const files: Record<string, Uint8Array> = {};
  for (const [file, entry] of Object.entries(manifest.files)) {
    files[file] = (await checkFile(dir, file, entry, true))!;
  }
  return { files, meta: manifest.meta };
}

async function inspect(name: string, dir: string, verify: boolean): Promise<CheckpointInfo> {
  let manifest: Manifest;
  try {
    manifest = await readManifest(dir);
  } catch (err) {
    return { name, dir, meta: {}, created: 0, intact: false, problem: (err as Error).message };
  }
  const info: CheckpointInfo = {
    name,
    dir,
    meta: manifest.meta,
    created: manifest.created,
    intact: true,
  };
  try {
    for (const [file, entry] of Object.entries(manifest.files)) {
      await checkFile(dir, file, entry, verify);
    }
  } catch (err) {
    info.intact = false;
    info.problem = (err as Error).message;
  }
  return info;
}

function globalStep(info: CheckpointInfo): number {
  const s = info.meta.globalStep;
  return typeof s === "number" && Number.isFinite(s) ? s : -Infinity;
}

/** Oldest first: by `meta.globalStep` (absent counts as lowest), then `created`, then name. */
function byProgress(a: CheckpointInfo, b: CheckpointInfo): number {
  return globalStep(a) - globalStep(b) || a.created - b.created || (a.name < b.name ? -1 : 1);
}

/**
 * Every checkpoint folder under `saveDir` (none when it does not exist), oldest first (by
 * `meta.globalStep`, then `created`), with whether it is intact. Hidden folders (writes in
 * progress or interrupted) are skipped, except an interrupted replacement's old checkpoint whose
 * name has no folder, which is listed under that name.
 *
 * @example
 * ```ts
 * import { listCheckpoints, writeCheckpoint } from "./checkpoint.ts";
 * const saveDir = await Deno.makeTempDir();
 * await writeCheckpoint(`${saveDir}/0`, { "a.bin": new Uint8Array(4) }, { globalStep: 10 });
 * for (const c of await listCheckpoints(saveDir)) console.log(c.name, c.intact); // 0 true
 * ```
 */
export async function listCheckpoints(
  saveDir: string,
  opts: ListOptions = {},
): Promise<CheckpointInfo[]> {
  const { verify = true } = opts;
  const visible = new Map<string, string>();
  const asides = new Map<string, string>();
  try {
    for await (const entry of Deno.readDir(saveDir)) {
      if (!entry.isDirectory) continue;
      const m = LEFTOVER.exec(entry.name);
      if (!entry.name.startsWith(".")) visible.set(entry.name, join(saveDir, entry.name));
      else if (m && m[2] === "old") asides.set(m[1], join(saveDir, entry.name));
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  for (const [name, dir] of asides) if (!visible.has(name)) visible.set(name, dir);
  const out: CheckpointInfo[] = [];
  for (const [name, dir] of visible) out.push(await inspect(name, dir, verify));
  return out.sort(byProgress);
}

/** A checkpoint passed over because it is incomplete or damaged. */
export interface SkippedCheckpoint {
  /** Its folder. */
  dir: string;
  /** What is wrong with it (the `CheckpointError` message). */
  problem: string;
}

/** What {@linkcode findResumePoint} found. */
export interface ResumePoint {
  /** The newest intact checkpoint, null when there is none. */
  dir: string | null;
  /** Newer checkpoints that were damaged, newest first. */
  skipped: SkippedCheckpoint[];
}

/**
 * The newest intact checkpoint under `saveDir` (highest `meta.globalStep`, then latest
 * `created`), with the newer damaged ones it passed over, so that `--resume latest` can say what
 * it skipped. Candidates are fully verified (SHA-256), newest first.
 *
 * @example
 * ```ts
 * import { findResumePoint, writeCheckpoint } from "./checkpoint.ts";
 * const saveDir = await Deno.makeTempDir();
 * await writeCheckpoint(`${saveDir}/0`, { "a.bin": new Uint8Array(4) }, { globalStep: 10 });
 * await writeCheckpoint(`${saveDir}/1`, { "a.bin": new Uint8Array(4) }, { globalStep: 20 });
 * await Deno.writeFile(`${saveDir}/1/a.bin`, new Uint8Array([1, 2, 3, 4])); // damaged
 * const { dir, skipped } = await findResumePoint(saveDir);
 * for (const s of skipped) console.error(`skipping damaged ${s.dir}: ${s.problem}`);
 * console.log(dir?.endsWith("/0")); // true
 * ```
 */
export async function findResumePoint(saveDir: string): Promise<ResumePoint> {
  const newestFirst = (await listCheckpoints(saveDir, { verify: false })).reverse();
  const skipped: SkippedCheckpoint[] = [];
  for (const c of newestFirst) {
    const checked = c.intact ? await inspect(c.name, c.dir, true) : c;
    if (checked.intact) return { dir: c.dir, skipped };
    skipped.push({ dir: c.dir, problem: checked.problem ?? "damaged" });
  }
  return { dir: null, skipped };
}

/**
 * The folder of the newest intact checkpoint under `saveDir`, or `null` when there is none; see
 * {@linkcode findResumePoint}.
 *
 * @example
 * ```ts
 * import { latestCheckpoint, readCheckpoint } from "./checkpoint.ts";
 * const dir = await latestCheckpoint(await Deno.makeTempDir());
 * if (dir) console.log("resuming from", dir, (await readCheckpoint(dir)).meta);
 * else console.log("no checkpoint yet: starting fresh");
 * ```
 */
export async function latestCheckpoint(saveDir: string): Promise<string | null> {
  return (await findResumePoint(saveDir)).dir;
}
