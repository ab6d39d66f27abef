/**
 * Batch normalisation in training mode on the `webgpu` backend, channels last, in two passes
 * over the activations each way instead of TensorFlow.js's two dozen small kernels:
 *
 * - forward: one workgroup per channel reduces the batch mean and then the biased variance
 *   (`Σ(x − mean)² / R`, as `tf.moments`), writing both outputs; one element-wise pass
 *   normalises;
 * - backward: one workgroup per channel reduces `dOffset = Σ dy` and
 *   `dScale = r·Σ dy·(x − mean)` with `r = 1/√(var + ε)`, writing both outputs; one element-wise
 *   pass gives `dx = scale·r/R · (R·dy − dOffset − x̂·dScale)`.
 *
 * Each pass is one dispatch (`raw_dispatch.ts`), its outputs written by the same kernel. Where a
 * ReLU follows, the forward pass applies it and the backward pass masks `dy` by its output.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
 * import { startWebGPU } from "../webgpu.ts";
 * import { batchNormForward } from "./batch_norm.ts";
 * await startWebGPU();
 * const x = tf.randomNormal([2, 3, 3, 5]);
 * const [y, mean, variance] = batchNormForward(tf.backend() as WebGPUBackend, x,
 *   tf.ones([5]), tf.zeros([5]), 1e-5);
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { reduceGroup } from "./limits.ts";
import { dispatchRaw, type RawBinding } from "./raw_dispatch.ts";

/** Neighbouring channels one reduction workgroup takes (a CPU adapter's vector width). */
const CHANNEL_LANES = 8;

/**
 * The WGSL type one invocation handles per channel access: four neighbouring channels where
 * the channels come in whole quads (a quarter of the accesses, each four floats wide).
 */
function laneType(channels: number): "f32" | "vec4<f32>" {
  return channels % 4 === 0 ? "vec4<f32>" : "f32";
}

/** Channels (or channel quads) one access of `laneType` spans. */
function width(channels: number): number {
  return channels % 4 === 0 ? 4 : 1;
}

function channelsOf(x: tf.TensorInfo): [number, number] {
  const c = x.shape[x.shape.length - 1];
  const size = x.shape.reduce((a, b) => a * b, 1);
  return [size / c, c];
}

/**
 * Per channel of a `[R, C]` view, two sums: `first` and `second` are WGSL expressions of
 * element `i` (`i = r·C + c`) and channel `c`; `between` runs after the first sum (as `total0`)
 * and before the second; `finish` stores both (`total0`, `total1`) for channel `c`.
 *
 * One workgroup takes a block of `LANES` neighbouring channels, its invocations `LANES` to a row,
 * so that neighbouring invocations read neighbouring floats (a CPU adapter's vector loads, a
 * GPU's coalesced reads) and there are fewer workgroups than channels.
 */
function channelSums(
  backend: WebGPUBackend,
  name: string,
  bindings: RawBinding[],
  rows: number,
  channels: number,
  sums: { first: string; between: string; second: string; finish: string },
): tf.TensorInfo[] {
  const type = laneType(channels);
  const units = channels / width(channels);
  const group = reduceGroup(backend);
  const lanes = Math.min(CHANNEL_LANES, group);
  const reduce = (expr: string, target: string) => `
  {
    var s = T(0.0);
    if (c < CH) {
      for (var r = rowLane; r < ROWS; r = r + ROW_LANES) {
        let i = r * CH + c;
        s = s + ${expr};
      }
    }
    part[localIndex] = s;
    workgroupBarrier();
    for (var h = ROW_LANES / 2; h > 0; h = h / 2) {
      if (rowLane < h) { part[localIndex] = part[localIndex] + part[localIndex + h * LANES]; }
      workgroupBarrier();
    }
    ${target} = part[lane];
    workgroupBarrier();
  }`;
  return dispatchRaw(backend, {
    name,
    // Rows are a run-time value: a new batch size compiles no new pipeline.
    key: `${name}_${channels}`,
    bindings: bindings.map((b) => ({ ...b, vec4: type !== "f32" })),
    ints: { rows },
    group,
    count: Math.ceil(units / lanes) * group,
    declarations: `
alias T = ${type};
const CH = ${units};
const LANES = ${lanes};
const ROW_LANES = ${group / lanes};
var<workgroup> part: array<T, ${group}>;`,
    body: `
  let lane = localIndex % LANES;
  let rowLane = localIndex / LANES;
  let c = groupIndex * LANES + lane;
  let ROWS = params.rows;
  var total0 = T(0.0);
  var total1 = T(0.0);
  ${reduce(sums.first, "total0")}
  ${sums.between}
  ${reduce(sums.second, "total1")}
  if (rowLane == 0 && c < CH) {
    ${sums.finish}
  }`,
  });
}

/**
 * An element-wise pass over `shape` writing `out[index]`; `body` sees channel `c` and, as
 * `params.rows`, `rows` (default: the elements per channel of `shape`). Where the channels come
 * in quads, every binding is seen as `vec4<f32>` (`T`) and `index` and `c` count quads.
 */
