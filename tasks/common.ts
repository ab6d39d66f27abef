/**
 * What several subcommands share: the model and backend flags, building the network they name,
 * and starting the backend with its one-line report.
 *
 * @module
 */
import { BACKEND_CHOICES, type BackendChoice, selectBackend } from "../src/backend/select.ts";
import type { BackendReport } from "../src/backend/select.ts";
import { WEBGPU_KERNEL_CHOICES, type WebGPUKernels } from "../src/backend/webgpu_kernels.ts";
import { type Precision, PRECISION_CHOICES, precisionProblem } from "../src/backend/precision.ts";
import { setNativePrecision } from "../src/backend/native.ts";
import { type ResNetDepth, resnetFCN } from "../src/nn/resnet_fcn.ts";
import type { Network } from "../src/nn/network.ts";
import { type FlagSpec, type FlagValues, UsageError } from "./flags.ts";

/** Model names the CLI accepts. */
export const MODEL_NAMES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"] as const;

/** `--backend`. */
export const BACKEND_FLAG: FlagSpec = {
  name: "backend",
  type: "string",
  choices: BACKEND_CHOICES,
  default: "auto",
  help: "Compute backend: auto picks a GPU, else native CPU, else WebGPU on a software adapter",
};

/** `--webgpu-kernels`. */
export const WEBGPU_KERNELS_FLAG: FlagSpec = {
  name: "webgpu-kernels",
  type: "string",
  choices: WEBGPU_KERNEL_CHOICES,
  default: "ours",
  help: "On webgpu: our WGSL training kernels, or TensorFlow.js's stock ones",
};

/** `--precision`. */
export const PRECISION_FLAG: FlagSpec = {
  name: "precision",
  type: "string",
  choices: PRECISION_CHOICES,
  default: "f32",
  help:
    "Kernel arithmetic: f32, bf16 (native on a CPU with AVX-512 BF16 or AMX) or f16 (webgpu with shader-f16)",
};

/** `--model`, `--width`, `--classes`, `--blocks`. */
export const MODEL_FLAGS: FlagSpec[] = [
  { name: "model", type: "string", choices: MODEL_NAMES, default: "resnet50", help: "Network" },
  { name: "width", type: "integer", min: 1, default: 64, help: "Base planes W (64 = the recipe)" },
  { name: "classes", type: "integer", min: 1, default: 10, help: "Number of classes" },
  {
    name: "blocks",
    type: "string",
    help: "Blocks per stage as four numbers, e.g. 1,1,1,1 (default: the depth's own)",
  },
];

/** Parses `--blocks` ("1,1,1,1"). */
export function parseBlocks(raw: unknown): [number, number, number, number] | undefined {
  if (raw === undefined) return undefined;
  const parts = String(raw).split(",").map((p) => Number(p.trim()));
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new UsageError(`--blocks needs four positive whole numbers like 1,1,1,1, got "${raw}"`);
  }
  return parts as [number, number, number, number];
}

/** The depth named by a model flag value such as `resnet50`. */
export function modelDepth(name: string): ResNetDepth {
  return Number(name.replace("resnet", "")) as ResNetDepth;
}

/** Model architecture settings, as flags give them and checkpoints record them. */
export interface ModelConfig {
  /** `resnet50` etc. */
  model: string;
  /** Base planes. */
  width: number;
  /** Number of classes. */
  classes: number;
  /** Input channels. */
  inChannels: number;
  /** Blocks per stage, when not the depth's own. */
  blocks?: [number, number, number, number];
}

/** Reads the model flags. */
export function modelConfig(v: FlagValues, inChannels = 3): ModelConfig {
  return {
    model: String(v.model),
    width: Number(v.width),
    classes: Number(v.classes),
    inChannels,
    blocks: parseBlocks(v.blocks),
  };
}

/** Builds the network a config describes. */
export function buildNetwork(c: ModelConfig, seed = 0): Network {
  return resnetFCN({
    depth: modelDepth(c.model),
    width: c.width,
    numClasses: c.classes,
    inChannels: c.inChannels,
    blocks: c.blocks,
    seed,
  });
}

/**
 * Starts the requested backend and prints which one runs and why (stderr). Throws
 * {@linkcode UsageError} when `--precision` asks for what the backend cannot do.
 */
export async function startBackend(v: FlagValues): Promise<BackendReport> {
  const report = await selectBackend(String(v.backend ?? "auto") as BackendChoice, {
    webgpuKernels: (v["webgpu-kernels"] ?? "ours") as WebGPUKernels,
  });
  const precision = (v.precision ?? "f32") as Precision;
  const problem = precisionProblem(precision, report);
  if (problem !== null) throw new UsageError(problem);
  if (precision === "bf16") {
    try {
      setNativePrecision("bf16");
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  console.error(report.summary);
  if (precision === "bf16") {
    console.error(
      "precision bf16: convolutions take bfloat16 inputs, accumulate in f32; " +
        "weights, optimiser, BatchNorm and loss stay f32",
    );
  }
  return report;
}
