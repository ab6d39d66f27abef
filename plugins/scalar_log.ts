/**
 * The recipe's scalar log (VisualDL style): one JSON object per line,
 * `{"tag": …, "step": …, "value": …, "wall_time": …}` with wall time in fractional seconds since
 * the Unix epoch.
 *
 * - After every training step: `train/loss` (that step's), `train/<metric>` (running over the
 *   epoch), `train/lr` (the rate the step used), at the global step from 1.
 * - After every evaluation in `fit`: `eval/loss`, `eval/<metric>` over the whole set, at the epoch
 *   number from 0.
 *
 * A new run writes `<logDir>/scalars-<ISO time>-<pid>.jsonl`. Pass `file` to append to an existing
 * log when resuming: lines beyond the resumed position (training steps after the checkpoint's
 * global step, evaluations of epochs not yet completed) were written by the crashed run after its
 * last checkpoint and will be written again, so they are removed first (the file is rewritten
 * atomically). The log then holds every step exactly once.
 *
 * @example
 * ```ts ignore
 * import { ScalarLog } from "./scalar_log.ts";
 * await model.fit(train, test, { epochs: 300, callbacks: [new ScalarLog({ logDir: "vis_logs" })] });
 * ```
 *
 * @module
 */
import { dirname } from "node:path";
import { Callback, type Logs } from "../src/train/callback.ts";
import { atomicWriteFile } from "../src/io/atomic.ts";

/** Options of {@linkcode ScalarLog}. */
export interface ScalarLogOptions {
  /** Folder of new log files (default `vis_logs`). */
  logDir?: string;
  /** Append to this file instead of creating a new one (for resumed runs). */
  file?: string;
  /** Wall clock in seconds (default `Date.now() / 1000`); tests pin it. */
  clock?: () => number;
}

/** One line of the log. */
export interface ScalarRecord {
  /** E.g. `train/loss`. */
  tag: string;
  /** Global step for `train/*`, epoch for `eval/*`. */
  step: number;
  /** The value. */
  value: number;
  /** Seconds since the Unix epoch. */
  wall_time: number;
}

const encoder = new TextEncoder();

/** Writes the JSONL scalar log; see the module documentation. */
export class ScalarLog extends Callback {
  /** The file being written; set in `onTrainBegin`. */
  path: string | null = null;
  readonly #logDir: string;
  readonly #file: string | undefined;
  readonly #clock: () => number;
  #out: Deno.FsFile | null = null;

  /**
   * Creates the logger; the file opens when training begins.
   *
   * @param opts See {@linkcode ScalarLogOptions}.
   */
  constructor(opts: ScalarLogOptions = {}) {
    super();
    this.#logDir = opts.logDir ?? "vis_logs";
    this.#file = opts.file;
    this.#clock = opts.clock ?? (() => Date.now() / 1000);
  }

  /** Opens the log (new file, or the given one trimmed to the resumed step). */
  override async onTrainBegin(logs: Logs): Promise<void> {
    const stamp = new Date().toISOString().replaceAll(":", "-");
    const path = this.#file ?? `${this.#logDir}/scalars-${stamp}-${Deno.pid}.jsonl`;
    await Deno.mkdir(dirname(path), { recursive: true });
    if (this.#file !== undefined) await this.#dropBeyond(path, logs.step, this.params.initialEpoch);
    this.#out = await Deno.open(path, { append: true, create: true });
    this.path = path;
  }

  /** Writes the step's loss, running metrics and learning rate. */
  override async onTrainBatchEnd(_batch: number, logs: Logs): Promise<void> {
    const tags = ["loss", ...this.params.metrics, "lr"];
    await this.#write(tags.map((k) => [`train/${k}`, logs.step, logs[k]]));
  }

  /** Writes the evaluation loss and metrics at the epoch number. */
  override async onEvalEnd(logs: Logs): Promise<void> {
    // Outside fit (Model.evaluate alone) there is no epoch to log against.
    if (this.#out === null || logs.epoch === undefined) return;
    const tags = ["loss", ...this.params.metrics];
    await this.#write(tags.map((k) => [`eval/${k}`, logs.epoch, logs[k]]));
  }

  /** Closes the file. */
  override onTrainEnd(): void {
    this.#close();
  }

  /** Closes the file; every line already written stays. */
  override onTrainError(): void {
    this.#close();
  }

  /** Every line was written straight to the file (no buffer), so closing loses nothing. */
  #close(): void {
    this.#out?.close();
    this.#out = null;
  }

  async #write(rows: [string, number, number][]): Promise<void> {
    if (this.#out === null) throw new Error("ScalarLog: written to before onTrainBegin");
    const wall = this.#clock();
    const text = rows.map(([tag, step, value]) =>
      JSON.stringify({ tag, step, value, wall_time: wall }) + "\n"
    ).join("");
    const bytes = encoder.encode(text);
    let done = 0;
    while (done < bytes.length) done += await this.#out.write(bytes.subarray(done));
  }

  /** Removes lines the resumed run will write again; see the module documentation. */
  async #dropBeyond(path: string, step: number, epoch: number): Promise<void> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    const kept = lines.filter((line, i) => {
      let rec: ScalarRecord;
      try {
        rec = JSON.parse(line);
      } catch {
        // A torn last line is what a crash mid-write leaves; anything else is a real problem.
        if (i === lines.length - 1) return false;
        throw new Error(`ScalarLog: ${path} line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
      }
      if (rec.tag.startsWith("train/")) return rec.step <= step;
      if (rec.tag.startsWith("eval/")) return rec.step < epoch;
      return true;
    });
    if (kept.length !== lines.length || !text.endsWith("\n")) {
      await atomicWriteFile(path, [encoder.encode(kept.map((l) => l + "\n").join(""))]);
    }
  }
}
