/**
 * What a training checkpoint holds and how it is written and read back: a checkpoint folder
 * (crash-safe, verified on read: `src/io/checkpoint.ts`) with
 * - `model.safetensors`: the weights under the recipe's names, conv kernels OIHW;
 * - `optimizer.safetensors`: the momentum buffers (tfjs layout: HWIO kernels), when the model
 *   was prepared;
 * - `state.json` ({@linkcode StateFile}): the network's name, the schedule's state and the
 *   optimiser's settings;
 * - the manifest's `meta`: the global step and the position (next epoch and batch), stored only
 *   there, and the last epoch completed (the recipe's checkpoint name).
 *
 * `Model.save` and `Model.load` are these two functions on the model's own parts. Checkpoints
 * written before the step and position moved out of `state.json` (its format 1) read the same,
 * since their manifest always held both.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { readTrainingCheckpoint, writeTrainingCheckpoint } from "./checkpoint_format.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 *
 * const net = resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 });
 * const dir = `${await Deno.makeTempDir()}/0`;
 * await writeTrainingCheckpoint(dir, { net, optimizer: null, globalStep: 7, position: { epoch: 1, batch: 0 } });
 * const state = await readTrainingCheckpoint(dir, { net, optimizer: null });
 * console.log(state?.globalStep, state?.position); // 7 { epoch: 1, batch: 0 }
 * net.dispose();
 * ```
 *
 * @module
 */
import type { Tensor } from "../tensor_types.ts";
import type { Network } from "../nn/network.ts";
import { CheckpointError, writeCheckpoint } from "../io/checkpoint.ts";
import { CHECKPOINT_WEIGHTS_FILE, readWeights } from "../io/read_weights.ts";
import { decodeSafetensors, encodeSafetensors, type HostTensor } from "../io/safetensors.ts";
import { loadNetworkTensors, networkTensors } from "../io/weights.ts";
import type { MomentumSGD } from "./optimizer.ts";
import type { ScheduleState } from "./schedules.ts";

/** File names inside a checkpoint folder. */
export const CHECKPOINT_FILES = {
  weights: CHECKPOINT_WEIGHTS_FILE,
  optimizer: "optimizer.safetensors",
  state: "state.json",
} as const;

/** Contents of a checkpoint's `state.json` (format 2; format 1 also held the step and position). */
export interface StateFile {
  /** Layout version: 2 (1 is read too). */
  format: 1 | 2;
  /** Network name, e.g. `ResNet50-FCN`. */
  network: string;
  /** The schedule's state, when the model was prepared. */
  schedule?: ScheduleState;
  /** The optimiser's settings, when the model was prepared. */
  optimizer?: { kind: "momentum_sgd"; momentum: number; weightDecay: number };
}

/** Where a run stands: the next batch to train (`position`) and the steps done. */
export interface TrainingPosition {
  /** Training steps done over the whole run. */
  globalStep: number;
  /** Epoch and batch (within it) of the next training step. */
  position: { epoch: number; batch: number };
}

/** What a checkpoint is written from and read into. */
export interface TrainingParts {
  /** The network. */
  net: Network;
  /** The optimiser, or null when only weights and the position are kept. */
  optimizer: MomentumSGD | null;
}

const encoder = new TextEncoder();

async function toHost(t: Tensor): Promise<HostTensor> {
  return { dtype: "float32", shape: [...t.shape], data: await t.data() as Float32Array };
}

/**
 * Writes a training checkpoint folder at `dir` (replacing an old one atomically): weights,
 * optimiser state when there is an optimiser, and the position.
 */
