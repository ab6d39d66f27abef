/**
 * A Keras-like progress display on standard output (as Keras prints it).
 *
 * On an interactive terminal it redraws one bar per epoch in place
 * (`45/98 [=====>....] - ETA: 12s - loss: 2.3012 - acc_top1: 0.1000 …`). When the output is not a
 * terminal (a log file, CI) it prints plain lines instead: one every `lineEvery` steps and one at
 * the end of each epoch, so logs stay readable. `Model.fit` adds one automatically when
 * `verbose` is 1 or 2 and the callbacks hold none.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { ProgressBar } from "./progress_bar.ts";
 * import { Model } from "./model.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 * import { syntheticDataset } from "../data/synthetic.ts";
 *
 * const data = syntheticDataset({ length: 4, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare();
 * const bar = new ProgressBar({ mode: "lines" });
 * await model.fit(data, data, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [bar] });
 * model.dispose();
 * ```
 *
 * @module
 */
import { Callback, type Logs } from "./callback.ts";

/** Options of {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /**
   * `"bar"`: redraw a bar in place; `"lines"`: plain periodic lines; `"epoch"`: one line per
   * epoch; `"auto"` (default): `"bar"` on a terminal, `"lines"` otherwise.
   */
  mode?: "auto" | "bar" | "lines" | "epoch";
  /** Where text goes (default: standard output). */
  write?: (text: string) => void;
  /** Whether the output is a terminal (default: `Deno.stdout.isTerminal()`). */
  isTerminal?: boolean;
  /** Steps between plain lines (default: a tenth of an epoch, at least 1). */
  lineEvery?: number;
  /** Bar width in characters (default 30). */
  width?: number;
}

const encoder = new TextEncoder();

/** Formats a log value: fixed four decimals, or scientific for small magnitudes. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(4) : v.toFixed(4);
}

const two = (n: number) => String(Math.floor(n)).padStart(2, "0");

/** `42s`, `3:07` or `1:03:07`. */
function formatSeconds(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)}:${two((s / 60) % 60)}:${two(s % 60)}`;
  if (s >= 60) return `${Math.floor(s / 60)}:${two(s % 60)}`;
  return `${Math.round(s)}s`;
}

/** Prints training progress; see the module documentation. */
export class ProgressBar extends Callback {
  readonly #write: (text: string) => void;
  readonly #mode: "bar" | "lines" | "epoch";
  readonly #lineEvery: number | undefined;
  readonly #width: number;
  #epochStart = 0;
  #lastDraw = 0;
  #stepsRun = 0;

  /**
   * Creates the progress display; `auto` draws a bar on a terminal and lines otherwise.
   *
   * @param opts See {@linkcode ProgressBarOptions}.
   */
  constructor(opts: ProgressBarOptions = {}) {
    super();
    this.#write = opts.write ?? ((t) => Deno.stdout.writeSync(encoder.encode(t)));
    const terminal = opts.isTerminal ?? Deno.stdout.isTerminal();
    const mode = opts.mode ?? "auto";
    this.#mode = mode === "auto" ? (terminal ? "bar" : "lines") : mode;
    this.#lineEvery = opts.lineEvery;
    this.#width = opts.width ?? 30;
  }

  /** Prints the epoch header and starts its clock. */
  override onEpochBegin(epoch: number): void {
    this.#epochStart = performance.now();
    this.#lastDraw = 0;
    this.#stepsRun = 0;
    if (this.#mode !== "epoch") this.#write(`Epoch ${epoch + 1}/${this.params.epochs}\n`);
  }

  /** Redraws the bar, or prints a periodic line. */
  override onTrainBatchEnd(batch: number, logs: Logs): void {
    const steps = this.params.stepsPerEpoch;
    const done = batch + 1;
    this.#stepsRun++;
    const values = this.#format({
      ...this.metricValues(logs),
      ...("lr" in logs ? { lr: logs.lr } : {}),
    });
    if (this.#mode === "bar") {
      const now = performance.now();
      // Redraw at most 20 times a second; terminals are slower than small steps.
      if (done < steps && now - this.#lastDraw < 50) return;
      this.#lastDraw = now;
      const perStep = (now - this.#epochStart) / 1000 / done;
      const eta = done < steps ? ` - ETA: ${formatSeconds(perStep * (steps - done))}` : "";
      this.#write(`\r${this.#bar(done, steps)}${eta}${values}\x1b[K`);
    } else if (this.#mode === "lines") {
      const every = this.#lineEvery ?? Math.max(1, Math.round(steps / 10));
      if (done % every === 0 && done < steps) {
        this.#write(`${this.#counter(done, steps)} - step ${logs.step}${values}\n`);
      }
    }
  }

  /** Prints the epoch's closing line with timing and evaluation results. */
  override onEpochEnd(epoch: number, logs: Logs): void {
    const seconds = (performance.now() - this.#epochStart) / 1000;
    const steps = this.params.stepsPerEpoch;
    const perStep = Math.round(seconds * 1000 / Math.max(1, this.#stepsRun));
    const timing = ` - ${formatSeconds(seconds)} ${perStep}ms/step`;
    const values = this.#format({
      ...this.metricValues(logs),
      ...this.metricValues(logs, "eval_"),
    });
    if (this.#mode === "bar") {
      this.#write(`\r${this.#bar(steps, steps)}${timing}${values}\x1b[K\n`);
    } else if (this.#mode === "lines") {
      this.#write(`${this.#counter(steps, steps)}${timing}${values}\n`);
    } else {
      this.#write(`Epoch ${epoch + 1}/${this.params.epochs}${timing}${values}\n`);
    }
  }

  #format(values: Record<string, number>): string {
    return Object.entries(values).map(([k, v]) => ` - ${k}: ${formatValue(v)}`).join("");
  }

  #counter(done: number, steps: number): string {
    return `${String(done).padStart(String(steps).length)}/${steps}`;
  }

  #bar(done: number, steps: number): string {
    const filled = Math.floor(this.#width * done / steps);
    const head = done < steps ? ">" : "";
    const bar = "=".repeat(Math.max(0, filled - head.length)) + head;
    return `${this.#counter(done, steps)} [${bar.padEnd(this.#width, ".")}]`;
  }
}
