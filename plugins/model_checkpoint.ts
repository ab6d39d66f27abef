/**
 * Saves a checkpoint after every `saveFreq`-th epoch, named by the epoch number from 0
 * (`<saveDir>/0`, `<saveDir>/1`, …), and `<saveDir>/final` when training ends.
 *
 * Each checkpoint is a folder written by `Model.save`: `model.safetensors` (weights, BN moving
 * statistics included, under the recipe's names), `optimizer.safetensors` (momentum buffers) and
 * `state.json` (global step, position, schedule state). Folders are written beside their final
 * name and renamed into place, so a crash while saving leaves the previous complete checkpoint,
 * never a half-written one. Resume with `fit(..., { resumeFrom: "<saveDir>/<k>" })`.
 *
 * A state whose loss is not finite is not saved (the message says so): a diverged run must not
 * overwrite the last good checkpoint or produce a `final` one.
 *
 * @example
 * ```ts ignore
 * import { ModelCheckpoint } from "./model_checkpoint.ts";
 * await model.fit(train, test, { epochs: 300, callbacks: [new ModelCheckpoint({ saveDir: "output/run1" })] });
 * ```
 *
 * @module
 */
import { Callback, type Logs } from "../src/train/callback.ts";
import { ensureWritableDir } from "../src/io/checkpoint.ts";

/** Options of {@linkcode ModelCheckpoint}. */
export interface ModelCheckpointOptions {
  /** Folder holding the checkpoints (default `output/ResNet50-FCN`). */
  saveDir?: string;
  /** Save after every `saveFreq`-th epoch (default 1). */
  saveFreq?: number;
  /** Save `final` when training ends (default true). */
  saveFinal?: boolean;
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
  readonly #log: (message: string) => void;

  /** @param opts See {@linkcode ModelCheckpointOptions}. */
  constructor(opts: ModelCheckpointOptions = {}) {
    super();
    this.saveDir = (opts.saveDir ?? "output/ResNet50-FCN").replace(/\/+$/, "");
    this.saveFreq = opts.saveFreq ?? 1;
    if (!Number.isInteger(this.saveFreq) || this.saveFreq < 1) {
      throw new Error(`ModelCheckpoint: saveFreq must be an integer >= 1, got ${this.saveFreq}`);
    }
    this.#saveFinal = opts.saveFinal ?? true;
    this.#log = opts.log ?? console.error;
  }

  override async onTrainBegin(): Promise<void> {
    // Fail before the first epoch, not after hours of training.
    await ensureWritableDir(this.saveDir);
  }

  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if ((epoch + 1) % this.saveFreq === 0) await this.#save(String(epoch), logs);
  }

  override async onTrainEnd(logs: Logs): Promise<void> {
    if (this.#saveFinal) await this.#save("final", logs);
  }

  async #save(name: string, logs: Logs): Promise<void> {
    const dir = `${this.saveDir}/${name}`;
    if ("loss" in logs && !Number.isFinite(logs.loss)) {
      this.#log(`ModelCheckpoint: loss is ${logs.loss}; not saving ${dir}`);
      return;
    }
    await this.model.save(dir);
  }
}
