/**
 * The one way to read weights: `readWeights(path)` takes a weights file or a checkpoint folder
 * and gives named host tensors in the exchange layout (conv kernels OIHW, Paddle's
 * `_mean`/`_variance` as `running_mean`/`running_var`), saying which file they came from. Every
 * command and `Model.load` read through it, so every one of them verifies a checkpoint folder
 * against its manifest (size and SHA-256 of every file, see `checkpoint.ts`) and refuses a
 * damaged one with a {@linkcode CheckpointError} naming the file.
 *
 * A file's format is told from its content, not its name: each entry of
 * {@linkcode WEIGHT_FORMATS} recognises its own first bytes. Safetensors, PyTorch state dicts
 * (`.pth`/`.pt`, zip and legacy formats) and Paddle `.pdparams` are read; pickled formats go
 * through the restricted unpickler, so a weights file never runs code.
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
import { decodePdparams } from "./pdparams.ts";
import { decodePth, isLegacyPth, isZip } from "./pth.ts";
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
  /** What it is, for the error that lists every format read (e.g. `Paddle .pdparams`). */
  description: string;
  /** True when `head` (the file's first bytes, at most 64) starts a file of this format. */
  detect(head: Uint8Array): boolean;
  /** Decodes a whole file; errors name `source`. */
  decode(bytes: Uint8Array, source: string): DecodedWeights | Promise<DecodedWeights>;
}

/** Safetensors: an 8-byte little-endian header length, then a JSON header starting with `{`. */
const SAFETENSORS: WeightsFormat = {
  name: "safetensors",
  description: "safetensors",
  detect: (head) => head.length > 8 && head[8] === 0x7b && head[6] === 0 && head[7] === 0,
  decode: (bytes, source) => decodeSafetensors(bytes, source),
};

const PTH_DESCRIPTION = "a PyTorch state dict (.pth, .pt)";

/** PyTorch's zip format (`torch.save` since 1.6). */
const PYTORCH: WeightsFormat = {
  name: "pytorch",
  description: PTH_DESCRIPTION,
  detect: isZip,
  decode: async (bytes, source) => ({ tensors: await decodePth(bytes, source), metadata: {} }),
};

/** PyTorch's legacy format: a pickle of torch's magic number first. */
const PYTORCH_LEGACY: WeightsFormat = {
  ...PYTORCH,
  name: "pytorch-legacy",
  detect: isLegacyPth,
};

/** Paddle `.pdparams`: one pickle (checked after the legacy PyTorch format, also a pickle). */
const PADDLE: WeightsFormat = {
  name: "paddle",
  description: "Paddle .pdparams",
  detect: (head) => head[0] === 0x80,
  decode: (bytes, source) => ({ tensors: decodePdparams(bytes, source), metadata: {} }),
};

/** The formats {@linkcode readWeights} tries, in order. */
export const WEIGHT_FORMATS: readonly WeightsFormat[] = [
  SAFETENSORS,
  PYTORCH,
  PYTORCH_LEGACY,
  PADDLE,
];

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
 * The name of the {@linkcode WEIGHT_FORMATS} entry that recognises `bytes` (only the first 64
 * are looked at), or null when none does.
 *
 * @example
 * ```ts
 * import { detectWeightsFormat } from "./read_weights.ts";
 * console.log(detectWeightsFormat(new Uint8Array([0x80, 2, 0x7d, 0x2e]))); // "paddle"
 * ```
 */
export function detectWeightsFormat(bytes: Uint8Array): string | null {
  const head = bytes.subarray(0, 64);
  return WEIGHT_FORMATS.find((f) => f.detect(head))?.name ?? null;
}

/**
 * Decodes weights `bytes` of whatever {@linkcode WEIGHT_FORMATS} entry recognises them.
 *
 * @throws {FormatError} naming `source` when no format does, or the bytes are damaged.
 * @throws {PickleRefusedError} when a pickle names anything weights never need.
 *
 * @example
 * ```ts
 * import { decodeWeights } from "./read_weights.ts";
 * import { encodeSafetensors } from "./safetensors.ts";
 *
 * const bytes = encodeSafetensors(new Map([
 *   ["w", { dtype: "float32", shape: [1], data: new Float32Array([3]) }],
 * ]));
 * console.log((await decodeWeights(bytes, "<memory>")).tensors.get("w")?.data); // Float32Array [3]
 * ```
 */
export async function decodeWeights(
  bytes: Uint8Array,
  source = "<memory>",
): Promise<DecodedWeights & { format: string }> {
  const head = bytes.subarray(0, 64);
  const format = WEIGHT_FORMATS.find((f) => f.detect(head));
  if (format === undefined) {
    const described = [...new Set(WEIGHT_FORMATS.map((f) => f.description))];
    throw new FormatError(
      source,
      `not a weights file: neither ${described.slice(0, -1).join(", ")} nor ${described.at(-1)}`,
    );
  }
  return { ...(await format.decode(bytes, source)), format: format.name };
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
    return { ...(await decodeWeights(await Deno.readFile(path), path)), source: path };
  }
  const dir = path.replace(/\/+$/, "");
  const { files, meta } = await readCheckpoint(dir);
  const bytes = files[CHECKPOINT_WEIGHTS_FILE];
  if (bytes === undefined) {
    throw new CheckpointError(dir, `has no ${CHECKPOINT_WEIGHTS_FILE}`, CHECKPOINT_WEIGHTS_FILE);
  }
  const source = join(dir, CHECKPOINT_WEIGHTS_FILE);
  return { ...(await decodeWeights(bytes, source)), source, checkpoint: { dir, files, meta } };
}
