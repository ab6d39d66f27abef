/**
 * `trainer train`: the recipe, with every number a flag. Defaults are the recipe's: ResNet50-FCN
 * on CIFAR-10, 300 epochs, batch 512, LR 0.001 with 2,000 warm-up steps then cosine, momentum
 * 0.9, weight decay 5e-4, a checkpoint every epoch into `output/ResNet50-FCN`, the scalar log in
 * `vis_logs/`.
 *
 * Three steps, each exported so that `demo`, the tests and a user's own script can run them:
 * {@linkcode parseTrainArgs} checks everything the command line says before any work starts and
 * gives a typed {@linkcode TrainConfig}; {@linkcode buildTraining} loads the plugins, starts the
 * backend, loads the data and builds the model, the loaders and the callbacks (`trainCallbacks`:
 * DeviceGuard, LRScheduler, TerminateOnNaN, ScalarLog, TrainingReport, ModelCheckpoint,
 * GracefulStop, then the plugins); {@linkcode runTraining} prints the configuration, writes
 * `run.json` and runs `Model.fit`. `demo` is this same command with other defaults.
 *
 * @module
 */
import { join } from "node:path";
import { BACKEND_CHOICES, type BackendChoice, type BackendReport } from "../src/backend/select.ts";
import { findResumePoint } from "../src/io/checkpoint.ts";
import { describeInit, initFromTensors } from "../src/io/init_weights.ts";
import { pretrainedWeights } from "../src/io/pretrained.ts";
import { readWeights } from "../src/io/read_weights.ts";
import { RESNET_BLOCKS } from "../src/nn/resnet_fcn.ts";
import { Callback, type Logs } from "../src/train/callback.ts";
import type { LogFormat } from "../plugins/scalar_log.ts";
import { describeFailure, ExitCode } from "../src/train/errors.ts";
import { DataLoader } from "../src/train/loader.ts";
import { Model } from "../src/train/model.ts";
import { MomentumSGD } from "../src/train/optimizer.ts";
import { warmupCosine } from "../src/train/schedules.ts";
import {
  BACKEND_FLAG,
  buildNetwork,
  MODEL_NAMES,
  type ModelConfig,
  modelDepth,
  parseBlocks,
  PRECISION_FLAG,
  startBackend,
  WEBGPU_KERNELS_FLAG,
} from "./common.ts";
import {
  checkDataRequest,
  DATASET_NAMES,
  type DatasetName,
  loadData,
  type LoadedData,
} from "./data.ts";
import { Flags, type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import { type Precision, PRECISION_CHOICES } from "../src/backend/precision.ts";
import { LOG_FORMAT_FLAG, parseLogFormats } from "./log_formats.ts";
import { checkPluginFiles, loadPlugins, PLUGIN_RULE } from "./plugins.ts";
import { readRunFile, writeRunFile } from "./run_file.ts";
import { DISTRIBUTED_FLAGS, startDistributed } from "./distributed.ts";
import { trainCallbacks } from "./train_callbacks.ts";

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
    LOG_FORMAT_FLAG,
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
      help: "Start from these weights: .safetensors, .pth/.pt, .pdparams or a checkpoint " +
        "folder (fc.* dropped, a missing head stays fresh); optimiser starts fresh",
    },
    {
      name: "pretrained",
      type: "boolean",
      help: "Start from the ImageNet weights of --model (downloaded into the cache folder)",
    },
    {
      name: "init-weights-partial",
      type: "boolean",
      help: "Let --init-weights/--pretrained leave missing or misfitting tensors fresh (listed)",
    },
    BACKEND_FLAG,
    WEBGPU_KERNELS_FLAG,
    PRECISION_FLAG,
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
    ...DISTRIBUTED_FLAGS,
  ];
}

/** The checkpoint folder name of a model: `ResNet50-FCN`, `ResNet18-FCN_w8_b1-1-1-1`. */
export function networkFolderName(c: ModelConfig): string {
  return `ResNet${modelDepth(c.model)}-FCN` + (c.width !== 64 ? `_w${c.width}` : "") +
    (c.blocks ? `_b${c.blocks.join("-")}` : "");
}

