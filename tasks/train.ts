/**
 * `trainer train`: the recipe, with every number a flag. Defaults are the recipe's: ResNet50-FCN
 * on CIFAR-10, 300 epochs, batch 512, LR 0.001 with 2,000 warm-up steps then cosine, momentum
 * 0.9, weight decay 5e-4, a checkpoint every epoch into `output/ResNet50-FCN`, the scalar log in
 * `vis_logs/`.
 *
 * Everything the command line says is checked before any work starts; then plugins are loaded,
 * the backend started, the data loaded and the configuration printed, and `Model.fit` runs with
 * the built-in callbacks (LRScheduler, TerminateOnNaN, ScalarLog, ModelCheckpoint) followed by
 * the plugins. `demo` is this same command with other defaults.
 *
 * @module
 */
import { join } from "node:path";
import { findResumePoint, readCheckpoint } from "../src/io/checkpoint.ts";
import { decodeSafetensors } from "../src/io/safetensors.ts";
import { loadNetworkTensors } from "../src/io/weights.ts";
import { Callback, type Logs } from "../src/train/callback.ts";
import { DataLoader } from "../src/train/loader.ts";
import { Model } from "../src/train/model.ts";
import { MomentumSGD } from "../src/train/optimizer.ts";
import { warmupCosine } from "../src/train/schedules.ts";
import { LRScheduler } from "../plugins/lr_scheduler.ts";
import { ModelCheckpoint } from "../plugins/model_checkpoint.ts";
import { ScalarLog } from "../plugins/scalar_log.ts";
import { TerminateOnNaN } from "../plugins/terminate_on_nan.ts";
import { DeviceGuard } from "../plugins/device_guard.ts";
import { GracefulStop } from "../plugins/graceful_stop.ts";
import { describeFailure, ExitCode } from "../src/train/errors.ts";
import {
  BACKEND_FLAG,
  buildNetwork,
  MODEL_NAMES,
  type ModelConfig,
  modelDepth,
  parseBlocks,
  startBackend,
  WEBGPU_KERNELS_FLAG,
} from "./common.ts";
import { checkDataRequest, DATASET_NAMES, type DatasetName, loadData } from "./data.ts";
import { type FlagSpec, type FlagValues, parseFlags, UsageError } from "./flags.ts";
import { checkPluginFiles, loadPlugins, PLUGIN_RULE } from "./plugins.ts";
import { readRunFile, writeRunFile } from "./run_file.ts";

/** Default values of the training flags; `train` uses the recipe's, `demo` its own. */
export interface TrainDefaults {
  /** `--model`. */
  model: typeof MODEL_NAMES[number];
  /** `--width`. */
  width: number;
  /** `--blocks` (undefined: the depth's own). */
  blocks?: string;
  /** `--dataset`. */
  dataset: DatasetName;
  /** `--epochs`. */
  epochs: number;
  /** `--batch-size`. */
  batchSize: number;
  /** `--lr`. */
  lr: number;
  /** `--warmup-steps`. */
  warmupSteps: number;
  /** `--momentum`. */
  momentum: number;
  /** `--weight-decay`. */
  weightDecay: number;
  /** `--save-dir` (undefined: `output/<network>`). */
  saveDir?: string;
  /** `--log-dir`. */
  logDir: string;
  /** Training augmentation on; the flag is `--no-augment` when true, `--augment` when false. */
  augment: boolean;
}

/** The recipe's settings: the defaults of `train`. */
export const RECIPE_DEFAULTS: Readonly<TrainDefaults> = Object.freeze({
  model: "resnet50",
  width: 64,
  dataset: "cifar10",
  epochs: 300,
  batchSize: 512,
  lr: 0.001,
  warmupSteps: 2000,
  momentum: 0.9,
  weightDecay: 5e-4,
  logDir: "vis_logs",
  augment: true,
});

