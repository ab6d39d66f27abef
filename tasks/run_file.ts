/**
 * What `train` leaves in its save folder and how the other commands find it: the checkpoint a
 * `--checkpoint` path means, its weights with the architecture they define, and `run.json`,
 * written beside the checkpoints (`<saveDir>/run.json`) with the model, the dataset and the
 * scalar log of the run, so that `evaluate` needs only `--checkpoint` and a resumed run appends
 * to the same log.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { atomicWriteFile } from "../src/io/atomic.ts";
import { latestCheckpoint } from "../src/io/checkpoint.ts";
import type { HostTensor } from "../src/io/host_tensor.ts";
import { readWeights } from "../src/io/read_weights.ts";
import { inferResNetFCN } from "../src/nn/infer.ts";
import type { ResNetFCNOptions } from "../src/nn/resnet_fcn.ts";
import { type FlagSpec, UsageError } from "./flags.ts";
import type { ModelConfig } from "./common.ts";
import type { DatasetName } from "./data.ts";

/** File name inside the save folder. */
export const RUN_FILE = "run.json";

/** Contents of `run.json`. */
export interface RunFile {
  /** Version of this layout. */
  format: 1;
  /** Network name, e.g. `ResNet50-FCN`. */
  network: string;
  /** Architecture. */
  model: ModelConfig;
  /** Dataset trained on. */
  dataset: DatasetName;
  /** `--data` of the run, when given. */
  data?: string;
  /** Class names, in label order. */
  classNames: string[];
  /** Scalar log file of the run. */
  logFile: string;
  /** Every resolved training setting (flag name → value). */
  settings: Record<string, unknown>;
}

/** Writes `<saveDir>/run.json` atomically. */
export async function writeRunFile(saveDir: string, run: RunFile): Promise<void> {
  await Deno.mkdir(saveDir, { recursive: true });
  const text = JSON.stringify(run, null, 2) + "\n";
  await atomicWriteFile(join(saveDir, RUN_FILE), [new TextEncoder().encode(text)]);
}

/** Reads `run.json` from a save folder; null when there is none. */
export async function readRunFile(saveDir: string): Promise<RunFile | null> {
  const path = join(saveDir, RUN_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const run = JSON.parse(text) as RunFile;
  if (run.format !== 1) throw new Error(`${path}: format ${run.format} is not supported (1)`);
  return run;
}

/** The `run.json` of the run a checkpoint folder belongs to (in its parent folder), if any. */
export function runFileOf(checkpointDir: string): Promise<RunFile | null> {
  return readRunFile(dirname(checkpointDir.replace(/\/+$/, "")));
}

/** `--checkpoint`, required: a path {@linkcode resolveCheckpoint} accepts. */
export const CHECKPOINT_FLAG: FlagSpec = {
  name: "checkpoint",
  type: "string",
  required: true,
  existingPath: true,
  help: "Checkpoint folder, or a save folder (its newest intact checkpoint)",
};

/**
 * The checkpoint folder a `--checkpoint` path names: the folder itself when it holds a
 * `manifest.json`, else the newest intact checkpoint inside it (a save folder). Throws
 * {@linkcode UsageError} when there is none.
 */
export async function resolveCheckpoint(path: string): Promise<string> {
  try {
    if ((await Deno.stat(join(path, "manifest.json"))).isFile) return path.replace(/\/+$/, "");
  } catch {
    // Not a checkpoint folder itself: try it as a save folder below.
  }
  const latest = await latestCheckpoint(path);
  if (latest === null) {
    throw new UsageError(`${path} is neither a checkpoint folder nor a folder holding checkpoints`);
  }
  return latest;
}

/**
 * Weights (a checkpoint folder, verified against its manifest, or a weights file in any format
 * `readWeights` knows) and the architecture they define. PyTorch's BatchNorm step counters
 * (`*.num_batches_tracked`), which no other framework keeps, are left out.
 */
export async function readNetworkWeights(
  path: string,
): Promise<
  { tensors: Map<string, HostTensor>; arch: ResNetFCNOptions; network?: string; source: string }
> {
  const { tensors, metadata, source } = await readWeights(path);
  for (const name of [...tensors.keys()]) {
    if (name.endsWith(".num_batches_tracked")) tensors.delete(name);
  }
  let arch: ResNetFCNOptions;
  try {
    arch = inferResNetFCN(new Map([...tensors].map(([k, t]) => [k, t.shape])));
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  return { tensors, arch, network: metadata.network, source };
}

/** `--weights`: a weights file, the alternative to `--checkpoint`. */
export const WEIGHTS_FLAG: FlagSpec = {
  name: "weights",
  type: "string",
  existingPath: true,
  help: "Weights file instead of --checkpoint: .safetensors, PyTorch .pth/.pt or Paddle " +
    ".pdparams (told apart by content)",
};

/** `--checkpoint` where `--weights` may stand in for it. */
export const CHECKPOINT_OR_WEIGHTS_FLAGS: FlagSpec[] = [
  { ...CHECKPOINT_FLAG, required: false },
  WEIGHTS_FLAG,
];
