/**
 * The one way to read weights: `readWeights(path)` takes a weights file or a checkpoint folder
 * and gives named host tensors in the exchange layout (conv kernels OIHW), saying which file
 * they came from. Every command and `Model.load` read through it, so every one of them verifies
 * a checkpoint folder against its manifest (size and SHA-256 of every file, see
 * `checkpoint.ts`) and refuses a damaged one with a {@linkcode CheckpointError} naming the file.
 *
 * A file's format is told from its content, not its name: each entry of
 * {@linkcode WEIGHT_FORMATS} recognises its own first bytes. Safetensors is the one format
 * today; another (a PyTorch `.pth` reader) plugs in by adding an entry there.
 *
 * @example
 * ```ts
 * import { readWeights } from "./read_weights.ts";
 * import { writeSafetensors } from "./safetensors.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, new Map([
 *   ["fc.bias", { dtype: "float32", shape: [2], data: new Float32Array([0.5, -1]) }],
 * ]));
 * const weights = await readWeights(path);
 * console.log(weights.format, weights.tensors.get("fc.bias")?.data); // "safetensors" Float32Array [0.5, -1]
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { CheckpointError, readCheckpoint } from "./checkpoint.ts";
import { FormatError } from "./errors.ts";
import type { HostTensor } from "./host_tensor.ts";
import { decodeSafetensors } from "./safetensors.ts";

/** The weights file inside a checkpoint folder (see `src/train/checkpoint_format.ts`). */
export const CHECKPOINT_WEIGHTS_FILE = "model.safetensors";

/** Decoded weights: named tensors and the file's own string metadata. */
export interface DecodedWeights {
  /** Tensors by exchange name, conv kernels OIHW. */
  tensors: Map<string, HostTensor>;
  /** String metadata stored in the file (empty when the format has none). */
  metadata: Record<string, string>;
}

/** A weights file format that {@linkcode readWeights} recognises by content. */
export interface WeightsFormat {
  /** Short name, e.g. `safetensors`. */
  name: string;
  /** True when `head` (the file's first bytes, at most 64) starts a file of this format. */
  detect(head: Uint8Array): boolean;
  /** Decodes a whole file; errors name `source`. */
  decode(bytes: Uint8Array, source: string): DecodedWeights;
}

/** Safetensors: an 8-byte little-endian header length, then a JSON header starting with `{`. */
const SAFETENSORS: WeightsFormat = {
  name: "safetensors",
  detect: (head) => head.length > 8 && head[8] === 0x7b && head[6] === 0 && head[7] === 0,
  decode: (bytes, source) => decodeSafetensors(bytes, source),
};

/** The formats {@linkcode readWeights} tries, in order. */
export const WEIGHT_FORMATS: readonly WeightsFormat[] = [SAFETENSORS];

/** What {@linkcode readWeights} read. */
export interface WeightsFile extends DecodedWeights {
  /** The file the tensors came from (`<dir>/model.safetensors` for a checkpoint folder). */
  source: string;
  /** Name of its format (a {@linkcode WeightsFormat} name). */
  format: string;
  /** For a checkpoint folder: every file of it (verified) and the manifest's `meta`. */
  checkpoint?: { dir: string; files: Record<string, Uint8Array>; meta: Record<string, unknown> };
}

/**
 * Decodes weights `bytes` of whatever {@linkcode WEIGHT_FORMATS} entry recognises them; throws
 * {@linkcode FormatError} naming `source` when none does.
 *
 * @example
 * ```ts
 * import { decodeWeights } from "./read_weights.ts";
 * import { encodeSafetensors } from "./safetensors.ts";
 *
 * const bytes = encodeSafetensors(new Map([
 *   ["w", { dtype: "float32", shape: [1], data: new Float32Array([3]) }],
 * ]));
 * console.log(decodeWeights(bytes, "<memory>").tensors.get("w")?.data); // Float32Array [3]
 * ```
 */
export function decodeWeights(bytes: Uint8Array, source: string): DecodedWeights & {
  format: string;
} {
  const head = bytes.subarray(0, 64);
  const format = WEIGHT_FORMATS.find((f) => f.detect(head));
  if (format === undefined) {
    throw new FormatError(
      source,
      `not a weights file this trainer reads (${WEIGHT_FORMATS.map((f) => f.name).join(", ")})`,
    );
  }
  return { ...format.decode(bytes, source), format: format.name };
}

/**
 * Reads the weights at `path`: a weights file (format told by content), or a checkpoint folder
 * (every file verified against its manifest, then its `model.safetensors`). Throws
 * {@linkcode CheckpointError} for a damaged, incomplete or weightless checkpoint and
 * {@linkcode FormatError} for a malformed file, both naming the file.
 *
 * @example
 * ```ts
 * import { readWeights } from "./read_weights.ts";
 * import { writeCheckpoint } from "./checkpoint.ts";
 * import { encodeSafetensors } from "./safetensors.ts";
 *
 * const dir = `${await Deno.makeTempDir()}/0`;
 * const weights = encodeSafetensors(new Map([
 *   ["w", { dtype: "float32", shape: [1], data: new Float32Array([3]) }],
 * ]));
 * await writeCheckpoint(dir, { "model.safetensors": weights }, { globalStep: 5 });
 * const read = await readWeights(dir);
 * console.log(read.source.endsWith("0/model.safetensors"), read.checkpoint?.meta.globalStep); // true 5
 * ```
 */
export async function readWeights(path: string): Promise<WeightsFile> {
  let isDirectory: boolean;
  try {
    isDirectory = (await Deno.stat(path)).isDirectory;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new FormatError(path, "no such file or folder");
    throw err;
  }
  if (!isDirectory) {
    return { ...decodeWeights(await Deno.readFile(path), path), source: path };
  }
  const dir = path.replace(/\/+$/, "");
  const { files, meta } = await readCheckpoint(dir);
  const bytes = files[CHECKPOINT_WEIGHTS_FILE];
  if (bytes === undefined) {
    throw new CheckpointError(dir, `has no ${CHECKPOINT_WEIGHTS_FILE}`, CHECKPOINT_WEIGHTS_FILE);
  }
  const source = join(dir, CHECKPOINT_WEIGHTS_FILE);
  return { ...decodeWeights(bytes, source), source, checkpoint: { dir, files, meta } };
}
