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
 * A new run writes `<logDir>/scalars-<ISO time>-<pid>.jsonl`. Beside it, in the run's own folder
 * (`.jsonl` replaced by `.logs`, since both viewers take one folder per run), the same tags and
 * steps go to a TensorBoard event file (`events.out.tfevents.<time>.<host>`) and a VisualDL log
 * (`vdlrecords.<time>.log`); `formats` picks which of the three are written. The binary files are
 * written once per step and forced to disk after every epoch and when training ends.
 *
 * Pass `file` to append to an existing log when resuming: lines beyond the resumed position
 * (training steps after the checkpoint's global step, evaluations of epochs not yet completed)
 * were written by the crashed run after its last checkpoint and will be written again, so they
 * are removed first (the file is rewritten atomically); the run folder's event file and VisualDL
 * log are trimmed the same way and continued. Every log then holds every step exactly once.
 *
 * `runFile` (a JSON file describing the run, e.g. the save folder's `run.json`) is copied into the
 * run folder as `run.json`, where `deno task board` shows it.
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
import { RecordLog, runFolderOf } from "../src/io/record_log.ts";
import { TFEVENTS } from "../src/io/tfevents.ts";
import { VDLRECORDS } from "../src/io/vdlrecords.ts";

/** The log formats {@linkcode ScalarLog} writes. */
export const LOG_FORMATS = ["jsonl", "tensorboard", "visualdl"] as const;

/** One of {@linkcode LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Options of {@linkcode ScalarLog}. */
export interface ScalarLogOptions {
  /** Folder of new log files (default `vis_logs`). */
  logDir?: string;
  /** Append to this file instead of creating a new one (for resumed runs). */
  file?: string;
  /** Wall clock in seconds (default `Date.now() / 1000`); tests pin it. */
  clock?: () => number;
  /** Formats to write (default all of {@linkcode LOG_FORMATS}). */
  formats?: readonly LogFormat[];
  /** A JSON file copied into the run folder as `run.json` when training begins. */
  runFile?: string;
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
  /** The JSONL file (written when `jsonl` is among the formats); set in `onTrainBegin`. */
  path: string | null = null;
  /** The run's folder of event file and VisualDL log; set in `onTrainBegin`. */
  runDir: string | null = null;
  readonly #logDir: string;
  readonly #file: string | undefined;
  readonly #clock: () => number;
  readonly #formats: ReadonlySet<LogFormat>;
  readonly #runFile: string | undefined;
  #out: Deno.FsFile | null = null;
  #records: RecordLog[] = [];
  #open = false;

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
    this.#formats = new Set(opts.formats ?? LOG_FORMATS);
    this.#runFile = opts.runFile;
  }

  /** Opens the log (new file, or the given one trimmed to the resumed step). */
  override async onTrainBegin(logs: Logs): Promise<void> {
    const stamp = new Date().toISOString().replaceAll(":", "-");
    const path = this.#file ?? `${this.#logDir}/scalars-${stamp}-${Deno.pid}.jsonl`;
    await Deno.mkdir(dirname(path), { recursive: true });
    const resumed = this.#file !== undefined;
    const [step, epoch] = [logs.step, this.params.initialEpoch];
    if (this.#formats.has("jsonl")) {
      if (resumed) await this.#dropBeyond(path, step, epoch);
      this.#out = await Deno.open(path, { append: true, create: true });
      this.path = path;
    }
    const runDir = runFolderOf(path);
    this.runDir = runDir;
    const opts = { wallTime: this.#clock(), keep: resumed ? keepUpTo(step, epoch) : undefined };
    if (this.#formats.has("tensorboard")) {
      this.#records.push(await RecordLog.open(runDir, TFEVENTS, opts));
    }
    if (this.#formats.has("visualdl")) {
      this.#records.push(await RecordLog.open(runDir, VDLRECORDS, opts));
    }
    if (this.#runFile !== undefined) {
      await Deno.mkdir(runDir, { recursive: true });
      await atomicWriteFile(`${runDir}/run.json`, [await Deno.readFile(this.#runFile)]);
    }
    this.#open = true;
  }

  /** Writes the step's loss, running metrics and learning rate. */
  override async onTrainBatchEnd(_batch: number, logs: Logs): Promise<void> {
    const tags = ["loss", ...this.params.metrics, "lr"];
    await this.#write(tags.map((k) => [`train/${k}`, logs.step, logs[k]]));
  }

  /** Writes the evaluation loss and metrics at the epoch number. */
  override async onEvalEnd(logs: Logs): Promise<void> {
    // Outside fit (Model.evaluate alone) there is no epoch to log against.
    if (!this.#open || logs.epoch === undefined) return;
    const tags = ["loss", ...this.params.metrics];
    await this.#write(tags.map((k) => [`eval/${k}`, logs.epoch, logs[k]]));
  }

  /** Forces the event file and VisualDL log to disk. */
  override async onEpochEnd(): Promise<void> {
    for (const r of this.#records) await r.sync();
  }

  /** Forces the logs to disk and closes them. */
  override async onTrainEnd(): Promise<void> {
    await this.#close();
  }

  /** Closes the logs; every step already written stays. */
  override async onTrainError(): Promise<void> {
    await this.#close();
  }

  /** Every step was written when it ended, so closing loses nothing. */
  async #close(): Promise<void> {
    this.#out?.close();
    this.#out = null;
    const records = this.#records;
    this.#records = [];
    this.#open = false;
    try {
      for (const r of records) await r.sync();
    } finally {
      for (const r of records) r.close();
    }
  }

  async #write(rows: [string, number, number][]): Promise<void> {
    if (!this.#open) throw new Error("ScalarLog: written to before onTrainBegin");
    const wall = this.#clock();
    for (const r of this.#records) {
      for (const [tag, step, value] of rows) r.add(tag, step, value, wall);
      await r.flush();
    }
    if (this.#out === null) return;
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
    const keep = keepUpTo(step, epoch);
    const kept = lines.filter((line, i) => {
      let rec: ScalarRecord;
      try {
        rec = JSON.parse(line);
      } catch {
        // A torn last line is what a crash mid-write leaves; anything else is a real problem.
        if (i === lines.length - 1) return false;
        throw new Error(`ScalarLog: ${path} line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
      }
      return keep(rec.tag, rec.step);
    });
    if (kept.length !== lines.length || !text.endsWith("\n")) {
      await atomicWriteFile(path, [encoder.encode(kept.map((l) => l + "\n").join(""))]);
    }
  }
}

/** What a resumed run keeps: training steps up to its global step, evaluations before its epoch. */
function keepUpTo(step: number, epoch: number): (tag: string, at: number) => boolean {
  return (tag, at) => {
    if (tag.startsWith("train/")) return at <= step;
    if (tag.startsWith("eval/")) return at < epoch;
    return true;
  };
}
