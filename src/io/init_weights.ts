/**
 * Starting a ResNet-FCN from weights trained elsewhere: the backbone (stem and the four stages)
 * is loaded, an ImageNet classifier (`fc.*`, in torchvision's and Paddle's ResNets) is dropped,
 * and an FCN head (`final_conv`, `final_conv2`) the file does not have keeps its fresh
 * initialisation. Strict by default: every backbone tensor must be there with the right shape,
 * and nothing unknown may be; `partial` loads what fits and lists the rest.
 *
 * @example
 * ```ts ignore
 * import { describeInit, initFromTensors } from "./init_weights.ts";
 * import { readWeights } from "./read_weights.ts";
 *
 * const { tensors, source } = await readWeights("resnet50.pdparams");
 * const report = initFromTensors(net, tensors, { source });
 * console.log(describeInit(report).join("\n"));
 * ```
 *
 * @module
 */
import type { Network } from "../nn/network.ts";
import type { HostTensor } from "./host_tensor.ts";
import {
  fileShape,
  loadNetworkTensors,
  type LoadReport,
  type WeightMismatch,
  WeightsMismatchError,
} from "./weights.ts";

/** Name prefixes of the FCN head, which may be absent from the file (it stays fresh). */
export const HEAD_PREFIXES: readonly string[] = ["final_conv.", "final_conv2."];
/** Name prefix of an ImageNet classifier, which the FCN has no place for (it is dropped). */
export const CLASSIFIER_PREFIX = "fc.";
/** PyTorch BatchNorm's step counter, which no other framework keeps; ignored. */
const IGNORED_SUFFIX = ".num_batches_tracked";

/** What {@link initFromTensors} did. */
export interface InitReport {
  /** The file, as given in the options. */
  source: string;
  /** Variables assigned from the file, in network order. */
  loaded: string[];
  /** Head variables the file has no tensor for: left at their initial values. */
  freshHead: string[];
  /** Backbone variables the file has no tensor for (partial loads only): left fresh. */
  missing: string[];
  /** Tensors whose shape or dtype does not fit (partial loads only): left fresh. */
  mismatched: WeightMismatch[];
  /** `fc.*` tensors of the file: an ImageNet classifier, dropped. */
  dropped: string[];
  /** Other tensors the network has no variable for (partial loads only): not used. */
  unused: string[];
}

/** Options of {@link initFromTensors}. */
export interface InitOptions {
  /** Allow missing, mismatched and unknown tensors, and list them. Default `false`. */
  partial?: boolean;
  /** Named in errors and the report. Default `"<memory>"`. */
  source?: string;
}

function isHead(name: string): boolean {
  return HEAD_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * Loads `tensors` (exchange names, conv kernels OIHW) into `net` as a starting point. `fc.*`
 * is dropped and `*.num_batches_tracked` ignored; head variables without a tensor stay fresh.
 * Without `partial`, a missing backbone tensor, a shape or dtype mismatch (naming the tensor and
 * both shapes) or a tensor the network does not have throws {@link WeightsMismatchError}
 * before anything is assigned.
 */
export function initFromTensors(
  net: Network,
  tensors: Map<string, HostTensor>,
  opts: InitOptions = {},
): InitReport {
  const source = opts.source ?? "<memory>";
  const dropped: string[] = [];
  const kept = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    if (name.startsWith(CLASSIFIER_PREFIX)) dropped.push(name);
    else if (!name.endsWith(IGNORED_SUFFIX)) kept.set(name, t);
  }
  const names = new Set(net.variables().map((v) => v.name));
  const check: LoadReport = {
    loaded: [],
    missing: [],
    unexpected: [...kept.keys()].filter((n) => !names.has(n)),
    mismatched: [],
  };
  const headAbsent: string[] = [];
  const fits = new Map<string, HostTensor>();
  for (const { name, variable } of net.variables()) {
    const t = kept.get(name);
    if (t === undefined) {
      (isHead(name) ? headAbsent : check.missing).push(name);
      continue;
    }
    const expected = fileShape(name, variable.shape);
    const same = expected.length === t.shape.length && expected.every((d, i) => d === t.shape[i]);
    if (same && t.dtype === variable.dtype) fits.set(name, t);
    else {
      check.mismatched.push({
        name,
        expectedShape: expected,
        foundShape: [...t.shape],
        expectedDType: variable.dtype as HostTensor["dtype"],
        foundDType: t.dtype,
      });
    }
  }
  const clean = !check.missing.length && !check.unexpected.length && !check.mismatched.length;
  if (!opts.partial && !clean) throw new WeightsMismatchError(source, net.name, check);
  const { loaded } = loadNetworkTensors(net, fits, { strict: false });
  return {
    source,
    loaded,
    freshHead: headAbsent,
    missing: check.missing,
    mismatched: check.mismatched,
    dropped,
    unused: check.unexpected,
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * The report as printable lines: what was loaded and what was left fresh, by count, with the
 * names of everything not loaded.
 *
 * @example
 * ```ts ignore
 * import { describeInit } from "./init_weights.ts";
 * console.log(describeInit(report).join("\n"));
 * // init weights: 318 tensors loaded from resnet50.pdparams; 4 left fresh …
 * ```
 */
export function describeInit(r: InitReport): string[] {
  const fresh = r.freshHead.length + r.missing.length + r.mismatched.length;
  const lines = [
    `init weights: ${plural(r.loaded.length, "tensor")} loaded from ${r.source}; ` +
    `${fresh} left fresh`,
  ];
  if (r.freshHead.length) {
    lines.push(`  fresh head (not in the file): ${r.freshHead.join(", ")}`);
  }
  if (r.missing.length) lines.push(`  fresh, missing from the file: ${r.missing.join(", ")}`);
  for (const m of r.mismatched) {
    lines.push(
      `  fresh, shape differs: ${m.name} (file [${m.foundShape}], network [${m.expectedShape}])`,
    );
  }
  if (r.dropped.length) {
    lines.push(`  dropped (ImageNet classifier): ${r.dropped.join(", ")}`);
  }
  if (r.unused.length) lines.push(`  not used (no such variable): ${r.unused.join(", ")}`);
  return lines;
}
