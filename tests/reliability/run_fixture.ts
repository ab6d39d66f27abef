/**
 * Runs `train_fixture.ts` as a subprocess: wait for its `PAUSED` marker, signal or kill it,
 * collect its exit code and output; and read back what it left (log, checkpoints).
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { listCheckpoints, readCheckpoint } from "../../src/io/checkpoint.ts";
import type { ScalarRecord } from "../../plugins/scalar_log.ts";

const FIXTURE = fileURLToPath(new URL("./train_fixture.ts", import.meta.url));

/** How a fixture run ended. */
export interface FixtureResult {
  /** Exit code (128 + signal when killed by one). */
  code: number;
  /** The signal that killed it, if any. */
  signal: Deno.Signal | null;
  stdout: string;
  /** Standard error without tfjs's start-up banner. */
  stderr: string;
}

/** A running fixture. */
export class Fixture {
  readonly #child: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  readonly #pumps: Promise<void>[];

  /**
   * @param args Fixture flags.
   * @param env Extra environment, e.g. `{ FIXTURE_PAUSE: "step:8" }`.
   */
  constructor(args: string[], env: Record<string, string> = {}) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", FIXTURE, ...args],
      env: { ...env, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumps = [
      pump(this.#child.stdout, (t) => this.#stdout += t),
      pump(this.#child.stderr, (t) => this.#stderr += t),
    ];
  }

  /** Resolves once standard output (or error) contains `text`; fails after `timeoutMs`. */
  async waitFor(text: string, timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.#stdout.includes(text) && !this.#stderr.includes(text)) {
      if (Date.now() > until) {
        throw new Error(
          `fixture never printed "${text}"; stdout:\n${this.#stdout}\n${this.#stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sends a signal to the fixture process. */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Waits for the exit. */
  async result(): Promise<FixtureResult> {
    const status = await this.#child.status;
    await Promise.all(this.#pumps);
    return {
      code: status.code,
      signal: status.signal,
      stdout: this.#stdout,
      stderr: this.#stderr.split("\n").filter((l) => !/^=+$|^Hi, looks like/.test(l)).join("\n"),
    };
  }
}

async function pump(stream: ReadableStream<Uint8Array>, sink: (t: string) => void) {
  for await (const text of stream.pipeThrough(new TextDecoderStream())) sink(text);
}

/** Runs the fixture to its end. */
export function runFixture(
  args: string[],
  env: Record<string, string> = {},
): Promise<FixtureResult> {
  return new Fixture(args, env).result();
}

/** Runs the fixture until it prints `PAUSED <pause>`, then sends `signal`; resolves to the end. */
export async function runUntil(
  args: string[],
  pause: string,
  signal: Deno.Signal = "SIGKILL",
): Promise<FixtureResult> {
  const f = new Fixture(args, { FIXTURE_PAUSE: pause });
  await f.waitFor(`PAUSED ${pause.replace(":", " ")}`);
  f.kill(signal);
  return await f.result();
}

/** The scalar log's records, in file order. */
export async function readLog(path: string): Promise<ScalarRecord[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

/** `step → value` of one tag, asserting no step appears twice. */
export function series(records: ScalarRecord[], tag: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of records.filter((x) => x.tag === tag)) {
    assert.ok(!out.has(r.step), `${tag} step ${r.step} is logged twice`);
    out.set(r.step, r.value);
  }
  return out;
}

/** Asserts every checkpoint under `saveDir` is intact; resolves to their names, sorted. */
export async function intactCheckpoints(saveDir: string): Promise<string[]> {
  const all = await listCheckpoints(saveDir);
  for (const c of all) {
    assert.ok(c.intact, `checkpoint ${c.dir} is damaged: ${c.problem}`);
    await readCheckpoint(c.dir);
  }
  return all.map((c) => c.name).sort();
}

/** Entries of `saveDir` whose names start with a dot (temporary or aside folders). */
export async function hiddenEntries(saveDir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(saveDir)) if (e.name.startsWith(".")) out.push(e.name);
  return out;
}

/** A checkpoint's weights and momentum files, for exact comparison. */
export async function checkpointBytes(dir: string): Promise<Record<string, Uint8Array>> {
  const { files } = await readCheckpoint(dir);
  return { model: files["model.safetensors"], optimizer: files["optimizer.safetensors"] };
}

/** The last non-empty line of a text. */
export function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1) ?? "";
}