/** The flags of a training command with the given defaults. */
export function trainFlags(d: TrainDefaults): FlagSpec[] {
  return [
    { name: "model", type: "string", choices: MODEL_NAMES, default: d.model, help: "Network" },
    {
      name: "width",
      type: "integer",
      min: 1,
      default: d.width,
      help: "Base planes W (64 = the recipe)",
    },
    {
      name: "blocks",
      type: "string",
      default: d.blocks,
      help: "Blocks per stage as four numbers, e.g. 1,1,1,1" +
        (d.blocks === undefined ? " (default: the depth's own)" : ""),
    },
    { name: "dataset", type: "string", choices: DATASET_NAMES, default: d.dataset, help: "Data" },
    {
      name: "data",
      type: "string",
      existingPath: true,
      help: "cifar10: extracted cifar-10-batches-bin/ or the .tar.gz (default: the cache, " +
        "downloading there); npy: folder with x_train.npy y_train.npy x_test.npy y_test.npy",
    },
    {
      name: "epochs",
      type: "integer",
      min: 1,
      default: d.epochs,
      help: "Training epochs (also the cosine period)",
    },
    {
      name: "batch-size",
      type: "integer",
      min: 1,
      default: d.batchSize,
      help: "Examples per step",
    },
    {
      name: "lr",
      type: "number",
      min: 0,
      exclusiveMin: true,
      default: d.lr,
      help: "Base learning rate",
    },
    {
      name: "warmup-steps",
      type: "integer",
      min: 0,
      default: d.warmupSteps,
      help: "Linear warm-up steps",
    },
    {
      name: "momentum",
      type: "number",
      min: 0,
      default: d.momentum,
      help: "SGD momentum, below 1",
    },
    {
      name: "weight-decay",
      type: "number",
      min: 0,
      default: d.weightDecay,
      help: "L2 weight decay",
    },
    {
      name: "save-dir",
      type: "string",
      default: d.saveDir,
      help: "Checkpoint folder (default: output/<network>, e.g. output/ResNet50-FCN)",
    },
    {
      name: "save-freq",
      type: "integer",
      min: 1,
      default: 1,
      help: "Save a checkpoint every N epochs",
    },
    {
      name: "log-dir",
      type: "string",
      default: d.logDir,
      help: "Folder of the scalar log (JSONL)",
    },
    {
      name: "resume",
      type: "string",
      help:
        "Continue from 'latest' (newest intact checkpoint in --save-dir) or a checkpoint folder",
    },
    {
      name: "init-weights",
      type: "string",
      existingPath: true,
      help:
        "Start from these weights (.safetensors or a checkpoint folder); optimiser starts fresh",
    },
    BACKEND_FLAG,
    WEBGPU_KERNELS_FLAG,
    {
      name: "seed",
      type: "integer",
      min: 0,
      default: 0,
      help: "Seed of initial weights, shuffling, augmentation",
    },
    {
      name: "limit-train",
      type: "integer",
      min: 1,
      help: "Use only N training examples (spread evenly)",
    },
    {
      name: "limit-eval",
      type: "integer",
      min: 1,
      help: "Use only N test examples (spread evenly)",
    },
    d.augment
      ? { name: "no-augment", type: "boolean", help: "Turn training augmentation off" }
      : { name: "augment", type: "boolean", help: "Turn training augmentation on (default off)" },
    {
      name: "plugin",
      type: "list",
      default: [],
      help: "Module of extra callbacks, repeatable (see above)",
    },
  ];
}

/** The checkpoint folder name of a model: `ResNet50-FCN`, `ResNet18-FCN_w8_b1-1-1-1`. */
export function networkFolderName(c: ModelConfig): string {
  return `ResNet${modelDepth(c.model)}-FCN` + (c.width !== 64 ? `_w${c.width}` : "") +
    (c.blocks ? `_b${c.blocks.join("-")}` : "");
}

/** What a finished training command reports. */
export interface TrainOutcome {
  /** Logs of each epoch that ran (with `eval_*` after evaluations). */
  history: Logs[];
  /** Checkpoint folder. */
  saveDir: string;
  /** Scalar log file. */
  logFile: string;
  /** The process exit code: 0, or what stopped or failed training ({@linkcode ExitCode}). */
  exitCode: number;
}

/** Remembers whether a step began, so a failure before it is not reported as mid-training. */
class StepWatch extends Callback {
  started = false;
  override onTrainBatchBegin(): void {
    this.started = true;
  }
}

/** The command line that continues this run: the same flags, `--resume latest`. */
function resumeCommandFor(command: string, args: string[], saveDir: string): string {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--resume") i++;
    else if (!args[i].startsWith("--resume=")) kept.push(args[i]);
  }
  const hasSaveDir = kept.some((a) => a === "--save-dir" || a.startsWith("--save-dir="));
  return [`deno task ${command}`, ...kept, "--resume latest"]
    .concat(hasSaveDir ? [] : ["--save-dir", saveDir]).join(" ");
}

