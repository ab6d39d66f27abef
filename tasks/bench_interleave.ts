/**
 * Turns for `bench --compare`: each backend runs in its own process, warms up, then waits; the
 * parent lets them train in turn, a round of steps each, until every one has run its timed
 * steps. A slow spell of a shared machine (seconds long here, and a third of the speed) then
 * falls on every backend alike, instead of on whichever ran during it, so the ratio holds in
 * one run.
 *
 * The protocol is one JSON object per line. A child prints `{"ready":true}` after its warm-up,
 * then reads commands from stdin: `{"train":k}` (run k steps, answer `{"seconds":s}`, their wall
 * time) or `{"finish":true}` (do the rest of the measurement and print the result line).
 * Lines that are not JSON objects are ignored.
 *
 * @example
 * ```ts
 * import { roundSizes } from "./bench_interleave.ts";
 * roundSizes(25, 10); // [10, 10, 5]
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Callback } from "../src/train/callback.ts";

/** Lines of a byte stream. */
class Lines {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** The next line, or null at the end of the stream. */
  async next(): Promise<string | null> {
    for (;;) {
      const i = this.#buffer.indexOf("\n");
      if (i >= 0) {
        const line = this.#buffer.slice(0, i);
        this.#buffer = this.#buffer.slice(i + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) {
        const rest = this.#buffer;
        this.#buffer = "";
        return rest === "" ? null : rest;
      }
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /** The next line that is a JSON object, or null at the end of the stream. */
  async nextObject(): Promise<Record<string, unknown> | null> {
    for (;;) {
      const line = await this.next();
      if (line === null) return null;
      if (!line.trimStart().startsWith("{")) continue;
      try {
        return JSON.parse(line);
      } catch {
        // not ours
      }
    }
  }
}

/** Round sizes that add up to `steps`, none above `round`. */
export function roundSizes(steps: number, round: number): number[] {
  const out: number[] = [];
  for (let left = steps; left > 0; left -= round) out.push(Math.min(round, left));
  return out;
}

/** The child's side: tells the parent it is ready, takes its commands. */
export class TurnTaker {
  readonly #stdin = new Lines(Deno.stdin.readable);
  readonly #out = new TextEncoder();
  /** Whether `{"finish":true}` has come. */
  finished = false;

  /** Prints one protocol line. */
  send(message: Record<string, unknown>): void {
    Deno.stdout.writeSync(this.#out.encode(JSON.stringify(message) + "\n"));
  }

  /** The steps of the next round, or 0 once the parent says finish (or goes away). */
  async nextRound(): Promise<number> {
    const command = await this.#stdin.nextObject();
    if (command === null || command.finish === true) {
      this.finished = true;
      return 0;
    }
    const k = Number(command.train);
    if (!Number.isInteger(k) || k < 1) {
      throw new Error(`bench: bad command from the parent: ${JSON.stringify(command)}`);
    }
    return k;
  }
}

/**
 * A callback that makes `Model.fit` take turns: after the warm-up batches it reports ready and
 * waits, then runs the rounds it is given, timing each from the command to its last batch's end.
 */
export class TurnCallback extends Callback {
  /** Seconds spent in timed rounds. */
  seconds = 0;
  readonly #warmup: number;
  readonly #turns: TurnTaker;
  #left = 0;
  #start = 0;

  constructor(warmup: number, turns: TurnTaker) {
    super();
    this.#warmup = warmup;
    this.#turns = turns;
  }

  override async onTrainBatchEnd(batch: number): Promise<void> {
    if (batch + 1 < this.#warmup) return;
    if (batch + 1 === this.#warmup) {
      await drainDevice();
      this.#turns.send({ ready: true });
    } else {
      if (--this.#left > 0) return;
      await drainDevice();
      const seconds = (performance.now() - this.#start) / 1000;
      this.seconds += seconds;
      this.#turns.send({ seconds });
    }
    this.#left = await this.#turns.nextRound();
    this.#start = performance.now();
  }
}

/**
 * How long the parent waits before each turn. OpenMP's idle threads spin a few milliseconds
 * after a process's last primitive (libgomp's default); a pause lets the previous process's
 * threads go to sleep before the next one starts, so neither's spin eats into the other's turn.
 */
const SETTLE_MS = 50;

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

/** The parts of TensorFlow.js's WebGPU backend that say when its queued work is done. */
interface QueuedDevice {
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  device: { queue: { onSubmittedWorkDone(): Promise<void> } };
}

/**
 * Waits until the active backend has no work in flight. On `webgpu`, `Model.fit` queues the next
 * step before a batch's callbacks run; waiting keeps that work (on llvmpipe, CPU threads) out of
 * the next process's turn, and counts it in this one's. Other backends compute synchronously.
 */
async function drainDevice(): Promise<void> {
  const backend = tf.backend() as unknown as Partial<QueuedDevice>;
  if (typeof backend.submitQueue !== "function" || !backend.device) return;
  // As the backend's own reads flush: close the open pass, submit what was encoded.
  backend.ensureCommandEncoderReady!();
  backend.endComputePassEncoder!();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

/** A process taking turns, seen from the parent. */
export interface TurnChild {
  /** Label in errors. */
  name: string;
  /** Program and arguments (the child's own `--serve` flag included). */
  command: string;
  args: string[];
}

/** What a child ended with: its result line, or why it has none. */
export type TurnOutcome = { result: Record<string, unknown> } | { error: string };

interface Running {
  child: TurnChild;
  process: Deno.ChildProcess;
  stdout: Lines;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  stderr: Promise<string>;
  outcome?: TurnOutcome;
}

/**
 * Starts every child (one at a time, each to its ready line), runs `rounds` in turn on each,
 * then has each finish alone. A child that fails is dropped with its last stderr line; the
 * others go on.
 */
export async function takeTurns(
  children: readonly TurnChild[],
  rounds: readonly number[],
  onProgress: (message: string) => void = () => {},
): Promise<TurnOutcome[]> {
  const encoder = new TextEncoder();
  const running: Running[] = [];
  const fail = async (r: Running, what: string) => {
    try {
      r.process.kill();
    } catch {
      // already gone
    }
    const last = (await r.stderr).trim().split("\n").at(-1)?.replace(/^error: /, "");
    r.outcome = { error: last || what };
  };
  const ask = async (r: Running, message: Record<string, unknown>) => {
    try {
      await r.stdin.write(encoder.encode(JSON.stringify(message) + "\n"));
      return await r.stdout.nextObject();
    } catch {
      return null; // the child is gone; its stderr says why
    }
  };
  for (const child of children) {
    onProgress(`starting ${child.name} …`);
    const process = new Deno.Command(child.command, {
      args: child.args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const r: Running = {
      child,
      process,
      stdout: new Lines(process.stdout),
      stdin: process.stdin.getWriter(),
      stderr: new Response(process.stderr).text(),
    };
    running.push(r);
    const ready = await r.stdout.nextObject();
    if (ready?.ready !== true) await fail(r, "exited before its warm-up ended");
  }
  for (const [i, k] of rounds.entries()) {
    onProgress(`round ${i + 1} of ${rounds.length} (${k} steps each)`);
    for (const r of running) {
      if (r.outcome) continue;
      await settle();
      const answer = await ask(r, { train: k });
      if (typeof answer?.seconds !== "number") await fail(r, "stopped during a round");
    }
  }
  for (const r of running) {
    if (r.outcome) continue;
    onProgress(`finishing ${r.child.name} …`);
    const result = await ask(r, { finish: true });
    await r.stdin.close().catch(() => {});
    const status = await r.process.status;
    if (result === null || !status.success) await fail(r, `exit ${status.code}`);
    else {
      await r.stderr;
      r.outcome = { result };
    }
  }
  return running.map((r) => r.outcome!);
}
