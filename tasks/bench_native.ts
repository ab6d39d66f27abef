/**
 * Training throughput of TensorFlow.js backends side by side, on the recipe's network: the
 * same step as `Model.fit` (forward with batch statistics, softmax cross-entropy, the backward
 * pass that frees as it goes, momentum SGD with weight decay) on a fixed random batch. With `profile`
 * it also lists where a step's time goes, per kernel (the least over `--profile-steps` steps).
 *
 * Gradients must be registered with TensorFlow.js before it runs (the trainer does so at
 * start-up); it says so when they are not.
 *
 * Run on its own:
 * ```sh
 * deno run -A tasks/bench_native.ts --backends cpu,native --batch 64 --steps 5 --profile
 * ```
 *
 * @example
 * ```ts
 * import { benchBackends, formatBenchTable } from "./bench_native.ts";
 * const rows = await benchBackends({ backends: ["native"], steps: 2 });
 * console.log(formatBenchTable(rows));
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { parseArgs } from "node:util";
import { registerNativeBackend } from "../src/backend/native.ts";
import { useWebGPUKernels, type WebGPUKernels } from "../src/backend/webgpu_kernels.ts";
import { type ResNetDepth, resnetFCN } from "../src/nn/resnet_fcn.ts";
import { MomentumSGD } from "../src/train/optimizer.ts";
import { softmaxCrossEntropy } from "../src/train/losses.ts";
import { variableGradsFreeing } from "../src/train/backprop.ts";
// Registers the gradients training needs (as Model does), for its side effect.
import "../src/train/gradients.ts";

/** Options of {@linkcode benchBackends}. */
export interface BenchOptions {
  /** TensorFlow.js backends to measure, each already registered or `native` (default cpu, native). */
  backends?: readonly string[];
  /** ResNet-FCN depth (default 50: bottleneck blocks). */
  depth?: ResNetDepth;
  /** Network width W (default 16). */
  width?: number;
  /** Blocks per stage (default one per stage). */
  blocks?: readonly [number, number, number, number];
  /** Images per step (default 64). */
  batch?: number;
  /** Input side (default 32). */
  size?: number;
  /** Timed steps after two warm-up steps (default 5). */
  steps?: number;
  /** Also profile steps per backend (default false). */
  profile?: boolean;
  /**
   * Steps profiled; each kernel's row is its least total over them, and so is the time outside
   * kernels (default 1). On a shared machine preemption only ever adds time.
   */
  profileSteps?: number;
}

/** Time spent in one kernel over one profiled step. */
export interface KernelTime {
  /** Kernel name, e.g. `Conv2DBackpropFilter`. */
  kernel: string;
  /** Milliseconds in this kernel over the step. */
  ms: number;
  /** Calls in the step. */
  calls: number;
}

/** One backend's measurement. */
export interface BenchRow {
  /** Backend name. */
  backend: string;
  /** Mean milliseconds per training step. */
  msPerStep: number;
  /** Training images per second. */
  imagesPerSecond: number;
  /** What the backend runs on (library, threads), where known. */
  detail: string;
  /** Per-kernel times, slowest first, when profiled. */
  kernels?: KernelTime[];
  /** Milliseconds of the profiled step spent outside kernels (engine, gradient tape). */
  overheadMs?: number;
  /** Why the backend could not be measured, instead of the numbers above. */
  skipped?: string;
}

async function activate(spec: string): Promise<{ detail: string } | { skipped: string }> {
  // `webgpu:stock` and `webgpu:ours` choose the WebGPU kernel set.
  const [backend, kernels] = spec.split(":");
  let detail = "";
  if (backend === "native") {
    const r = await registerNativeBackend();
    if (!r.ok) return { skipped: r.reason };
    detail = `${r.library}, ${r.threads} threads`;
  }
  try {
    if (!(await tf.setBackend(backend))) return { skipped: `${backend} failed to initialise` };
  } catch (e) {
    return { skipped: e instanceof Error ? e.message : String(e) };
  }
  await tf.ready();
  if (backend === "webgpu") {
    useWebGPUKernels((kernels ?? "ours") as WebGPUKernels);
    detail = `${kernels ?? "ours"} kernels`;
  }
  return { detail };
}

async function trainStep(
  net: ReturnType<typeof resnetFCN>,
  opt: MomentumSGD,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
): Promise<number> {
  const vars = net.variables();
  const trainable = vars.filter((v) => v.trainable).map((v) => v.variable);
  const loss = tf.tidy(() => {
    const { value, grads } = variableGradsFreeing(
      () => softmaxCrossEntropy(net.apply(x, true) as tf.Tensor2D, y),
      trainable,
    );
    opt.applyGradients(vars, grads);
    return value;
  });
  // Asynchronous: webgpu reads synchronously only through a canvas, which Deno has not.
  const v = (await loss.data())[0];
  loss.dispose();
  return v;
}

