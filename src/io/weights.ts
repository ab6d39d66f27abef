/**
 * A network's variables as named host tensors, in the exchange layout PyTorch and Paddle use:
 * conv kernels (rank-4 `.weight`) are OIHW in files and HWIO in TensorFlow.js. Names come from
 * `net.variables()`. Loading checks everything before assigning anything, so a failed strict
 * load leaves the network untouched.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { loadWeights, saveWeights } from "./weights.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 *
 * const arch = { depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 } as const;
 * const [net, other] = [resnetFCN({ ...arch, seed: 1 }), resnetFCN({ ...arch, seed: 2 })];
 * const path = `${await Deno.makeTempDir()}/resnet18.safetensors`;
 * await saveWeights(net, path);
 * await loadWeights(other, path); // throws on any mismatch
 * net.dispose();
 * other.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Network } from "../nn/network.ts";
import type { HostTensor, TensorDType } from "./host_tensor.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";

/** PyTorch BatchNorm keeps a step counter no other framework uses; it is ignored on load. */
const IGNORED_SUFFIX = ".num_batches_tracked";

/** True for conv kernels, whose layout differs between files (OIHW) and tfjs (HWIO). */
function isConvKernel(name: string, rank: number): boolean {
  return rank === 4 && name.endsWith(".weight");
}

function hwioToOihw(src: HostTensor["data"], [h, w, i, o]: number[]): HostTensor["data"] {
  const out = new (src.constructor as Float32ArrayConstructor)(src.length);
  for (let hh = 0; hh < h; hh++) {
    for (let ww = 0; ww < w; ww++) {
      for (let ii = 0; ii < i; ii++) {
        const from = ((hh * w + ww) * i + ii) * o;
        for (let oo = 0; oo < o; oo++) out[((oo * i + ii) * h + hh) * w + ww] = src[from + oo];
      }
    }
  }
  return out;
}

function oihwToHwio(
  src: HostTensor["data"],
  [o, i, h, w]: number[],
): HostTensor["data"] {
  const out = new (src.constructor as Float32ArrayConstructor)(src.length);
  for (let oo = 0; oo < o; oo++) {
    for (let ii = 0; ii < i; ii++) {
      for (let hh = 0; hh < h; hh++) {
        const from = ((oo * i + ii) * h + hh) * w;
        for (let ww = 0; ww < w; ww++) out[((hh * w + ww) * i + ii) * o + oo] = src[from + ww];
      }
    }
  }
  return out;
}

/**
 * The shape a variable has in files: its own, except conv kernels, HWIO here and OIHW there.
 *
 * @example
 * ```ts
 * import { fileShape } from "./weights.ts";
 * console.log(fileShape("conv1.weight", [7, 7, 3, 64])); // [64, 3, 7, 7]
 * ```
 */
export function fileShape(name: string, shape: readonly number[]): number[] {
  return isConvKernel(name, shape.length) ? [shape[3], shape[2], shape[0], shape[1]] : [...shape];
}

function hostDType(name: string, dtype: string): TensorDType {
  if (dtype === "float32" || dtype === "int32") return dtype;
  throw new TypeError(
    `variable '${name}' has dtype ${dtype}; only float32 and int32 are exchanged`,
  );
}

/**
 * Copies every variable of `net` to the host, keyed by its exchange name, conv kernels
 * transposed HWIO → OIHW.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { networkTensors } from "./weights.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 *
 * const net = resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 });
 * const tensors = await networkTensors(net);
 * console.log(tensors.get("conv1.weight")?.shape); // [2, 3, 7, 7]: OIHW
 * net.dispose();
 * ```
 */
export async function networkTensors(net: Network): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const { name, variable } of net.variables()) {
    const dtype = hostDType(name, variable.dtype);
    // Asynchronous: WebGPU under Deno cannot read synchronously (tfjs would need a canvas). The
    // values may be the backend's own buffer (cpu backend), so they are always copied.
    const values = await variable.data() as Float32Array | Int32Array;
    const data = isConvKernel(name, variable.rank)
      ? hwioToOihw(values, variable.shape)
      : values.slice();
    out.set(name, { dtype, shape: fileShape(name, variable.shape), data });
  }
  return out;
}

/** A name whose tensor exists on both sides but does not fit. */
export interface WeightMismatch {
  /** Exchange name. */
  name: string;
  /** Shape the network needs, in file layout (OIHW for conv kernels). */
  expectedShape: number[];
  /** Shape found in the tensors. */
  foundShape: number[];
  /** Dtype the network needs. */
  expectedDType: TensorDType;
  /** Dtype found in the tensors. */
  foundDType: TensorDType;
}

/** What {@link loadNetworkTensors} did. */
export interface LoadReport {
  /** Names assigned, in `net.variables()` order. */
  loaded: string[];
  /** Network variables with no tensor of that name (left unchanged). */
  missing: string[];
  /** Tensors the network has no variable for (`*.num_batches_tracked` never listed). */
  unexpected: string[];
  /** Names present on both sides whose shape or dtype differ (left unchanged). */
  mismatched: WeightMismatch[];
}

/** Options of {@link loadNetworkTensors}. */
export interface LoadOptions {
  /** Refuse to load anything unless names, shapes and dtypes match exactly. Default `true`. */
  strict?: boolean;
  /** Named in errors, e.g. the file path. Default `"<memory>"`. */
  source?: string;
}

