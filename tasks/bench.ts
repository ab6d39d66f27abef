/**
 * `trainer bench`: training and evaluation speed (images per second, warm-up steps excluded) of
 * a model at a batch size on a backend, and the speed of the training input pipeline
 * (augmentation batches per second, `benchAugmentation`). Prints a table, then, last, one JSON
 * line with `backend`, `model`, `width`, `batch_size`, `train_img_per_s`, `eval_img_per_s` and
 * more.
 *
 * `--compare` runs the same work on several backends (`--backends`, default cpu, webgpu,
 * native), each in its own process so that one backend's start-up cannot affect another's, and
 * prints each one's speed relative to the first that ran. After their warm-ups the processes
 * train in turns of a sixth of the timed steps (`bench_interleave.ts`), so a slow spell of a
 * shared machine falls on all of them alike. A backend that cannot start is listed with its
 * reason; its JSON entry holds `error`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { BACKEND_CHOICES } from "../src/backend/select.ts";
import { benchAugmentation } from "./bench_augment.ts";
import { ImageDataset } from "../src/data/image_dataset.ts";
import { Callback } from "../src/train/callback.ts";
import { DataLoader } from "../src/train/loader.ts";
import { Model } from "../src/train/model.ts";
import { MomentumSGD } from "../src/train/optimizer.ts";
import {
  BACKEND_FLAG,
  buildNetwork,
  MODEL_FLAGS,
  modelConfig,
  PRECISION_FLAG,
  startBackend,
  WEBGPU_KERNELS_FLAG,
} from "./common.ts";
import { WEBGPU_KERNEL_CHOICES } from "../src/backend/webgpu_kernels.ts";
import { type FlagSpec, type FlagValues, parseFlags, UsageError } from "./flags.ts";
import { selfCommand } from "./self.ts";
import { findTorchPython, TORCH_SCRIPT } from "./reference/torch.ts";
import { compareRanks } from "./bench_ranks.ts";
import { startDistributed } from "./distributed.ts";
import {
  roundSizes,
  takeTurns,
  TurnCallback,
  type TurnChild,
  TurnTaker,
} from "./bench_interleave.ts";

const FLAGS: FlagSpec[] = [
  ...MODEL_FLAGS,
  { name: "input", type: "integer", min: 17, default: 32, help: "Input side in pixels" },
  { name: "batch-size", type: "integer", min: 1, default: 64, help: "Images per step" },
  { name: "steps", type: "integer", min: 1, default: 10, help: "Timed steps" },
  { name: "warmup", type: "integer", min: 1, default: 2, help: "Untimed steps first" },
  BACKEND_FLAG,
  WEBGPU_KERNELS_FLAG,
  PRECISION_FLAG,
  { name: "compare", type: "boolean", help: "Run the same work on each of --backends and compare" },
  {
    name: "backends",
    type: "string",
    default: "cpu,webgpu,native",
    help: "Backends --compare runs, comma-separated, the first being the baseline; " +
      "`pytorch` adds the PyTorch reference on the CPU (python3 with torch, one thread per core); " +
      "`webgpu:stock` and `webgpu:ours` pick the WebGPU kernel set, `native:bf16` the native backend in bf16",
  },
  {
    name: "serve",
    type: "boolean",
    help: "Internal, for --compare: after the warm-up, train in the rounds the parent sends",
  },
  {
    name: "ranks",
    type: "string",
    help: "Data-parallel rank counts to run under mpirun side by side, e.g. 1,2 " +
      "(--batch-size is the global batch)",
  },
];

/** One backend's measurement (the JSON line). */
export interface BenchResult {
  /** Backend that ran. */
  backend: string;
  /** Backend start-up report. */
  backend_summary: string;
  /** Model flag value. */
  model: string;
  /** Network name. */
  network: string;
  /** Base planes. */
  width: number;
  /** Blocks per stage (null: the depth's own). */
  blocks: number[] | null;
  /** Input side. */
  input: number;
  /** Images per step. */
  batch_size: number;
  /** Timed steps. */
  steps: number;
  /** Training images per second. */
  train_img_per_s: number;
  /** Training steps per second. */
  train_steps_per_s: number;
  /** Evaluation images per second. */
  eval_img_per_s: number;
  /** Augmentation pipeline batches per second (same batch size and input). */
  augment_batches_per_s: number;
  /** Peak resident memory of the measuring process in MiB (Linux; NaN elsewhere). */
  peak_rss_mib: number;
}

/** This process's peak resident memory in MiB, from Linux's VmHWM; NaN where unavailable. */
function peakRssMiB(): number {
  try {
    const kb = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s+(\d+) kB/m)?.[1];
    return kb === undefined ? NaN : Number(kb) / 1024;
  } catch {
    return NaN;
  }
}

/** Records when each batch ended. */
class BatchClock extends Callback {
  train: number[] = [];
  eval: number[] = [];
  override onTrainBatchEnd(): void {
    this.train.push(performance.now());
  }
  override onEvalBatchEnd(): void {
    this.eval.push(performance.now());
  }
}

