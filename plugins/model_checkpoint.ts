/**
 * Saves a checkpoint after every `saveFreq`-th epoch, named by the epoch number from 0
 * (`<saveDir>/0`, `<saveDir>/1`, …), and `<saveDir>/final` when training ends.
 *
 * Each checkpoint is a folder written by `Model.save`: `model.safetensors` (weights, BN moving
 * statistics included, under the recipe's names), `optimizer.safetensors` (momentum buffers),
 * `state.json` (schedule state) and the manifest (global step, position); see
 * `src/train/checkpoint_format.ts`. Folders are written beside their final
 * name and renamed into place, so a crash while saving leaves the previous complete checkpoint,
 * never a half-written one. Resume with `fit(..., { resumeFrom: "<saveDir>/<k>" })`.
 *
 * A state whose loss is not finite is not saved (the message says so): a diverged run must not
 * overwrite the last good checkpoint or produce a `final` one. An epoch cut short (training
 * stopped inside it) gets no epoch checkpoint, and a run a callback stopped with a reason
 * (`model.stopReason`: an interrupt, a non-finite loss) gets no `final` one: `GracefulStop`
 * saves the interrupted position itself.
 *
 * Before training starts the save folder is created if needed and proven writable, with room
 * for one checkpoint (a probe file of that size is written and removed), so an unwritable folder
 * or a full disk fails at once, not after the first epoch. A write that fails later (disk full)
 * throws a `CheckpointError` naming the checkpoint; the previous checkpoints stay complete and no
 * partial folder is left.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { ModelCheckpoint } from "./model_checkpoint.ts";
 * import { Model } from "../src/train/model.ts";
 * import { resnetFCN } from "../src/nn/resnet_fcn.ts";
 * import { syntheticDataset } from "../src/data/synthetic.ts";
 *
 * const data = syntheticDataset({ length: 4, numClasses: 2 });
 * const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 }));
 * model.prepare();
 * const saveDir = await Deno.makeTempDir();
 * await model.fit(data, data, {
 *   epochs: 2,
 *   batchSize: 4,
 *   verbose: 0,
 *   callbacks: [new ModelCheckpoint({ saveDir, log: () => {} })],
 * });
 * console.log(model.lastCheckpoint === `${saveDir}/final`); // true
 * model.dispose();
 * ```
 *
 * @module
 */
import { Callback, type Logs, type TrainingModel } from "../src/train/callback.ts";
import { ensureWritableDir } from "../src/io/checkpoint.ts";
import { ensureFreeSpace } from "../src/io/space.ts";

/** Options of {@linkcode ModelCheckpoint}. */
export interface ModelCheckpointOptions {
  /** Folder holding the checkpoints (default `output/ResNet50-FCN`). */
  saveDir?: string;
  /** Save after every `saveFreq`-th epoch (default 1). */
  saveFreq?: number;
  /** Save `final` when training ends (default true). */
  saveFinal?: boolean;
  /** Check before training that one checkpoint fits in the save folder (default true). */
  checkSpace?: boolean;
  /** Where notices go (default `console.error`). */
  log?: (message: string) => void;
}

/** Writes epoch checkpoints; see the module documentation. */
export class ModelCheckpoint extends Callback {
  /** Folder holding the checkpoints. */
  readonly saveDir: string;
  /** Epochs between checkpoints. */
  readonly saveFreq: number;
  readonly #saveFinal: boolean;
  readonly #checkSpace: boolean;
  readonly #log: (message: string) => void;

  /**
   * Creates the plugin; see the options for the defaults.
   *
   * @param opts See {@linkcode ModelCheckpointOptions}.
   */
  constructor(opts: ModelCheckpointOptions = {}) {
    super();
    this.saveDir = (opts.saveDir ?? "output/ResNet50-FCN").replace(/\/+$/, "");
    this.saveFreq = opts.saveFreq ?? 1;
    if (!Number.isInteger(this.saveFreq) || this.saveFreq < 1) {
      throw new Error(`ModelCheckpoint: saveFreq must be an integer >= 1, got ${this.saveFreq}`);
    }
    this.#saveFinal = opts.saveFinal ?? true;
    this.#checkSpace = opts.checkSpace ?? true;
    this.#log = opts.log ?? console.error;
  }

  /** Checks that the save folder is writable and has room for one checkpoint. */
  override async onTrainBegin(): Promise<void> {
    // Fail before the first epoch, not after hours of training.
    await ensureWritableDir(this.saveDir);
    if (this.#checkSpace) await ensureFreeSpace(this.saveDir, checkpointBytes(this.model));
  }

  /** Saves checkpoint `<epoch>` every `saveFreq` epochs, if the epoch ran to its end. */
  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if ((epoch + 1) % this.saveFreq !== 0) return;
    const { epoch: next, batch } = this.model.position;
    await this.#save(String(epoch), logs, next === epoch + 1 && batch === 0);
  }

  /** Saves `final` when training ended normally. */
  override async onTrainEnd(logs: Logs): Promise<void> {
    if (this.#saveFinal) await this.#save("final", logs, this.model.stopReason === null);
  }

  /** Saves `name` when `wanted`, unless the loss is not finite (said in a notice). */
  async #save(name: string, logs: Logs, wanted: boolean): Promise<void> {
    const dir = `${this.saveDir}/${name}`;
    if ("loss" in logs && !Number.isFinite(logs.loss)) {
      // After TerminateOnNaN's stop its own message says it all; its last line stays last.
      if (this.model.stopReason?.kind !== "non_finite") {
        this.#log(`ModelCheckpoint: loss is ${logs.loss}; not saving ${dir}`);
      }
      return;
    }
    if (wanted) await this.model.save(dir);
  }
}

/** A generous estimate of one checkpoint's size: weights and momentum in float32, plus slack. */
function checkpointBytes(model: TrainingModel): number {
  const values = model.net.variables().reduce((n, v) => n + v.variable.size, 0);
  return values * 4 * 2 + (64 << 10);
}
