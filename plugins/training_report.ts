/**
 * Writes `report.html` into the save folder when training ends: one self-contained page (no
 * scripts, no outside files) with the curves, the final metrics, the per-class accuracy on the
 * evaluation set and the run's settings.
 *
 * The curves come from the scalar log `logFile` when given (so a resumed run's report shows the
 * whole run), else from the steps this callback saw. The settings come from `runFile` (default
 * `<saveDir>/run.json`, its `settings`). Per-class accuracy takes one extra forward pass over
 * `evalData` with the final weights; it is skipped, and the report says so, when training was
 * stopped early (Ctrl-C should not wait for it) or there is no evaluation set.
 *
 * @example
 * ```ts ignore
 * import { TrainingReport } from "./training_report.ts";
 * const report = new TrainingReport({ saveDir: "output/run", classNames, evalData: evalLoader });
 * await model.fit(train, evalLoader, { epochs: 10, callbacks: [report] });
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { atomicWriteFile } from "../src/io/atomic.ts";
import { Callback, type Logs } from "../src/train/callback.ts";
import type { DataLoader } from "../src/train/loader.ts";
import { type ClassAccuracy, reportHtml } from "../src/vis/report_html.ts";

/** Options of {@linkcode TrainingReport}. */
export interface TrainingReportOptions {
  /** Folder the report is written into, as `report.html`. */
  saveDir: string;
  /** Class names in label order. */
  classNames: readonly string[];
  /** Evaluation data for the per-class accuracy (none: no per-class table). */
  evalData?: DataLoader;
  /** The JSONL scalar log of the run, read for the curves when it exists. */
  logFile?: string;
  /** A JSON file whose `settings` (or whole object) is shown; default `<saveDir>/run.json`. */
  runFile?: string;
  /** Page heading (default: the network's name). */
  title?: string;
}

type Scalar = { tag: string; step: number; value: number };

/** Writes the report; see the module documentation. */
export class TrainingReport extends Callback {
  /** Where the report was written, once it was. */
  path: string | null = null;
  readonly #opts: TrainingReportOptions;
  #seen: Scalar[] = [];
  #lastEval: Logs | null = null;
  #lastTrain: Logs | null = null;

  /**
   * Creates the callback.
   *
   * @param opts See {@linkcode TrainingReportOptions}.
   */
  constructor(opts: TrainingReportOptions) {
    super();
    this.#opts = opts;
  }

  /** Remembers the step's values for the curves. */
  override onTrainBatchEnd(_batch: number, logs: Logs): void {
    this.#lastTrain = { ...logs };
    for (const k of ["loss", ...this.params.metrics, "lr"]) {
      if (logs[k] !== undefined) {
        this.#seen.push({ tag: `train/${k}`, step: logs.step, value: logs[k] });
      }
    }
  }

  /** Remembers the evaluation's values. */
  override onEvalEnd(logs: Logs): void {
    if (logs.epoch === undefined) return;
    this.#lastEval = { ...logs };
    for (const k of ["loss", ...this.params.metrics]) {
      this.#seen.push({ tag: `eval/${k}`, step: logs.epoch, value: logs[k] });
    }
  }

  /** Computes the per-class accuracy and writes the page. */
  override async onTrainEnd(): Promise<void> {
    const { saveDir, evalData, classNames } = this.#opts;
    let perClass: ClassAccuracy[] | null = null;
    let perClassNote: string | undefined;
    if (this.model.stopReason !== null || this.model.stopTraining) {
      perClassNote = "Not computed: training was stopped early.";
    } else if (evalData === undefined) {
      perClassNote = "Not computed: the run had no evaluation set.";
    } else {
      if (this.params.verbose > 0) {
        console.log(`report: per-class accuracy over ${evalData.dataset.length} test images…`);
      }
      perClass = await this.#perClass(evalData, classNames);
    }
    const final: Record<string, number> = {};
    if (this.#lastEval !== null) {
      for (const k of ["loss", ...this.params.metrics]) final[`eval/${k}`] = this.#lastEval[k];
      final["epoch"] = this.#lastEval.epoch;
    }
    if (this.#lastTrain !== null) {
      for (const k of ["loss", ...this.params.metrics, "lr"]) {
        if (this.#lastTrain[k] !== undefined) final[`train/${k}`] = this.#lastTrain[k];
      }
      final["step"] = this.#lastTrain.step;
    }
    const run = await readJson(this.#opts.runFile ?? join(saveDir, "run.json"));
    const settings = (run?.settings ?? run ?? {}) as Record<string, unknown>;
    const html = reportHtml({
      title: this.#opts.title ??
        `${this.model.net.name}${run?.dataset ? ` on ${run.dataset}` : ""}`,
      settings,
      final,
      perClass,
      perClassNote,
      scalars: (await this.#logged()) ?? this.#seen,
    });
    await Deno.mkdir(saveDir, { recursive: true });
    const path = join(saveDir, "report.html");
    await atomicWriteFile(path, [new TextEncoder().encode(html)]);
    this.path = path;
  }

  /** The scalar log's records, or null when there is no log to read. */
  async #logged(): Promise<Scalar[] | null> {
    if (this.#opts.logFile === undefined) return null;
    let text: string;
    try {
      text = await Deno.readTextFile(this.#opts.logFile);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Scalar);
  }

  async #perClass(data: DataLoader, names: readonly string[]): Promise<ClassAccuracy[]> {
    const counts = names.map((name) => ({ name, total: 0, correct: 0 }));
    for await (const { images, labels } of data.batches(0)) {
      let pred: Int32Array | Float32Array | Uint8Array;
      let truth: Int32Array | Float32Array | Uint8Array;
      try {
        const predicted = tf.tidy(() => {
          const out = this.model.net.apply(images, false);
          return tf.argMax(tf.reshape(out, [out.shape[0], -1]), 1);
        });
        pred = await predicted.data();
        truth = await labels.data();
        predicted.dispose();
      } finally {
        images.dispose();
        labels.dispose();
      }
      for (let i = 0; i < truth.length; i++) {
        const c = counts[truth[i]];
        c.total++;
        if (pred[i] === truth[i]) c.correct++;
      }
    }
    return counts;
  }
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}