/** A training command line, parsed and checked: every setting typed, nothing loaded yet. */
export interface TrainConfig {
  /** The command (`train`, `demo`), for messages and the resume command. */
  command: string;
  /** The command line as given (the resume command repeats it). */
  args: string[];
  /** The network (its `classes` and `inChannels` are 0 until the data is known). */
  model: ModelConfig;
  /** `--dataset`. */
  dataset: DatasetName;
  /** `--data`, when given. */
  data?: string;
  /** `--epochs` (also the cosine period). */
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
  /** Checkpoint folder (`--save-dir`, or `output/<network>`), without a trailing slash. */
  saveDir: string;
  /** `--save-freq`. */
  saveFreq: number;
  /** Scalar log folder, without a trailing slash. */
  logDir: string;
  /** `--log-format`: the scalar logs written. */
  logFormats: LogFormat[];
  /** The checkpoint folder `--resume` resolved to (`latest` looked up), if any. */
  resumeFrom?: string;
  /** `--init-weights`, if given (after `buildTraining`: the `--pretrained` file too). */
  initWeights?: string;
  /** `--pretrained`: start from the published ImageNet weights of the model. */
  pretrained: boolean;
  /** `--init-weights-partial`: missing or misfitting starting tensors stay fresh. */
  initWeightsPartial: boolean;
  /** `--backend`. */
  backend: BackendChoice;
  /** On webgpu: our WGSL training kernels or TensorFlow.js's stock ones. */
  webgpuKernels: "ours" | "stock";
  /** `--precision`. */
  precision: Precision;
  /** `--seed`. */
  seed: number;
  /** `--limit-train`. */
  limitTrain?: number;
  /** `--limit-eval`. */
  limitEval?: number;
  /** Training augmentation on. */
  augment: boolean;
  /** `--plugin` modules. */
  plugins: string[];
  /** `--distributed`: join an MPI job when launched in one (`auto`), or never (`off`). */
  distributed: "auto" | "off";
  /** `--sync-bn`: BatchNorm statistics over the whole global batch when data-parallel. */
  syncBN: boolean;
  /** Every resolved flag by name, as `run.json` records it and plugins receive it. */
  settings: Record<string, unknown>;
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

/** The checkpoint `--resume` names, looked up; throws {@linkcode UsageError} when there is none. */
async function resumePoint(resume: string, saveDir: string): Promise<string> {
  if (resume === "latest") {
    const point = await findResumePoint(saveDir);
    for (const s of point.skipped) console.error(`skipping damaged ${s.dir}: ${s.problem}`);
    if (point.dir === null) {
      throw new UsageError(`--resume latest: no intact checkpoint in ${saveDir}`);
    }
    return point.dir;
  }
  try {
    if (!(await Deno.stat(join(resume, "manifest.json"))).isFile) throw new Error();
  } catch {
    throw new UsageError(`--resume ${resume}: not a checkpoint folder (no manifest.json)`);
  }
  return resume;
}

/** `--pretrained` and `--init-weights-partial` fit the rest of the command line. */
function checkPretrainedRequest(
  r: {
    model: ModelConfig;
    pretrained: boolean;
    initWeights?: string;
    initWeightsPartial: boolean;
    resume?: string;
  },
): void {
  if (r.initWeightsPartial && r.initWeights === undefined && !r.pretrained) {
    throw new UsageError("--init-weights-partial needs --init-weights or --pretrained");
  }
  if (!r.pretrained) return;
  if (r.initWeights !== undefined || r.resume !== undefined) {
    throw new UsageError("give --pretrained, --init-weights or --resume, only one");
  }
  const { width, blocks } = r.model;
  const own = RESNET_BLOCKS[modelDepth(r.model.model)];
  if (width !== 64 || (blocks && blocks.join(",") !== own.join(","))) {
    throw new UsageError(
      `--pretrained needs the published network: --width 64 and blocks ${own.join(",")} ` +
        `(got width ${width}, blocks ${blocks?.join(",") ?? own.join(",")})`,
    );
  }
}

/**
 * Parses and checks a training command line with the given defaults, loading nothing (the
 * `--resume latest` lookup aside). Resolves to null after `--help`. Throws
 * {@linkcode UsageError} for a bad command line.
 */
export async function parseTrainArgs(
  command: string,
  summary: string,
  defaults: TrainDefaults,
  args: string[],
): Promise<TrainConfig | null> {
  const values = parseFlags(command, `${summary}\n\n${PLUGIN_RULE}`, trainFlags(defaults), args);
  if (!values) return null;
  const f = new Flags(values);
  const model: ModelConfig = {
    model: f.choice("model", MODEL_NAMES),
    width: f.number("width"),
    classes: 0,
    inChannels: 0,
    blocks: parseBlocks(f.optionalString("blocks")),
  };
  const saveDir = (f.optionalString("save-dir") ?? join("output", networkFolderName(model)))
    .replace(/\/+$/, "");
  const momentum = f.number("momentum");
  if (momentum >= 1) throw new UsageError(`--momentum must be below 1, got ${momentum}`);
  const dataset = f.choice("dataset", DATASET_NAMES);
  const data = f.optionalString("data");
  checkDataRequest({ dataset, data });
  const plugins = f.list("plugin");
  checkPluginFiles(plugins);
  const logFormats = parseLogFormats(f.string("log-format"));
  const resume = f.optionalString("resume");
  const initWeights = f.optionalString("init-weights");
  if (resume !== undefined && initWeights !== undefined) {
    throw new UsageError("give --resume or --init-weights, not both");
  }
  const pretrained = f.boolean("pretrained");
  const initWeightsPartial = f.boolean("init-weights-partial");
  checkPretrainedRequest({ model, pretrained, initWeights, initWeightsPartial, resume });
  const resumeFrom = resume === undefined ? undefined : await resumePoint(resume, saveDir);
  return {
    command,
    args,
    model,
    dataset,
    data,
    epochs: f.number("epochs"),
    batchSize: f.number("batch-size"),
    lr: f.number("lr"),
    warmupSteps: f.number("warmup-steps"),
    momentum,
    weightDecay: f.number("weight-decay"),
    saveDir,
    saveFreq: f.number("save-freq"),
    logDir: f.string("log-dir").replace(/\/+$/, ""),
    logFormats,
    resumeFrom,
    initWeights,
    pretrained,
    initWeightsPartial,
    backend: f.choice("backend", BACKEND_CHOICES),
    webgpuKernels: f.choice("webgpu-kernels", ["ours", "stock"] as const),
    precision: f.choice("precision", PRECISION_CHOICES),
    seed: f.number("seed"),
    limitTrain: f.optionalNumber("limit-train"),
    limitEval: f.optionalNumber("limit-eval"),
    augment: defaults.augment ? !f.boolean("no-augment") : f.boolean("augment"),
    plugins,
    distributed: f.choice("distributed", ["auto", "off"] as const),
    syncBN: f.boolean("sync-bn"),
    settings: {
      ...Object.fromEntries(Object.entries(values).filter(([, x]) => x !== undefined)),
      "save-dir": saveDir,
    },
  };
}

/** Everything a training run needs, built from a {@linkcode TrainConfig}; see `buildTraining`. */
export interface TrainingRun {
  /** The configuration it was built from, its model's classes and channels filled in. */
  config: TrainConfig;
  /** The prepared model (weights from `--init-weights` when given). */
  model: Model;
  /** Training batches. */
  trainLoader: DataLoader;
  /** Evaluation batches. */
  evalLoader: DataLoader;
  /** The loaded data (its class names and description). */
  data: LoadedData;
  /** The backend that runs it. */
  backend: BackendReport;
  /** False on the ranks other than 0 of a data-parallel run: those write no files. */
  leader: boolean;
  /** Scalar log file (the resumed run's own when resuming). */
  logFile: string;
  /** The command line that continues the run. */
  resumeCommand: string;
  /** Every callback, in call order: the built-ins, then the extra ones, then the plugins. */
  callbacks: Callback[];
}

/**
 * Loads a starting point into `model`: a weights file in any format, or a checkpoint folder's
 * weights only (step and optimiser start fresh). `partial` lets missing or misfitting tensors
 * stay fresh (listed).
 */
async function initWeights(model: Model, path: string, partial: boolean): Promise<void> {
  const { tensors, source } = await readWeights(path);
  const report = initFromTensors(model.net, tensors, { source, partial });
  for (const line of describeInit(report)) console.log(line);
}

/**
 * Loads what a parsed command line names: the plugins, the backend, the data, the model (with
 * `--init-weights`), the loaders, and the callbacks (`trainCallbacks`, then `extraCallbacks`,
 * then the plugins). The caller disposes `run.model` (`runTraining` does).
 */
export async function buildTraining(
  config: TrainConfig,
  extraCallbacks: Callback[] = [],
): Promise<TrainingRun> {
  const { command, seed, batchSize, saveDir, logDir } = config;
  // The published weights are fetched (or found in the cache) before anything heavy starts.
  const initFrom = config.pretrained
    ? await pretrainedWeights(modelDepth(config.model.model))
    : config.initWeights;
  const plugins = await loadPlugins(config.plugins, {
    command,
    ...Object.fromEntries(
      Object.entries(config.settings).map((
        [k, x],
      ) => [k.replace(/-(.)/g, (_, c) => c.toUpperCase()), x]),
    ),
  });
  const dist = startDistributed({ distributed: config.distributed, "sync-bn": config.syncBN });
  const leader = dist?.leader ?? true;
  const backend = await startBackend({
    backend: config.backend,
    "webgpu-kernels": config.webgpuKernels,
    precision: config.precision,
  });
  const data = await loadData({
    dataset: config.dataset,
    data: config.data,
    limitTrain: config.limitTrain,
    limitEval: config.limitEval,
    augment: config.augment,
    seed,
  });
  const built: TrainConfig = {
    ...config,
    initWeights: initFrom,
    model: { ...config.model, classes: data.classNames.length, inChannels: data.imageShape[2] },
  };
  const model = new Model(buildNetwork(built.model, seed));
  try {
    model.prepare({
      optimizer: new MomentumSGD({
        schedule: warmupCosine({
          lr: config.lr,
          warmupSteps: config.warmupSteps,
          epochs: config.epochs,
        }),
        momentum: config.momentum,
        weightDecay: config.weightDecay,
      }),
      loss: "softmax_cross_entropy",
      metrics: ["acc_top1", "acc_top5"],
    });
    if (initFrom !== undefined) await initWeights(model, initFrom, config.initWeightsPartial);
    const previous = config.resumeFrom === undefined ? null : await readRunFile(saveDir);
    const stamp = new Date().toISOString().replaceAll(":", "-");
    const logFile = previous?.logFile.startsWith(`${logDir}/`)
      ? previous.logFile
      : `${logDir}/scalars-${stamp}-${Deno.pid}.jsonl`;
    const resumeCommand = resumeCommandFor(command, config.args, saveDir);
    const newLoader = dist
      ? dist.loader.bind(dist)
      : (...a: ConstructorParameters<typeof DataLoader>) => new DataLoader(...a);
    const evalOptions = {
      batchSize,
      shuffle: false,
      transform: data.evalTransform,
      training: false,
    };
    const evalLoader = newLoader(data.test, evalOptions);
    const ranks = dist?.attach(model);
    return {
      config: built,
      model,
      trainLoader: newLoader(data.train, {
        batchSize,
        shuffle: true,
        seed,
        transform: data.trainTransform,
        training: true,
      }),
      evalLoader,
      data,
      backend,
      leader,
      logFile,
      resumeCommand,
      callbacks: [
        ...(ranks ? [ranks.first] : []),
        ...trainCallbacks({
          saveDir,
          saveFreq: config.saveFreq,
          logFile,
          resumeCommand,
          logFormats: config.logFormats,
          runFile: join(saveDir, "run.json"),
          // The report (rank 0's alone) scores the whole test set, not rank 0's shard of it.
          report: {
            classNames: data.classNames,
            evalData: dist ? new DataLoader(data.test, evalOptions) : evalLoader,
          },
          leader,
        }),
        ...extraCallbacks,
        ...plugins,
        ...(ranks ? [ranks.last] : []),
      ],
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

function formatSettings(rows: [string, unknown][]): string {
  const w = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, val]) => `  ${(k + ":").padEnd(w)}${val}`).join("\n");
}

/** The configuration printout at the start of a run. */
function describeRun(run: TrainingRun): string {
  const { config, model, data, trainLoader, callbacks } = run;
  const { model: m, epochs, batchSize } = config;
  const params = model.net.variables().reduce(
    (s, x) => s + (x.trainable ? x.variable.size : 0),
    0,
  );
  return formatSettings([
    [
      "model",
      `${m.model}, width ${m.width}, blocks ${m.blocks?.join(",") ?? "standard"}, ` +
      `${m.inChannels} input channels, ${m.classes} classes, ` +
      `${params.toLocaleString("en-US")} trainable parameters`,
    ],
    ["data", data.description + (config.augment ? ", augmented" : ", no augmentation")],
    ["epochs", `${epochs} × ${trainLoader.stepsPerEpoch} steps of batch ${batchSize}`],
    ["optimiser", `momentum SGD, momentum ${config.momentum}, weight decay ${config.weightDecay}`],
    [
      "lr",
      `${config.lr}, linear warm-up ${config.warmupSteps} steps, then cosine over ${epochs} epochs`,
    ],
    ["seed", config.seed],
    ["checkpoints", `${config.saveDir}/ every ${config.saveFreq} epoch(s), and final`],
    ["scalar log", run.logFile],
    [
      "resume",
      config.resumeFrom ?? (config.initWeights ? `weights from ${config.initWeights}` : "no"),
    ],
    ["callbacks", [...callbacks.map((c) => c.constructor.name), "ProgressBar"].join(", ")],
    ["on Ctrl-C", `a checkpoint of the last step, then: ${run.resumeCommand}`],
    ["plugins", config.plugins.join(", ") || "none"],
    ["backend", run.backend.summary],
  ]);
}

/**
 * Runs a built training: prints the configuration, writes `run.json`, fits, and reports where
 * the checkpoints and the log went, or why training failed (with the exit code). Disposes the
 * model.
 */
export async function runTraining(run: TrainingRun): Promise<TrainOutcome> {
  const { config, model, logFile, resumeCommand } = run;
  const { command, saveDir, logDir } = config;
  try {
    console.log(`${command}: ${model.net.name}`);
    console.log(describeRun(run));
    // Rank 0 alone writes files.
    const writeRun = run.leader ? writeRunFile : () => Promise.resolve();
    await writeRun(saveDir, {
      format: 1,
      network: model.net.name,
      model: config.model,
      dataset: config.dataset,
      ...(config.data !== undefined ? { data: config.data } : {}),
      classNames: [...run.data.classNames],
      logFile,
      settings: config.settings,
    });
    const watch = new StepWatch();
    let history: Logs[];
    try {
      history = await model.fit(run.trainLoader, run.evalLoader, {
        epochs: config.epochs,
        resumeFrom: config.resumeFrom,
        verbose: run.leader ? 1 : 0,
        callbacks: [watch, ...run.callbacks],
      });
    } catch (e) {
      const failure = describeFailure(e, watch.started ? { model, resumeCommand } : {});
      console.error(`error: ${failure.message}`);
      return { history: [], saveDir, logFile, exitCode: failure.exitCode };
    }
    console.log(`checkpoints: ${saveDir}/ (last: ${model.lastCheckpoint ?? "none written"})`);
    console.log(`scalar log:  ${logFile}`);
    console.log(
      `report:      ${saveDir}/report.html (curves: deno task board --log-dir ${logDir})`,
    );
    return { history, saveDir, logFile, exitCode: model.stopReason?.exitCode ?? ExitCode.ok };
  } finally {
    model.dispose();
  }
}

/**
 * Runs a training command with the given defaults: {@linkcode parseTrainArgs}, then
 * {@linkcode buildTraining}, then {@linkcode runTraining}. Resolves to null after `--help`, else
 * to the outcome. Throws {@linkcode UsageError} for a bad command line before any work starts.
 */
export async function train(
  command: string,
  summary: string,
  defaults: TrainDefaults,
  args: string[],
  extraCallbacks: Callback[] = [],
): Promise<TrainOutcome | null> {
  const config = await parseTrainArgs(command, summary, defaults, args);
  if (config === null) return null;
  return await runTraining(await buildTraining(config, extraCallbacks));
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