export async function writeTrainingCheckpoint(
  dir: string,
  parts: TrainingParts & TrainingPosition,
): Promise<void> {
  const { net, optimizer, globalStep, position } = parts;
  const state: StateFile = { format: 2, network: net.name };
  const files: Record<string, Uint8Array> = {
    [CHECKPOINT_FILES.weights]: encodeSafetensors(await networkTensors(net), {
      format: "pt",
      network: net.name,
    }),
  };
  if (optimizer !== null) {
    const buffers = new Map<string, HostTensor>();
    for (const { name, variable } of optimizer.buffers(net.variables())) {
      buffers.set(name, await toHost(variable));
    }
    files[CHECKPOINT_FILES.optimizer] = encodeSafetensors(buffers, { layout: "tfjs-hwio" });
    state.schedule = optimizer.schedule.state();
    state.optimizer = {
      kind: "momentum_sgd",
      momentum: optimizer.momentum,
      weightDecay: optimizer.weightDecay,
    };
  }
  files[CHECKPOINT_FILES.state] = encoder.encode(JSON.stringify(state, null, 2) + "\n");
  const { epoch, batch } = position;
  await writeCheckpoint(dir, files, {
    network: net.name,
    globalStep,
    // The last epoch completed, as the recipe names checkpoints.
    epoch: batch === 0 ? epoch - 1 : epoch,
    position: { epoch, batch },
  });
}

function isCount(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

/** The step and position in a manifest's `meta`; throws naming the checkpoint when absent. */
function positionOf(dir: string, meta: Record<string, unknown>): TrainingPosition {
  const { globalStep, position } = meta as { globalStep?: unknown; position?: unknown };
  const p = position as { epoch?: unknown; batch?: unknown } | undefined;
  if (!isCount(globalStep) || typeof p !== "object" || !isCount(p?.epoch) || !isCount(p?.batch)) {
    throw new CheckpointError(dir, "manifest.json holds no global step and position");
  }
  return { globalStep, position: { epoch: p.epoch, batch: p.batch } };
}

/**
 * Restores a training checkpoint: a folder written by {@linkcode writeTrainingCheckpoint}
 * (weights always; momentum and schedule state when `parts.optimizer` is given, and both must
 * be present then), or a weights file (weights only; the position is then `null`). Every file is
 * verified first (see `readWeights`). Throws naming the file and the problem; after a throw the
 * network or optimiser may be partly restored.
 */
export async function readTrainingCheckpoint(
  path: string,
  parts: TrainingParts,
): Promise<TrainingPosition | null> {
  const weights = await readWeights(path);
  const { net, optimizer } = parts;
  if (weights.checkpoint === undefined) {
    loadNetworkTensors(net, weights.tensors, { strict: true, source: weights.source });
    return null;
  }
  const { dir, files, meta } = weights.checkpoint;
  const need = (name: string) => {
    const bytes = files[name];
    if (bytes === undefined) throw new Error(`checkpoint ${dir}: missing file ${name}`);
    return bytes;
  };
  // Past the manifest's checksums, what remains wrong is a mismatch, not damage: plain errors.
  const state: StateFile = JSON.parse(new TextDecoder().decode(need(CHECKPOINT_FILES.state)));
  if (state.format !== 1 && state.format !== 2) {
    throw new Error(`checkpoint ${dir}: state.json format ${state.format} is not supported (1, 2)`);
  }
  const at = positionOf(dir, meta);
  if (optimizer === null) {
    loadNetworkTensors(net, weights.tensors, { strict: true, source: weights.source });
    return at;
  }
  if (state.schedule === undefined || state.optimizer === undefined) {
    throw new Error(`checkpoint ${dir}: holds no optimiser state to resume from`);
  }
  if (
    state.optimizer.momentum !== optimizer.momentum ||
    state.optimizer.weightDecay !== optimizer.weightDecay
  ) {
    throw new Error(
      `checkpoint ${dir}: optimiser momentum ${state.optimizer.momentum} / weight decay ` +
        `${state.optimizer.weightDecay}, but this model's are ${optimizer.momentum} / ` +
        `${optimizer.weightDecay}`,
    );
  }
  const optSource = `${dir}/${CHECKPOINT_FILES.optimizer}`;
  const buffers = decodeSafetensors(need(CHECKPOINT_FILES.optimizer), optSource).tensors;
  // Cheapest checks first; each step validates before it assigns anything.
  optimizer.schedule.loadState(state.schedule);
  loadNetworkTensors(net, weights.tensors, { strict: true, source: weights.source });
  optimizer.loadBuffers(
    net.variables(),
    buffers as Map<string, { shape: number[]; data: Float32Array }>,
    optSource,
  );
  return at;
}