function elementwise(
  backend: WebGPUBackend,
  name: string,
  inputs: Record<string, tf.TensorInfo>,
  shape: number[],
  body: string,
  rows?: number,
): tf.TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  const channels = shape[shape.length - 1];
  const type = laneType(channels);
  const count = size / width(channels);
  return dispatchRaw(backend, {
    name,
    key: `${name}_${channels}_${body}`,
    bindings: [
      ...Object.entries(inputs).map(([n, tensor]) => ({ name: n, tensor })),
      { name: "out", shape },
    ].map((b) => ({ ...b, vec4: type !== "f32" })),
    ints: { count },
    params: { rows: rows ?? size / channels },
    count,
    declarations: `alias T = ${type};`,
    body: `
  if (index < params.count) {
    let c = index % ${count / (size / channels)};
    ${body}
  }`,
  })[0];
}

/** `[y, mean, variance]` of batch normalisation in training mode. */
export function batchNormForward(
  backend: WebGPUBackend,
  x: tf.TensorInfo,
  scale: tf.TensorInfo,
  offset: tf.TensorInfo,
  epsilon: number,
  relu = false,
): tf.TensorInfo[] {
  const [rows, channels] = channelsOf(x);
  const [mean, variance] = channelSums(
    backend,
    "ourBatchNormStats",
    [{ name: "x", tensor: x }, { name: "mean", shape: [channels] }, {
      name: "variance",
      shape: [channels],
    }],
    rows,
    channels,
    {
      first: "x[i]",
      between: "let m = total0 / f32(ROWS);",
      second: "(x[i] - m) * (x[i] - m)",
      finish: "mean[c] = m;\n    variance[c] = total1 / f32(ROWS);",
    },
  );
  const y = elementwise(
    backend,
    relu ? "ourBatchNormReluY" : "ourBatchNormY",
    { x, mean, variance, scale, offset },
    [...x.shape],
    `let v = (x[index] - mean[c]) * scale[c] * inverseSqrt(variance[c] + ${epsilon.toExponential()}) + offset[c];
    out[index] = ${relu ? "max(v, T(0.0))" : "v"};`,
  );
  return [y, mean, variance];
}

/**
 * `[dx, dScale, dOffset]` of batch normalisation in training mode for output gradient `dy`;
 * with `reluOut` (the output of a ReLU that followed), of the two in sequence: `dy` counts only
 * where that output is positive.
 */
export function batchNormBackward(
  backend: WebGPUBackend,
  dy: tf.TensorInfo,
  x: tf.TensorInfo,
  scale: tf.TensorInfo,
  mean: tf.TensorInfo,
  variance: tf.TensorInfo,
  epsilon: number,
  reluOut?: tf.TensorInfo,
): tf.TensorInfo[] {
  const [rows, channels] = channelsOf(x);
  const eps = epsilon.toExponential();
  const masked = reluOut !== undefined;
  const g = (i: string) => masked ? `select(T(0.0), dy[${i}], y[${i}] > T(0.0))` : `dy[${i}]`;
  const maskInput: RawBinding[] = masked ? [{ name: "y", tensor: reluOut }] : [];
  const [dScale, dOffset] = channelSums(
    backend,
    masked ? "ourBatchNormReluGradSums" : "ourBatchNormGradSums",
    [
      ...maskInput,
      { name: "dy", tensor: dy },
      { name: "x", tensor: x },
      { name: "mean", tensor: mean },
      { name: "variance", tensor: variance },
      { name: "dScale", shape: [channels] },
      { name: "dOffset", shape: [channels] },
    ],
    rows,
    channels,
    {
      first: g("i"),
      between: "let m = mean[min(c, CH - 1)];",
      second: `${g("i")} * (x[i] - m)`,
      finish: `dOffset[c] = total0;\n    dScale[c] = total1 * inverseSqrt(variance[c] + ${eps});`,
    },
  );
  if (!masked) {
    const dx = elementwise(
      backend,
      "ourBatchNormDx",
      { dy, x, scale, mean, variance, dScale, dOffset },
      [...x.shape],
      `let r = inverseSqrt(variance[c] + ${eps});
    let xhat = (x[index] - mean[c]) * r;
    let n = params.rows;
    out[index] = scale[c] * r / n * (n * dy[index] - dOffset[c] - xhat * dScale[c]);`,
    );
    return [dx, dScale, dOffset];
  }
  // With the mask, the same dx from per-channel coefficients `[a, b, e]`: nine inputs would
  // exceed the eight storage buffers a WebGPU device offers by default.
  const units = channels / width(channels);
  const coefficients = elementwise(
    backend,
    "ourBatchNormReluCoefficients",
    { scale, variance, dScale, dOffset },
    [3, channels],
    `let r = inverseSqrt(variance[c] + ${eps});
    let a = scale[c] * r;
    let n = params.rows;
    let row = index / ${units};
    out[index] = select(select(a * r * dScale[c] / n, a * dOffset[c] / n, row == 1), a, row == 0);`,
    rows,
  );
  const dx = elementwise(
    backend,
    "ourBatchNormReluDx",
    { y: reluOut, dy, x, mean, coefficients },
    [...x.shape],
    `out[index] = coefficients[c] * ${g("index")} - coefficients[${units} + c] -
      coefficients[${2 * units} + c] * (x[index] - mean[c]);`,
  );
  backend.disposeData(coefficients.dataId);
  return [dx, dScale, dOffset];
}
