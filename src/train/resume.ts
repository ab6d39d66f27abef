/**
 * Finding where to resume: the newest intact checkpoint of a save folder, and the damaged ones
 * passed over on the way, so that `--resume latest` can say what it skipped.
 *
 * @example
 * ```ts ignore
 * import { findResumePoint } from "./resume.ts";
 * const { dir, skipped } = await findResumePoint("output/ResNet50-FCN");
 * for (const s of skipped) console.error(`skipping damaged ${s.dir}: ${s.problem}`);
 * ```
 *
 * @module
 */
import { listCheckpoints, readCheckpoint } from "../io/checkpoint.ts";

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
 * The newest intact checkpoint under `saveDir` (by global step, then creation time; every file
 * verified against its SHA-256), with the newer damaged ones it passed over.
 *
 * @example
 * ```ts
 * import { findResumePoint } from "./resume.ts";
 * const { dir, skipped } = await findResumePoint(await Deno.makeTempDir());
 * console.log(dir, skipped); // null []
 * ```
 */
export async function findResumePoint(saveDir: string): Promise<ResumePoint> {
  const newestFirst = (await listCheckpoints(saveDir, { verify: false })).reverse();
  const skipped: SkippedCheckpoint[] = [];
  for (const c of newestFirst) {
    if (!c.intact) {
      skipped.push({ dir: c.dir, problem: c.problem ?? "damaged" });
      continue;
    }
    try {
      await readCheckpoint(c.dir);
      return { dir: c.dir, skipped };
    } catch (err) {
      skipped.push({ dir: c.dir, problem: (err as Error).message });
    }
  }
  return { dir: null, skipped };
}