/** Strict loading found missing, unexpected or mismatched tensors; nothing was assigned. */
export class WeightsMismatchError extends Error {
  /** The full comparison. */
  readonly report: LoadReport;

  /**
   * Creates the error from a load report.
   *
   * @param source The file (or `<memory>`). @param netName The network's name.
   */
  constructor(source: string, netName: string, report: LoadReport) {
    const { missing, unexpected, mismatched } = report;
    const lines = [
      `${source}: weights do not match network ${netName}: ${missing.length} missing, ` +
      `${unexpected.length} unexpected, ${mismatched.length} mismatched`,
    ];
    if (missing.length) lines.push(`  missing: ${missing.join(", ")}`);
    if (unexpected.length) lines.push(`  unexpected: ${unexpected.join(", ")}`);
    for (const m of mismatched) {
      lines.push(
        `  mismatch ${m.name}: file ${m.foundDType} [${m.foundShape.join(", ")}], ` +
          `network expects ${m.expectedDType} [${m.expectedShape.join(", ")}]`,
      );
    }
    super(lines.join("\n"));
    this.name = "WeightsMismatchError";
    this.report = report;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Assigns `tensors` (file layout, conv kernels OIHW) to the variables of `net`. In strict mode
 * (default) any missing, unexpected or mismatched name throws {@link WeightsMismatchError}
 * listing all of them, before anything is assigned. Non-strict loads every tensor that fits and
 * reports the rest. `*.num_batches_tracked` (PyTorch BatchNorm) is ignored.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { loadNetworkTensors, networkTensors } from "./weights.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 *
 * const arch = { depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 } as const;
 * const [net, copy] = [resnetFCN({ ...arch, seed: 1 }), resnetFCN({ ...arch, seed: 2 })];
 * const report = loadNetworkTensors(copy, await networkTensors(net)); // copy now equals net
 * console.log(report.missing.length, report.unexpected.length); // 0 0
 * net.dispose();
 * copy.dispose();
 * ```
 */
export function loadNetworkTensors(
  net: Network,
  tensors: Map<string, HostTensor>,
  opts: LoadOptions = {},
): LoadReport {
  const { strict = true, source = "<memory>" } = opts;
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  const vars = net.variables();
  const known = new Set(vars.map((v) => v.name));
  const fits: { variable: tf.Variable; name: string; t: HostTensor }[] = [];
  for (const { name, variable } of vars) {
    const t = tensors.get(name);
    if (t === undefined) {
      report.missing.push(name);
      continue;
    }
    const expectedShape = fileShape(name, variable.shape);
    const expectedDType = hostDType(name, variable.dtype);
    if (!sameShape(expectedShape, t.shape) || expectedDType !== t.dtype) {
      report.mismatched.push({
        name,
        expectedShape,
        foundShape: [...t.shape],
        expectedDType,
        foundDType: t.dtype,
      });
      continue;
    }
    fits.push({ variable, name, t });
  }
  for (const name of tensors.keys()) {
    if (!known.has(name) && !name.endsWith(IGNORED_SUFFIX)) report.unexpected.push(name);
  }
  const clean = !report.missing.length && !report.unexpected.length && !report.mismatched.length;
  if (strict && !clean) throw new WeightsMismatchError(source, net.name, report);
  for (const { variable, name, t } of fits) {
    const data = isConvKernel(name, variable.rank) ? oihwToHwio(t.data, t.shape) : t.data;
    const value = tf.tensor(data, variable.shape, variable.dtype);
    variable.assign(value);
    value.dispose();
    report.loaded.push(name);
  }
  return report;
}

/** Options of {@link saveWeights}. */
export interface SaveWeightsOptions {
  /** String metadata stored in the safetensors header. Default none. */
  metadata?: Record<string, string>;
}

/**
 * Saves every variable of `net` (BatchNorm moving statistics included) as a safetensors file,
 * atomically, conv kernels in OIHW.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { saveWeights } from "./weights.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 *
 * const net = resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 });
 * await saveWeights(net, `${await Deno.makeTempDir()}/final.safetensors`);
 * net.dispose();
 * ```
 */
export async function saveWeights(
  net: Network,
  path: string,
  opts: SaveWeightsOptions = {},
): Promise<void> {
  await writeSafetensors(path, await networkTensors(net), opts.metadata);
}

/**
 * Loads a safetensors file into `net` (see {@link loadNetworkTensors}); errors name `path`.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { loadWeights, saveWeights } from "./weights.ts";
 * import { resnetFCN } from "../nn/resnet_fcn.ts";
 *
 * // A 10-class network's weights into a 2-class one: all but the classifier fit.
 * const path = `${await Deno.makeTempDir()}/pretrained.safetensors`;
 * const pretrained = resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 10 });
 * await saveWeights(pretrained, path);
 * const net = resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 2 });
 * const report = await loadWeights(net, path, { strict: false });
 * console.log(`${report.mismatched.length} variables kept their initial values`);
 * pretrained.dispose();
 * net.dispose();
 * ```
 */
export async function loadWeights(
  net: Network,
  path: string,
  opts: Omit<LoadOptions, "source"> = {},
): Promise<LoadReport> {
  const { tensors } = await readSafetensors(path);
  return loadNetworkTensors(net, tensors, { ...opts, source: path });
}