/** Command-line problems found without loading anything; returns what resuming starts from. */
async function check(v: FlagValues, saveDir: string): Promise<string | undefined> {
  if (Number(v.momentum) >= 1) {
    throw new UsageError(`--momentum must be below 1, got ${v.momentum}`);
  }
  checkDataRequest({
    dataset: v.dataset as DatasetName,
    data: v.data as string | undefined,
  });
  checkPluginFiles(v.plugin as string[]);
  if (v.resume !== undefined && v["init-weights"] !== undefined) {
    throw new UsageError("give --resume or --init-weights, not both");
  }
  if (v.resume === "latest") {
    const point = await findResumePoint(saveDir);
    for (const s of point.skipped) console.error(`skipping damaged ${s.dir}: ${s.problem}`);
    if (point.dir === null) {
      throw new UsageError(`--resume latest: no intact checkpoint in ${saveDir}`);
    }
    return point.dir;
  }
  if (v.resume !== undefined) {
    const dir = String(v.resume);
    try {
      if (!(await Deno.stat(join(dir, "manifest.json"))).isFile) throw new Error();
    } catch {
      throw new UsageError(`--resume ${dir}: not a checkpoint folder (no manifest.json)`);
    }
    return dir;
  }
  return undefined;
}

async function initWeights(model: Model, path: string): Promise<void> {
  let bytes: Uint8Array | undefined;
  let source = path;
  if ((await Deno.stat(path)).isFile) {
    bytes = await Deno.readFile(path);
  } else {
    // A checkpoint folder: its weights only, so the step count and optimiser start fresh.
    source = `${path}/model.safetensors`;
    bytes = (await readCheckpoint(path)).files["model.safetensors"];
    if (bytes === undefined) throw new Error(`--init-weights ${path}: no model.safetensors in it`);
  }
  loadNetworkTensors(model.net, decodeSafetensors(bytes, source).tensors, { source });
}

function formatSettings(rows: [string, unknown][]): string {
  const w = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, val]) => `  ${(k + ":").padEnd(w)}${val}`).join("\n");
}

/**
 * Runs a training command with the given defaults. Resolves to null after `--help`, else to the
 * outcome. Throws {@linkcode UsageError} for a bad command line before any work starts.
 */