/** Seconds from the end of the warm-up batches to the end of the last batch. */
function timed(ends: number[], warmup: number): number {
  return (ends[ends.length - 1] - ends[warmup - 1]) / 1000;
}

function randomImages(n: number, side: number, classes: number): ImageDataset {
  const images = new Uint8Array(n * side * side * 3);
  for (let i = 0; i < images.length; i += 65536) {
    crypto.getRandomValues(images.subarray(i, i + 65536));
  }
  return new ImageDataset({
    images,
    labels: Int32Array.from({ length: n }, (_, i) => i % classes),
    imageShape: [side, side, 3],
    classNames: Array.from({ length: classes }, (_, k) => String(k)),
    source: "benchmark data",
  });
}

/** Measures on the backend `v.backend` names; see the module documentation. */
export async function measure(v: FlagValues): Promise<BenchResult> {
  const config = modelConfig(v, 3);
  // Under mpirun (bench --ranks), the training steps are data-parallel over the ranks.
  const dist = startDistributed({ distributed: "auto" });
  const report = await startBackend(v);
  const side = Number(v.input);
  const batch = Number(v["batch-size"]);
  const steps = Number(v.steps);
  const warmup = Number(v.warmup);
  const data = randomImages((warmup + steps) * batch, side, config.classes);
  const model = new Model(buildNetwork(config));
  const clock = new BatchClock();
  const turns = v.serve ? new TurnTaker() : null;
  const turn = turns ? new TurnCallback(warmup, turns) : null;
  const network = model.net.name;
  try {
    model.prepare({ optimizer: new MomentumSGD({ lr: 0.001 }) });
    const opts = { batchSize: batch, shuffle: false, seed: 0 };
    const loader = dist ? dist.loader(data, opts) : new DataLoader(data, opts);
    const ranks = dist?.attach(model);
    const callbacks = ranks ? [ranks.first, clock, ranks.last] : turn ? [clock, turn] : [clock];
    await model.fit(loader, undefined, { epochs: 1, verbose: 0, callbacks });
    // The last round's callback waits for the parent's finish; a round still open means the
    // parent asked for more steps than the loader held.
    if (turns && !turns.finished) {
      throw new Error("bench: the parent asked for more timed steps than --steps");
    }
    await model.evaluate(loader, { callbacks: [clock] });
  } finally {
    model.dispose();
  }
  const aug = await benchAugmentation({
    batchSize: batch,
    batches: steps,
    imageShape: [side, side, 3],
  });
  const trainSeconds = turn ? turn.seconds : timed(clock.train, warmup);
  return {
    backend: tf.getBackend(),
    backend_summary: report.summary,
    model: config.model,
    network,
    width: config.width,
    blocks: config.blocks ?? null,
    input: side,
    batch_size: batch,
    steps,
    train_img_per_s: steps * batch / trainSeconds,
    train_steps_per_s: steps / trainSeconds,
    eval_img_per_s: steps * batch / timed(clock.eval, warmup),
    augment_batches_per_s: aug.batchesPerSec,
    peak_rss_mib: peakRssMiB(),
  };
}

/** The PyTorch reference's command line for the same work (`tasks/reference/resnet_fcn_torch.py`). */
function torchArgs(v: FlagValues): string[] {
  const config = modelConfig(v, 3);
  return [
    TORCH_SCRIPT,
    "bench",
    ...["--depth", config.model.replace("resnet", ""), "--width", String(config.width)],
    ...[
      "--batch",
      String(v["batch-size"]),
      "--steps",
      String(v.steps),
      "--warmup",
      String(v.warmup),
    ],
    ...["--input", String(v.input), "--classes", String(config.classes)],
    ...["--threads", String(navigator.hardwareConcurrency), "--channels-last", "--serve"],
    ...(config.blocks ? ["--blocks", config.blocks.join(",")] : []),
  ];
}

/** The reference's result line as a {@linkcode BenchResult}. */
function torchResult(v: FlagValues, r: Record<string, unknown>): BenchResult {
  const config = modelConfig(v, 3);
  const batch = Number(v["batch-size"]);
  const train = Number(r.train_img_per_s);
  return {
    backend: "pytorch",
    backend_summary: `PyTorch ${r.torch} on the CPU, ${r.threads} threads, channels-last`,
    model: config.model,
    network: "PyTorch reference",
    width: config.width,
    blocks: config.blocks ?? null,
    input: Number(v.input),
    batch_size: batch,
    steps: Number(v.steps),
    train_img_per_s: train,
    train_steps_per_s: train / batch,
    eval_img_per_s: Number(r.eval_img_per_s),
    augment_batches_per_s: NaN,
    peak_rss_mib: Number(r.peak_rss_mib),
  };
}

const fmt = (x: number) =>
  Number.isNaN(x) ? "—" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ")
  )
    .join("\n");
}

/**
 * The same command line for one backend, without the comparison flags. After the colon,
 * `webgpu:<set>` names the kernel set and `native:<precision>` the precision.
 */
