/**
 * A free-space check that works wherever files can be written: Deno has no `statfs`, so the
 * check writes (and fsyncs, and removes) a probe file of the size needed. A full disk, a quota or
 * a read-only folder then fails before hours of work, not at the first checkpoint.
 *
 * @example
 * ```ts
 * import { ensureFreeSpace } from "./space.ts";
 * await ensureFreeSpace(await Deno.makeTempDir(), 1 << 20); // room for 1 MiB
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { randomTag } from "./atomic.ts";
import { CheckpointError } from "./checkpoint.ts";

const CHUNK = 1 << 20;

/**
 * Proves that `bytes` more bytes fit in the existing folder `dir` by writing a hidden probe file
 * of that size, fsyncing it and removing it. Throws {@linkcode CheckpointError} naming the folder,
 * the size and the system's reason otherwise; the probe file is removed in every case.
 */
export async function ensureFreeSpace(dir: string, bytes: number): Promise<void> {
  const probe = join(dir, `.space-probe-${Deno.pid}-${randomTag()}`);
  const zeros = new Uint8Array(Math.min(CHUNK, Math.max(0, bytes)));
  try {
    const f = await Deno.open(probe, { write: true, create: true, truncate: true });
    try {
      let left = bytes;
      while (left > 0) {
        left -= await f.write(zeros.subarray(0, Math.min(left, zeros.length)));
      }
      await f.sync();
    } finally {
      f.close();
    }
  } catch (err) {
    throw new CheckpointError(
      dir,
      `no room for a checkpoint of ${formatBytes(bytes)}: ${(err as Error).message}`,
    );
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}

/** `1.5 MB`-style sizes for messages. */
export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} bytes`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = bytes / 1e3;
  let i = 0;
  while (v >= 1e3 && i < units.length - 1) {
    v /= 1e3;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