async function benchOne(backend: string, o: Required<BenchOptions>): Promise<BenchRow> {
  const started = await activate(backend);
  if ("skipped" in started) {
    return { backend, msPerStep: NaN, imagesPerSecond: NaN, detail: "", skipped: started.skipped };
  }
  const net = resnetFCN({ depth: o.depth, width: o.width, blocks: o.blocks, seed: 1 });
  const opt = new MomentumSGD({ lr: 0.01 });
  const x = tf.randomNormal([o.batch, o.size, o.size, 3], 0, 1, "float32", 7) as tf.Tensor4D;
  const y = tf.tidy(() =>
    tf.cast(tf.mul(tf.randomUniform([o.batch], 0, 1, "float32", 8), 9.999), "int32")
  ) as tf.Tensor1D;
  try {
    for (let i = 0; i < 2; i++) await trainStep(net, opt, x, y);
    const t0 = performance.now();
    for (let i = 0; i < o.steps; i++) await trainStep(net, opt, x, y);
    const msPerStep = (performance.now() - t0) / o.steps;
    const row: BenchRow = {
      backend,
      msPerStep,
      imagesPerSecond: (o.batch * 1000) / msPerStep,
      detail: started.detail,
    };
    if (o.profile) {
      const least = new Map<string, KernelTime>();
      let overhead = Infinity;
      for (let p = 0; p < o.profileSteps; p++) {
        const t1 = performance.now();
        const info = await tf.profile(async () => {
          await trainStep(net, opt, x, y);
        });
        const wall = performance.now() - t1;
        const byName = new Map<string, KernelTime>();
        for (const k of info.kernels) {
          const t = byName.get(k.name) ?? { kernel: k.name, ms: 0, calls: 0 };
          t.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
          t.calls++;
          byName.set(k.name, t);
        }
        for (const t of byName.values()) {
          const before = least.get(t.kernel);
          if (!before || t.ms < before.ms) least.set(t.kernel, t);
        }
        overhead = Math.min(overhead, wall - [...byName.values()].reduce((s, k) => s + k.ms, 0));
      }
      row.kernels = [...least.values()].sort((a, b) => b.ms - a.ms);
      row.overheadMs = overhead;
    }
    return row;
  } finally {
    tf.dispose([x, y]);
    opt.dispose();
    net.dispose();
  }
}

/**
 * Measures training images per second of each backend on the same network, batch and input.
 * Backends that cannot start are reported with the reason, not dropped. Leaves the last
 * measured backend active.
 */
export async function benchBackends(opts: BenchOptions = {}): Promise<BenchRow[]> {
  if (!tf.getGradient(tf.Conv2D)) {
    throw new Error(
      "bench_native: TensorFlow.js has no gradients registered (Conv2D has none); " +
        "register them before benchmarking training",
    );
  }
  const o: Required<BenchOptions> = {
    backends: ["cpu", "native"],
    depth: 50,
    width: 16,
    blocks: [1, 1, 1, 1],
    batch: 64,
    size: 32,
    steps: 5,
    profile: false,
    profileSteps: 1,
    ...opts,
  };
  const rows: BenchRow[] = [];
  for (const b of o.backends) rows.push(await benchOne(b, o));
  return rows;
}

/** A Markdown table of the rows: backend, ms/step, images/s, detail. */
export function formatBenchTable(rows: readonly BenchRow[]): string {
  const lines = ["| backend | ms/step | images/s | runs on |", "|---|---:|---:|---|"];
  for (const r of rows) {
    lines.push(
      r.skipped
        ? `| ${r.backend} | — | — | skipped: ${r.skipped} |`
        : `| ${r.backend} | ${r.msPerStep.toFixed(1)} | ${
          r.imagesPerSecond.toFixed(1)
        } | ${r.detail} |`,
    );
  }
  return lines.join("\n");
}

/** A Markdown table of one row's kernel profile (top `limit` kernels). */
export function formatKernelTable(row: BenchRow, limit = 15): string {
  if (!row.kernels) return "";
  const total = row.kernels.reduce((s, k) => s + k.ms, 0) + (row.overheadMs ?? 0);
  const lines = [
    `${row.backend}: a step, ${total.toFixed(1)} ms (sum of the least per kernel)`,
    "| kernel | ms | calls | share |",
    "|---|---:|---:|---:|",
  ];
  for (const k of row.kernels.slice(0, limit)) {
    lines.push(
      `| ${k.kernel} | ${k.ms.toFixed(1)} | ${k.calls} | ${(100 * k.ms / total).toFixed(1)}% |`,
    );
  }
  lines.push(
    `| (outside kernels) | ${(row.overheadMs ?? 0).toFixed(1)} | | ${
      (100 * (row.overheadMs ?? 0) / total).toFixed(1)
    }% |`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backends: { type: "string", default: "cpu,native" },
      depth: { type: "string", default: "50" },
      blocks: { type: "string", default: "1,1,1,1" },
      width: { type: "string", default: "16" },
      size: { type: "string", default: "32" },
      batch: { type: "string", default: "64" },
      steps: { type: "string", default: "5" },
      profile: { type: "boolean", default: false },
      "profile-steps": { type: "string", default: "1" },
    },
  });
  const rows = await benchBackends({
    backends: values.backends.split(","),
    depth: Number(values.depth) as ResNetDepth,
    blocks: values.blocks.split(",").map(Number) as [number, number, number, number],
    width: Number(values.width),
    size: Number(values.size),
    batch: Number(values.batch),
    steps: Number(values.steps),
    profile: values.profile,
    profileSteps: Number(values["profile-steps"]),
  });
  console.log(formatBenchTable(rows));
  for (const r of rows) if (r.kernels) console.log(`\n${formatKernelTable(r)}`);
}
