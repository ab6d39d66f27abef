/**
 * Batch normalisation in training mode on the `webgpu` backend, channels last, in two passes
 * over the activations each way instead of TensorFlow.js's two dozen small kernels:
 *
 * - forward: one workgroup per channel reduces the batch mean and then the biased variance
 *   (`Σ(x − mean)² / R`, as `tf.moments`); one element-wise pass normalises;
 * - backward: one workgroup per channel reduces `Σ dy` and `Σ dy·(x − mean)`; one element-wise
 *   pass gives `dx = scale·r/R · (R·dy − Σdy − x̂·Σdy·x̂)` with `r = 1/√(var + ε)`.
 *
 * The per-channel outputs (mean, variance, dScale, dOffset) are read out of the reductions'
 * `[2, C]` results by a kernel of C invocations each.
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
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { linearGroup, reduceGroup } from "./limits.ts";

/** A flat element-wise program over `outputShape`; `body` sets `v` for `index` and channel `c`. */
class ElementwiseProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number];
  size = true;
  readonly #body: string;
  readonly #channels: number;

  constructor(
    name: string,
    variableNames: string[],
    outputShape: number[],
    body: string,
    group: number,
  ) {
    this.variableNames = variableNames;
    this.workgroupSize = [group, 1, 1];
    this.outputShape = outputShape;
    this.#channels = outputShape[outputShape.length - 1];
    this.#body = body;
    const count = outputShape.reduce((a, b) => a * b, 1);
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.dispatch = [Math.ceil(count / group), 1, 1];
    // Sizes and constants are baked into the body, so the body is part of the key.
    this.shaderKey = `${name}_${this.#channels}_${group}_${body}`;
  }

  getUserCode(): string {
    return `
fn main(index: i32) {
  if (index < uniforms.size) {
    let c = index % ${this.#channels};
    var v = 0.0;
    ${this.#body}
    setOutputAtIndex(index, v);
  }
}`;
  }
}

/**
 * Per channel of a `[R, C]` view, two sums by one workgroup each, written as `[2, C]`: `first`
 * and `second` are WGSL expressions of row offset `i` (`i = r·C + c`) and channel `c`;
 * `second` may use `first`'s total as `total0`.
 */
class ChannelSumsProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number];
  size = true;
  readonly #code: string;

  constructor(
    name: string,
    variableNames: string[],
    rows: number,
    channels: number,
    width: number,
    first: string,
    between: string,
    second: string,
  ) {
    this.variableNames = variableNames;
    this.outputShape = [2, channels];
    this.workgroupSize = [width, 1, 1];
    this.dispatchLayout = { x: [0, 1] };
    this.dispatch = [channels, 1, 1];
    this.shaderKey = `${name}_${rows}_${channels}_${width}`;
    const reduce = (expr: string, target: string) => `
  {
    var s = 0.0;
    for (var r = t; r < ROWS; r = r + WIDTH) {
      let i = r * CH + c;
      s = s + ${expr};
    }
    part[t] = s;
    workgroupBarrier();
    for (var h = WIDTH / 2; h > 0; h = h / 2) {
      if (t < h) { part[t] = part[t] + part[t + h]; }
      workgroupBarrier();
    }
    ${target} = part[0];
    workgroupBarrier();
  }`;
    this.#code = `
const ROWS = ${rows};
const CH = ${channels};
const WIDTH = ${width};
var<workgroup> part: array<f32, ${width}>;
fn main(index: i32) {
  _ = uniforms.size;
  let c = i32(workgroupId.x);
  let t = i32(localId.x);
  var total0 = 0.0;
  var total1 = 0.0;
  ${reduce(first, "total0")}
  ${between}
  ${reduce(second, "total1")}
  if (t == 0) {
    result[c] = total0;
    result[CH + c] = total1;
  }
}`;
  }

  getUserCode(): string {
    return this.#code;
  }
}

function channelsOf(x: tf.TensorInfo): [number, number] {
  const c = x.shape[x.shape.length - 1];
  const size = x.shape.reduce((a, b) => a * b, 1);
  return [size / c, c];
}

function run(
  backend: WebGPUBackend,
  name: string,
  inputs: Record<string, tf.TensorInfo>,
  shape: number[],
  body: string,
): tf.TensorInfo {
  const program = new ElementwiseProgram(
    name,
    Object.keys(inputs),
    shape,
    body,
    linearGroup(backend),
  );
  return backend.runWebGPUProgram(program, Object.values(inputs), "float32");
}

/** `[y, mean, variance]` of batch normalisation in training mode. */
export function batchNormForward(
  backend: WebGPUBackend,
  x: tf.TensorInfo,
  scale: tf.TensorInfo,
  offset: tf.TensorInfo,
  epsilon: number,
): tf.TensorInfo[] {
  const [rows, channels] = channelsOf(x);
  const stats = backend.runWebGPUProgram(
    new ChannelSumsProgram(
      "ourBatchNormStats",
      ["x"],
      rows,
      channels,
      reduceGroup(backend),
      "x[i]",
      `let mean = total0 / f32(ROWS);`,
      "(x[i] - mean) * (x[i] - mean)",
    ),
    [x],
    "float32",
  );
  const eps = epsilon.toExponential();
  const y = run(
    backend,
    "ourBatchNormY",
    { x, stats, scale, offset },
    [...x.shape],
    `let mean = stats[c] / f32(${rows});
    let variance = stats[${channels} + c] / f32(${rows});
    v = (x[index] - mean) * scale[c] * inverseSqrt(variance + ${eps}) + offset[c];`,
  );
  const mean = run(
    backend,
    "ourBatchNormMean",
    { stats },
    [channels],
    `v = stats[c] / f32(${rows});`,
  );
  const variance = run(
    backend,
    "ourBatchNormVar",
    { stats },
    [channels],
    `v = stats[${channels} + c] / f32(${rows});`,
  );
  backend.disposeData(stats.dataId);
  return [y, mean, variance];
}

/** `[dx, dScale, dOffset]` of batch normalisation in training mode for output gradient `dy`. */
export function batchNormBackward(
  backend: WebGPUBackend,
  dy: tf.TensorInfo,
  x: tf.TensorInfo,
  scale: tf.TensorInfo,
  mean: tf.TensorInfo,
  variance: tf.TensorInfo,
  epsilon: number,
): tf.TensorInfo[] {
  const [rows, channels] = channelsOf(x);
  const sums = backend.runWebGPUProgram(
    new ChannelSumsProgram(
      "ourBatchNormGradSums",
      ["dy", "x", "mean"],
      rows,
      channels,
      reduceGroup(backend),
      "dy[i]",
      "let m = mean[c];",
      "dy[i] * (x[i] - m)",
    ),
    [dy, x, mean],
    "float32",
  );
  const eps = epsilon.toExponential();
  const dx = run(
    backend,
    "ourBatchNormDx",
    { dy, x, scale, mean, variance, sums },
    [...x.shape],
    `let r = inverseSqrt(variance[c] + ${eps});
    let xhat = (x[index] - mean[c]) * r;
    let n = f32(${rows});
    v = scale[c] * r / n * (n * dy[index] - sums[c] - xhat * r * sums[${channels} + c]);`,
  );
  const dScale = run(
    backend,
    "ourBatchNormDScale",
    { sums, variance },
    [channels],
    `v = sums[${channels} + c] * inverseSqrt(variance[c] + ${eps});`,
  );
  const dOffset = run(backend, "ourBatchNormDOffset", { sums }, [channels], "v = sums[c];");
  backend.disposeData(sums.dataId);
  return [dx, dScale, dOffset];
}