function childArgs(v: FlagValues, spec: string): string[] {
  const [backend, option] = spec.split(":");
  const optionFlag = backend === "native" ? "precision" : "webgpu-kernels";
  const out = ["bench"];
  for (const s of FLAGS) {
    const x = v[s.name];
    if (["compare", "backends", "backend", "serve"].includes(s.name) || x === undefined) continue;
    if (s.name === optionFlag && option !== undefined) continue;
    out.push(`--${s.name}`, String(x));
  }
  if (option !== undefined) out.push(`--${optionFlag}`, option);
  return [...out, "--backend", backend];
}

/**
 * Whether `spec` is a backend `--backends` accepts: a backend, `pytorch`, `webgpu:<set>` or
 * `native:<precision>`.
 */
function validSpec(spec: string): boolean {
  const [b, option, more] = spec.split(":");
  if (more !== undefined || b === "auto") return false;
  if (option !== undefined) {
    if (b === "native") return option === "f32" || option === "bf16";
    return b === "webgpu" && (WEBGPU_KERNEL_CHOICES as readonly string[]).includes(option);
  }
  return (BACKEND_CHOICES as readonly string[]).includes(b) || b === "pytorch";
}

/** Rounds `--compare` splits the timed steps into (fewer when there are fewer steps). */
const ROUNDS = 6;

async function compare(v: FlagValues): Promise<number> {
  const backends = String(v.backends).split(",").map((b) => b.trim()).filter((b) => b !== "");
  for (const b of backends) {
    if (!validSpec(b)) {
      throw new UsageError(
        `--backends: "${b}" is not one of cpu, webgpu, webgpu:stock, webgpu:ours, native, native:f32, native:bf16, pytorch`,
      );
    }
  }
  const python = backends.includes("pytorch") ? await findTorchPython() : null;
  const children: TurnChild[] = [];
  const missing = new Map<string, string>();
  for (const b of backends) {
    if (b !== "pytorch") {
      children.push({ name: b, ...selfCommand([...childArgs(v, b), "--serve"]) });
    } else if (python) children.push({ name: b, command: python, args: torchArgs(v) });
    else missing.set(b, "no python3 with torch (Debian: python3-torch)");
  }
  const steps = Number(v.steps);
  const outcomes = await takeTurns(
    children,
    roundSizes(steps, Math.max(1, Math.ceil(steps / ROUNDS))),
    (message) => console.error(`bench: ${message}`),
  );
  const results: (BenchResult | { backend: string; error: string })[] = backends.map((b) => {
    const i = children.findIndex((c) => c.name === b);
    if (i < 0) return { backend: b, error: missing.get(b)! };
    const outcome = outcomes[i];
    if ("error" in outcome) return { backend: b, error: outcome.error };
    if (b === "pytorch") return torchResult(v, outcome.result);
    const r = outcome.result as unknown as BenchResult;
    return b.includes(":") ? { ...r, backend: b } : r;
  });
  const ok = results.filter((r): r is BenchResult => !("error" in r));
  const base = ok[0];
  const rows = [[
    "backend",
    "train img/s",
    "train steps/s",
    "eval img/s",
    "augment batches/s",
    "peak RSS MiB",
    "train ×",
    "eval ×",
  ]];
  for (const r of results) {
    if ("error" in r) {
      rows.push([r.backend, "—", "—", "—", "—", "—", "—", "—"]);
      continue;
    }
    rows.push([
      r.backend,
      fmt(r.train_img_per_s),
      fmt(r.train_steps_per_s),
      fmt(r.eval_img_per_s),
      fmt(r.augment_batches_per_s),
      fmt(r.peak_rss_mib),
      fmt(r.train_img_per_s / base.train_img_per_s),
      fmt(r.eval_img_per_s / base.eval_img_per_s),
    ]);
  }
  console.log(table(rows));
  for (const r of results) if ("error" in r) console.log(`${r.backend} did not run: ${r.error}`);
  if (base) console.log(`(× = speed relative to ${base.backend})`);
  console.log(JSON.stringify({
    compare: backends,
    baseline: base?.backend ?? null,
    model: String(v.model),
    width: Number(v.width),
    batch_size: Number(v["batch-size"]),
    results: results.map((r) =>
      "error" in r ? r : {
        ...r,
        train_ratio: r.train_img_per_s / base.train_img_per_s,
        eval_ratio: r.eval_img_per_s / base.eval_img_per_s,
      }
    ),
  }));
  return ok.length > 0 ? 0 : 1;
}

/** Runs the subcommand; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const v = parseFlags("bench", "Measure training and evaluation images per second.", FLAGS, args);
  if (!v) return 0;
  if (v.ranks !== undefined) return await compareRanks(v, FLAGS);
  if (v.compare) return await compare(v);
  const r = await measure(v);
  console.log(table([
    [
      "backend",
      "model",
      "batch",
      "train img/s",
      "train steps/s",
      "eval img/s",
      "augment batches/s",
      "peak RSS MiB",
    ],
    [
      r.backend,
      r.network,
      String(r.batch_size),
      fmt(r.train_img_per_s),
      fmt(r.train_steps_per_s),
      fmt(r.eval_img_per_s),
      fmt(r.augment_batches_per_s),
      fmt(r.peak_rss_mib),
    ],
  ]));
  console.log(JSON.stringify(r));
  return 0;
}
