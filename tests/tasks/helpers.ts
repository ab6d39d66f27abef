/**
 * Test helpers: run the trainer's entry module (`tasks/main.ts`) as a subprocess, from any
 * folder, and read what it wrote.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Absolute path of the entry module. */
export const MAIN = fileURLToPath(new URL("../../tasks/main.ts", import.meta.url));
/** Absolute path of the repository root. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** What a CLI run gave back. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Runs `trainer <args>` with `deno run -A tasks/main.ts` in `cwd`, `env` added to ours. */
export async function runCli(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Describes a run for assertion messages. */
export function show(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${
    r.stderr.slice(-3000)
  }`;
}

/** Every file and folder under `dir`, as sorted relative paths. */
export function listTree(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const rel = prefix + e.name;
    out.push(rel);
    if (e.isDirectory) out.push(...listTree(`${dir}/${e.name}`, `${rel}/`));
  }
  return out.sort();
}

/** One line of the scalar log. */
export interface ScalarLine {
  /** Tag, e.g. `train/loss`. */
  tag: string;
  /** Step (global step for train, epoch for eval). */
  step: number;
  /** Value. */
  value: number;
  /** Seconds since the Unix epoch. */
  wall_time: number;
}

/** Parses a JSONL scalar log. */
export function readScalarLog(path: string): ScalarLine[] {
  return Deno.readTextFileSync(path).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}
