/**
 * One reader for every weights file the trainer takes, told apart by content rather than by
 * name: safetensors, PyTorch state dicts (`.pth`/`.pt`, zip and legacy formats), Paddle
 * `.pdparams`, and a checkpoint folder (its verified `model.safetensors`). Tensors come back
 * under the exchange names (Paddle's `_mean`/`_variance` as `running_mean`/`running_var`), conv
 * kernels OIHW. Pickled formats go through the restricted unpickler: a weights file never runs
 * code.
 *
 * @example
 * ```ts ignore
 * import { readWeights } from "./read_weights.ts";
 * const { format, tensors } = await readWeights("resnet50.pdparams");
 * console.log(format, tensors.get("bn1.running_mean")?.shape); // "paddle" [64]
 * ```
 *
 * @module
 */
import { readCheckpoint } from "./checkpoint.ts";
import { FormatError } from "./errors.ts";
import type { HostTensor } from "./host_tensor.ts";
import { decodePdparams } from "./pdparams.ts";
import { decodePth, isLegacyPth, isZip } from "./pth.ts";
import { decodeSafetensors } from "./safetensors.ts";

/** The formats {@link readWeights} reads. */
export type WeightsFormat = "safetensors" | "pytorch" | "pytorch-legacy" | "paddle";

/** A decoded weights file. */
export interface WeightsFile {
  /** What the content turned out to be. */
  format: WeightsFormat;
  /** Tensors under the exchange names, conv kernels OIHW. */
  tensors: Map<string, HostTensor>;
  /** Safetensors `__metadata__` (`{}` for the other formats). */
  metadata: Record<string, string>;
  /** The file the tensors came from (inside a checkpoint folder: its `model.safetensors`). */
  source: string;
}

/**
 * The format of a weights file from its first bytes, or null when it is none of them.
 *
 * @example
 * ```ts
 * import { detectWeightsFormat } from "./read_weights.ts";
 * console.log(detectWeightsFormat(new Uint8Array([0x80, 2, 0x7d, 0x2e]))); // "paddle"
 * ```
 */
export function detectWeightsFormat(bytes: Uint8Array): WeightsFormat | null {
  if (isZip(bytes)) return "pytorch";
  if (bytes[0] === 0x80) return isLegacyPth(bytes) ? "pytorch-legacy" : "paddle";
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n <= BigInt(bytes.length - 8)) return "safetensors";
  }
  return null;
}

/**
 * Decodes weights held in memory, whatever their format ({@link detectWeightsFormat}).
 *
 * @throws {FormatError} naming `source` when the bytes are no weights format, or are damaged.
 * @throws {PickleRefusedError} when a pickle names anything weights never need.
 */
export async function decodeWeights(bytes: Uint8Array, source = "<memory>"): Promise<WeightsFile> {
  const format = detectWeightsFormat(bytes);
  switch (format) {
    case "safetensors": {
      const { tensors, metadata } = decodeSafetensors(bytes, source);
      return { format, tensors, metadata, source };
    }
    case "pytorch":
    case "pytorch-legacy":
      return { format, tensors: await decodePth(bytes, source), metadata: {}, source };
    case "paddle":
      return { format, tensors: decodePdparams(bytes, source), metadata: {}, source };
    default:
      throw new FormatError(
        source,
        "not a weights file: neither safetensors, a PyTorch state dict (.pth, .pt) nor Paddle " +
          ".pdparams",
      );
  }
}

/**
 * Reads a weights file in any format {@link decodeWeights} knows, or a checkpoint folder's
 * weights (verified against its manifest).
 *
 * @example
 * ```ts ignore
 * import { readWeights } from "./read_weights.ts";
 * const a = await readWeights("model.pth");
 * const b = await readWeights("output/ResNet50-FCN/final");
 * ```
 */
export async function readWeights(path: string): Promise<WeightsFile> {
  if ((await Deno.stat(path)).isDirectory) {
    const dir = path.replace(/\/+$/, "");
    const bytes = (await readCheckpoint(dir)).files["model.safetensors"];
    if (bytes === undefined) throw new FormatError(dir, "checkpoint has no model.safetensors");
    return await decodeWeights(bytes, `${dir}/model.safetensors`);
  }
  return await decodeWeights(await Deno.readFile(path), path);
}