export async function train(
  command: string,
  summary: string,
  defaults: TrainDefaults,
  args: string[],
  extraCallbacks: Callback[] = [],
): Promise<TrainOutcome | null> {
  const v = parseFlags(command, `${summary}\n\n${PLUGIN_RULE}`, trainFlags(defaults), args);
  if (!v) return null;
  const blocks = parseBlocks(v.blocks);
  const draft: ModelConfig = {
    model: String(v.model),
    width: Number(v.width),
    classes: 0,
    inChannels: 0,
    blocks,
  };
  const saveDir = String(v["save-dir"] ?? join("output", networkFolderName(draft)))
    .replace(/\/+$/, "");
  const logDir = String(v["log-dir"]).replace(/\/+$/, "");
  const resumeFrom = await check(v, saveDir);
  const seed = Number(v.seed);
  const epochs = Number(v.epochs);
  const batchSize = Number(v["batch-size"]);
  const augment = defaults.augment ? !v["no-augment"] : v.augment === true;
  const settings: Record<string, unknown> = {
    ...Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)),
    "save-dir": saveDir,
  };
  const plugins = await loadPlugins(v.plugin as string[], {
    command,
    ...Object.fromEntries(
      Object.entries(settings).map(([k, x]) => [k.replace(/-(.)/g, (_, c) => c.toUpperCase()), x]),
    ),
  });

  const backend = await startBackend(v);
  const data = await loadData({
    dataset: v.dataset as DatasetName,
    data: v.data as string | undefined,
    limitTrain: v["limit-train"] as number | undefined,
    limitEval: v["limit-eval"] as number | undefined,
    augment,
    seed,
  });
  const config: ModelConfig = {
    ...draft,
    classes: data.classNames.length,
    inChannels: data.imageShape[2],
  };
  const model = new Model(buildNetwork(config, seed));
  try {
    model.prepare({
      optimizer: new MomentumSGD({
        schedule: warmupCosine({
          lr: Number(v.lr),
          warmupSteps: Number(v["warmup-steps"]),
          epochs,
        }),
        momentum: Number(v.momentum),
        weightDecay: Number(v["weight-decay"]),
      }),
      loss: "softmax_cross_entropy",
      metrics: ["acc_top1", "acc_top5"],
    });
    if (v["init-weights"] !== undefined) await initWeights(model, String(v["init-weights"]));
    const trainLoader = new DataLoader(data.train, {
      batchSize,
      shuffle: true,
      seed,
      transform: data.trainTransform,
      training: true,
    });
    const evalLoader = new DataLoader(data.test, {
      batchSize,
      shuffle: false,
      transform: data.evalTransform,
      training: false,
    });

    const previous = resumeFrom === undefined ? null : await readRunFile(saveDir);
    const stamp = new Date().toISOString().replaceAll(":", "-");
    const logFile = previous?.logFile.startsWith(`${logDir}/`)
      ? previous.logFile
      : `${logDir}/scalars-${stamp}-${Deno.pid}.jsonl`;
    const resumeCommand = resumeCommandFor(command, args, saveDir);
    const watch = new StepWatch();
    const callbacks: Callback[] = [
      new DeviceGuard(),
      new LRScheduler(),
      new TerminateOnNaN({ resumeCommand }),
      new ScalarLog({ file: logFile }),
      new ModelCheckpoint({ saveDir, saveFreq: Number(v["save-freq"]) }),
      new GracefulStop({ saveDir, resumeCommand }),
      ...extraCallbacks,
      ...plugins,
    ];
    const params = model.net.variables().reduce(
      (s, x) => s + (x.trainable ? x.variable.size : 0),
      0,
    );
    console.log(`${command}: ${model.net.name}`);
    console.log(formatSettings([
      [
        "model",
        `${config.model}, width ${config.width}, blocks ${blocks?.join(",") ?? "standard"}, ` +
        `${config.inChannels} input channels, ${config.classes} classes, ` +
        `${params.toLocaleString("en-US")} trainable parameters`,
      ],
      ["data", data.description + (augment ? ", augmented" : ", no augmentation")],
      ["epochs", `${epochs} × ${trainLoader.stepsPerEpoch} steps of batch ${batchSize}`],
      ["optimiser", `momentum SGD, momentum ${v.momentum}, weight decay ${v["weight-decay"]}`],
      [
        "lr",
        `${v.lr}, linear warm-up ${v["warmup-steps"]} steps, then cosine over ${epochs} epochs`,
      ],
      ["seed", seed],
      ["checkpoints", `${saveDir}/ every ${v["save-freq"]} epoch(s), and final`],
      ["scalar log", logFile],
      ["resume", resumeFrom ?? (v["init-weights"] ? `weights from ${v["init-weights"]}` : "no")],
      ["callbacks", [...callbacks.map((c) => c.constructor.name), "ProgressBar"].join(", ")],
      ["on Ctrl-C", `a checkpoint of the last step, then: ${resumeCommand}`],
      ["plugins", (v.plugin as string[]).join(", ") || "none"],
      ["backend", backend.summary],
    ]));

    await writeRunFile(saveDir, {
      format: 1,
      network: model.net.name,
      model: config,
      dataset: v.dataset as DatasetName,
      ...(v.data !== undefined ? { data: String(v.data) } : {}),
      classNames: [...data.classNames],
      logFile,
      settings,
    });
    let history: Logs[];
    try {
      history = await model.fit(trainLoader, evalLoader, {
        epochs,
        resumeFrom,
        verbose: 1,
        callbacks: [watch, ...callbacks],
      });
    } catch (e) {
      const failure = describeFailure(e, watch.started ? { model, resumeCommand } : {});
      console.error(`error: ${failure.message}`);
      return { history: [], saveDir, logFile, exitCode: failure.exitCode };
    }
    console.log(`checkpoints: ${saveDir}/ (last: ${model.lastCheckpoint ?? "none written"})`);
    console.log(`scalar log:  ${logFile}`);
    return { history, saveDir, logFile, exitCode: model.stopReason?.exitCode ?? ExitCode.ok };
  } finally {
    model.dispose();
  }
}

/** Runs the subcommand; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const outcome = await train(
    "train",
    "Train a ResNet-FCN; the defaults are the recipe (ResNet50-FCN on CIFAR-10).",
    RECIPE_DEFAULTS,
    args,
  );
  if (outcome === null) return 0;
  if (outcome.exitCode !== ExitCode.ok) return outcome.exitCode;
  const last = outcome.history.at(-1);
  if (last?.eval_acc_top1 !== undefined) {
    console.log(
      `final: eval loss ${last.eval_loss.toFixed(4)}, top-1 ${
        (100 * last.eval_acc_top1).toFixed(2)
      }%, ` +
        `top-5 ${(100 * last.eval_acc_top5).toFixed(2)}%`,
    );
  }
  return 0;
}
