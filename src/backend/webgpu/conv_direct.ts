/**
 * The three convolution GEMMs (forward, weight gradient, input gradient; NHWC input, HWIO filter,
 * no dilation) without workgroup memory or barriers, for CPU adapters such as Mesa's llvmpipe.
 * There a workgroup runs on one thread with its invocations as SIMD lanes, and a barrier splits
 * the shader into coroutines; the CPU's caches do the tiling instead. Each invocation owns `RM`
 * rows of the output (lanes along rows, `G` apart, so neighbouring lanes read neighbouring
 * pixels) and the workgroup's `RN` columns, accumulated in registers. Every lane of a workgroup
 * reads the same filter (or output-gradient) element at each step, and the reduction runs as
 * nested loops over taps and channels, so the inner loop divides by nothing. Bindings are read
 * as `vec4<f32>` where channels come in quads: llvmpipe loads from a storage buffer one lane at a
 * time in a loop, so a load of four floats costs about what a load of one does.
 *
 * The geometry is read from uniforms, not baked in, so one pipeline per kind and tile serves
 * every layer: each pipeline costs seconds to compile on llvmpipe.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
 * import { startWebGPU } from "../webgpu.ts";
 * import { directConvForward } from "./conv_direct.ts";
 * await startWebGPU();
 * const info = tf.backend_util.computeConv2DInfo([1, 5, 5, 3], [3, 3, 3, 8], 1, 1, 1);
 * const y = directConvForward(tf.backend() as WebGPUBackend, info, tf.ones([1, 5, 5, 3]),
 *   tf.ones([3, 3, 3, 8]));
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { linearGroup } from "./limits.ts";

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/** Tile of one direct GEMM: `g` invocations of `rm` rows (or row quads) each, `rn` columns. */
export interface DirectTiles {
  /** Invocations per workgroup. */
  g: number;
  /** Rows per invocation (row quads for the weight gradient). */
  rm: number;
  /** Columns per workgroup, a multiple of 4. */
  rn: number;
}

/** Workgroups that keep a CPU's threads busy and balanced. */
const TARGET_WORKGROUPS = 64;
/** The fewest output lines (image rows) a weight-gradient chunk is worth. */
const MIN_LINES = 4;

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Tiles for `m` rows of `rm` each and `n` columns: up to `rn` columns, and lanes for up to 64
 * invocations (at most `most`), fewer where the rows would leave most of them idle.
 */
export function directTiles(
  m: number,
  n: number,
  most: number,
  rm: number,
  rn: number,
): DirectTiles {
  const columns = Math.min(rn, Math.ceil(n / 4) * 4);
  const g = Math.max(1, Math.min(64, most, Math.max(8, pow2AtLeast(Math.ceil(m / rm)))));
  return { g, rm, rn: columns };
}

/** The three convolution GEMMs. */
export type ConvPass = "forward" | "filter" | "input";

/**
 * Whether the direct kernel of `pass` serves `info`: the columns (output channels, or for the
 * input gradient input channels) and what is read four at a time come in whole quads. The
 * forward pass and weight gradient read input channels one at a time where they do not (an
 * RGB or grey stem).
 */
export function directCovers(info: Conv2DInfo, pass: ConvPass): boolean {
  return info.outChannels % 4 === 0 && (pass !== "input" || info.inChannels % 4 === 0);
}

const GEOMETRY = ["CI", "CO", "KH", "KW", "IH", "IW", "OH", "OW", "SH", "SW", "PT", "PL"];

function geometry(c: Conv2DInfo): Record<string, number> {
  return {
    CI: c.inChannels,
    CO: c.outChannels,
    KH: c.filterHeight,
    KW: c.filterWidth,
    IH: c.inHeight,
    IW: c.inWidth,
    OH: c.outHeight,
    OW: c.outWidth,
    SH: c.strideHeight,
    SW: c.strideWidth,
    PT: c.padInfo.top,
    PL: c.padInfo.left,
  };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** `line` for each row `r` and column quad `j` of `t`, joined. */
function each(t: DirectTiles, line: (r: number, j: number) => string, sep = "\n  "): string {
  return range(t.rm).flatMap((r) => range(t.rn / 4).map((j) => line(r, j))).join(sep);
}

function rows(t: DirectTiles, line: (r: number) => string, sep = "\n  "): string {
  return range(t.rm).map(line).join(sep);
}

function quads(t: DirectTiles, line: (j: number) => string, sep = "\n  "): string {
  return range(t.rn / 4).map(line).join(sep);
}

/**
 * What every direct kernel starts with: the geometry, its invocation's rows `m${r}` (valid where
 * `ok${r}`, below `count`), and its column quads `c${j}` of `nq`, clamped so that quads past the
 * end read the last one (the same for every lane) and are never stored.
 */
function prologue(t: DirectTiles, count: string, nq: string): string {
  return `
  // TensorFlow.js binds its uniforms to every program; the pipeline layout needs them used.
  _ = uniforms.NAN;
  ${GEOMETRY.map((g) => `let ${g} = uniforms.${g};`).join(" ")}
  let CI4 = CI / 4;
  let CO4 = CO / 4;
  let q0 = i32(workgroupId.y) * ${t.rn / 4};
  let mFirst = i32(workgroupId.x) * ${t.g * t.rm} + i32(localId.x);
  ${quads(t, (j) => `let c${j} = min(q0 + ${j}, ${nq} - 1);`, " ")}
  ${rows(t, (r) => `let m${r} = mFirst + ${r * t.g}; let ok${r} = m${r} < ${count};`)}`;
}

/**
 * A direct GEMM program under TensorFlow.js's program header; its bindings are `vec4<f32>` but
 * where `components` says 1.
 */
class DirectProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent = 4;
  workgroupSize: [number, number, number];
  uniforms: string;
  readonly #code: string;
  readonly #values: number[];

  constructor(
    name: string,
    variableNames: string[],
    outputShape: number[],
    tiles: DirectTiles,
    grid: [number, number, number],
    values: Record<string, number>,
    code: string,
    components = variableNames.map(() => 4),
  ) {
    this.variableNames = variableNames;
    this.variableComponents = components;
    this.outputShape = outputShape;
    this.workgroupSize = [tiles.g, 1, 1];
    this.dispatchLayout = { x: [0], y: [1] };
    this.dispatch = grid;
    this.shaderKey = `${name}_g${tiles.g}m${tiles.rm}n${tiles.rn}_${components.join("")}`;
    this.#code = code;
    this.#values = Object.values(values);
    this.uniforms = Object.keys(values).map((u) => `${u} : i32,`).join(" ");
  }

  uniformData(): { type: string; data: number[] }[] {
    return this.#values.map((v) => ({ type: "int32", data: [v] }));
  }

  getUserCode(): string {
    return this.#code;
  }
}

function run(
  backend: WebGPUBackend,
  program: DirectProgram,
  inputs: tf.TensorInfo[],
): tf.TensorInfo {
  return backend.runWebGPUProgram(program, inputs, "float32", program.uniformData());
}

/** Throws where `pass` of `info` is not for these kernels (a quad read past a channel's end). */
function check(info: Conv2DInfo, pass: ConvPass): void {
  if (!directCovers(info, pass)) {
    throw new Error(
      `webgpu direct convolution (${pass}): needs channels in quads, got ${info.inChannels} → ` +
        `${info.outChannels}`,
    );
  }
}

/** The forward kernel's tiles: rows are output pixels, columns output channels. */
export function directForwardTiles(backend: WebGPUBackend, info: Conv2DInfo): DirectTiles {
  return directTiles(
    info.batchSize * info.outHeight * info.outWidth,
    info.outChannels,
    linearGroup(backend),
    4,
    8,
  );
}

/** The output (shape `info.outShape`) of the convolution `info` of `x` with filter `w`. */
export function directConvForward(
  backend: WebGPUBackend,
  info: Conv2DInfo,
  x: tf.TensorInfo,
  w: tf.TensorInfo,
): tf.TensorInfo {
  check(info, "forward");
  const t = directForwardTiles(backend, info);
  const count = info.batchSize * info.outHeight * info.outWidth;
  // Input channels four at a time where they come in quads, else one at a time.
  const quad = info.inChannels % 4 === 0;
  const quadChannels = `
      let wb = (kh * KW + kw) * CI;
      for (var c4 = 0; c4 < CI4; c4 = c4 + 1) {
        ${rows(t, (r) => `let a${r} = select(vec4<f32>(0.0), x[p${r} + c4], v${r});`, "\n        ")}
        let k0 = (wb + 4 * c4) * CO4;
        ${
    range(4).map((e) =>
      `{
          ${quads(t, (j) => `let b${j} = W[k0 + ${e} * CO4 + c${j}];`, " ")}
          ${
        each(t, (r, j) =>
          `acc${r}_${j} = fma(vec4<f32>(a${r}[${e}]), b${j}, acc${r}_${j});`, "\n          ")
      }
        }`
    ).join("\n        ")
  }
`;
  const singleChannels = `
      let wb = (kh * KW + kw) * CI;
      for (var ci = 0; ci < CI; ci = ci + 1) {
        ${rows(t, (r) => `let a${r} = select(0.0, x[p${r} + ci], v${r});`, "\n        ")}
        let k0 = (wb + ci) * CO4;
        ${quads(t, (j) => `let b${j} = W[k0 + c${j}];`, " ")}
        ${
    each(t, (r, j) => `acc${r}_${j} = fma(vec4<f32>(a${r}), b${j}, acc${r}_${j});`, "\n        ")
  }`;
  const code = `
fn main() {${prologue(t, "uniforms.rows", "CO4")}
  ${each(t, (r, j) => `var acc${r}_${j} = vec4<f32>(0.0);`, " ")}
  ${
    rows(t, (r) =>
      `let ow${r} = m${r} % OW; let oh${r} = (m${r} / OW) % OH; let xb${r} = m${r} / (OW * OH) * IH;`)
  }
  for (var kh = 0; kh < KH; kh = kh + 1) {
    for (var kw = 0; kw < KW; kw = kw + 1) {
      ${
    rows(
      t,
      (r) =>
        `let ih${r} = oh${r} * SH - PT + kh; let iw${r} = ow${r} * SW - PL + kw;
      let v${r} = ok${r} && ih${r} >= 0 && ih${r} < IH && iw${r} >= 0 && iw${r} < IW;
      let p${r} = select(0, ((xb${r} + ih${r}) * IW + iw${r}) * ${quad ? "CI4" : "CI"}, v${r});`,
      "\n      ",
    )
  }
${quad ? quadChannels : singleChannels}
      }
    }
  }
  ${
    each(t, (r, j) =>
      `if (ok${r} && q0 + ${j} < CO4) { result[m${r} * CO4 + q0 + ${j}] = acc${r}_${j}; }`)
  }
}`;
  const program = new DirectProgram(
    "ourDirectConv2D",
    ["x", "W"],
    info.outShape,
    t,
    [Math.ceil(count / (t.g * t.rm)), Math.ceil(info.outChannels / t.rn), 1],
    { ...geometry(info), rows: count },
    code,
    [quad ? 4 : 1, 4],
  );
  return run(backend, program, [x, w]);
}

/**
 * The weight gradient's tiles: rows are (filter tap, input channel), taken four at a time where
 * the input channels come in quads (one quad per invocation), else one at a time (four each).
 */
export function directFilterTiles(backend: WebGPUBackend, info: Conv2DInfo): DirectTiles {
  const quad = info.inChannels % 4 === 0;
  return directTiles(
    info.filterHeight * info.filterWidth * info.inChannels / (quad ? 4 : 1),
    info.outChannels,
    linearGroup(backend),
    quad ? 1 : 4,
    16,
  );
}

/** Sums `[splits, size]` partial products; both are uniforms, so one pipeline serves all. */
class SumProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey = "ourDirectSumPartials";
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames = ["partials"];
  workgroupSize: [number, number, number];
  uniforms = "splits : i32,";
  size = true;

  constructor(outputShape: number[], group: number) {
    this.outputShape = outputShape;
    const count = outputShape.reduce((a, b) => a * b, 1);
    this.workgroupSize = [group, 1, 1];
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.dispatch = [Math.ceil(count / group), 1, 1];
  }

  getUserCode(): string {
    return `
fn main(index: i32) {
  if (index < uniforms.size) {
    var s = 0.0;
    for (var z = 0; z < uniforms.splits; z = z + 1) {
      s = s + partials[z * uniforms.size + index];
    }
    setOutputAtIndex(index, s);
  }
}`;
  }
}

/**
 * The filter gradient (shape `[KH, KW, CI, CO]`) of the convolution `info` for input `x` and
 * output gradient `dy`: the reduction over output lines (image, output row) is split into
 * chunks (`z`) until there are enough workgroups, each writing a partial product that a second
 * pass sums.
 */
export function directConvFilterGradient(
  backend: WebGPUBackend,
  info: Conv2DInfo,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
): tf.TensorInfo {
  check(info, "filter");
  const t = directFilterTiles(backend, info);
  const m = info.filterHeight * info.filterWidth * info.inChannels;
  const n = info.outChannels;
  const lines = info.batchSize * info.outHeight;
  // Rows (of the gradient) per unit an invocation reads: a quad of input channels, or one.
  const quad = info.inChannels % 4 === 0;
  const units = quad ? m / 4 : m;
  const groups = Math.ceil(units / (t.g * t.rm)) * Math.ceil(n / t.rn);
  const splits = Math.max(
    1,
    Math.min(Math.ceil(TARGET_WORKGROUPS / groups), Math.floor(lines / MIN_LINES)),
  );
  const chunk = Math.ceil(lines / splits);
  const used = Math.ceil(lines / chunk);
  const sub = quad ? range(4) : [0];
  const U = quad ? "CI4" : "CI";
  const acc = (r: number, e: number, j: number) => quad ? `acc${r}_${e}_${j}` : `acc${r}_${j}`;
  const a = (r: number, e: number) => quad ? `a${r}[${e}]` : `a${r}`;
  const row = (r: number, e: number) => quad ? `4 * m${r} + ${e}` : `m${r}`;
  const code = `
fn main() {${prologue(t, `KH * KW * ${U}`, "CO4")}
  let z = i32(workgroupId.z);
  ${each(t, (r, j) => sub.map((e) => `var ${acc(r, e, j)} = vec4<f32>(0.0);`).join(" "))}
  ${
    rows(t, (r) =>
      `let ci${r} = m${r} % ${U}; let kh${r} = m${r} / ${U} / KW; let kw${r} = (m${r} / ${U}) % KW;`)
  }
  let lineEnd = min(uniforms.lines, (z + 1) * uniforms.chunk);
  for (var line = z * uniforms.chunk; line < lineEnd; line = line + 1) {
    let oh = line % OH;
    let xb = line / OH * IH;
    ${
    rows(t, (r) =>
      `let ih${r} = oh * SH - PT + kh${r};
    let vh${r} = ok${r} && ih${r} >= 0 && ih${r} < IH;
    let xr${r} = (xb + ih${r}) * IW;`, "\n    ")
  }
    let dr = line * OW * CO4;
    for (var ow = 0; ow < OW; ow = ow + 1) {
      ${
    rows(
      t,
      (r) =>
        `let iw${r} = ow * SW - PL + kw${r};
      let v${r} = vh${r} && iw${r} >= 0 && iw${r} < IW;
      let a${r} = select(${
          quad ? "vec4<f32>(0.0)" : "0.0"
        }, x[select(0, (xr${r} + iw${r}) * ${U} + ci${r}, v${r})], v${r});`,
      "\n      ",
    )
  }
      ${quads(t, (j) => `let b${j} = dy[dr + ow * CO4 + c${j}];`, " ")}
      ${
    each(t, (r, j) =>
      sub.map((e) =>
        `${acc(r, e, j)} = fma(vec4<f32>(${a(r, e)}), b${j}, ${acc(r, e, j)});`
      )
        .join("\n      "), "\n      ")
  }
    }
  }
  ${
    each(t, (r, j) =>
      `if (ok${r} && q0 + ${j} < CO4) { ${
        sub.map((e) =>
          `result[(z * KH * KW * CI + ${row(r, e)}) * CO4 + q0 + ${j}] = ${acc(r, e, j)};`
        ).join(" ")
      } }`)
  }
}`;
  const filterShape = [info.filterHeight, info.filterWidth, info.inChannels, info.outChannels];
  const program = new DirectProgram(
    "ourDirectConv2DDerFilter",
    ["x", "dy"],
    [used, m * n],
    t,
    [Math.ceil(units / (t.g * t.rm)), Math.ceil(n / t.rn), used],
    { ...geometry(info), lines, chunk },
    code,
    [quad ? 4 : 1, 4],
  );
  const out = run(backend, program, [x, dy]);
  // One chunk: the partial product is the gradient, seen in its shape as Reshape would.
  if (used === 1) return { dataId: out.dataId, shape: filterShape, dtype: "float32" };
  const sum = backend.runWebGPUProgram(
    new SumProgram(filterShape, linearGroup(backend)),
    [out],
    "float32",
    [{ type: "int32", data: [used] }],
  );
  backend.disposeData(out.dataId);
  return sum;
}

/** The input gradient's tiles: rows are the input pixels of one stride phase. */
export function directInputTiles(backend: WebGPUBackend, info: Conv2DInfo): DirectTiles {
  return directTiles(
    info.batchSize * Math.ceil(info.inHeight / info.strideHeight) *
      Math.ceil(info.inWidth / info.strideWidth),
    info.inChannels,
    linearGroup(backend),
    4,
    8,
  );
}

/**
 * The input gradient (shape `info.inShape`) of the convolution `info` for output gradient `dy`
 * and filter `w`, in one dispatch: `z` is the stride phase `(ih mod SH, iw mod SW)` of the rows,
 * where only the filter taps of that phase contribute, so a strided gradient multiplies no
 * zeros between outputs.
 */
export function directConvInputGradient(
  backend: WebGPUBackend,
  info: Conv2DInfo,
  dy: tf.TensorInfo,
  w: tf.TensorInfo,
): tf.TensorInfo {
  check(info, "input");
  const t = directInputTiles(backend, info);
  const count = info.batchSize * Math.ceil(info.inHeight / info.strideHeight) *
    Math.ceil(info.inWidth / info.strideWidth);
  const e4 = range(4);
  const code = `
fn main() {${prologue(t, "uniforms.rows", "CI4")}
  ${each(t, (r, j) => `var acc${r}_${j} = vec4<f32>(0.0);`, " ")}
  let z = i32(workgroupId.z);
  let ph = z / SW;
  let pw = z % SW;
  let rowsH = (IH - ph + SH - 1) / SH;
  let rowsW = (IW - pw + SW - 1) / SW;
  let kh0 = (ph + PT) % SH;
  let kw0 = (pw + PL) % SW;
  // The output row of tap kh0 for phase row 0; each further tap of the phase is one row up.
  let dh = (ph + PT - kh0) / SH;
  let dw = (pw + PL - kw0) / SW;
  ${
    rows(t, (r) =>
      `let live${r} = ok${r} && m${r} < uniforms.batch * rowsH * rowsW;
  let j${r} = m${r} % rowsW; let i${r} = (m${r} / rowsW) % rowsH; let bb${r} = m${r} / (rowsW * rowsH);`)
  }
  var th = 0;
  for (var kh = kh0; kh < KH; kh = kh + SH) {
    ${
    rows(t, (r) =>
      `let oh${r} = i${r} + dh - th;
    let vh${r} = live${r} && oh${r} >= 0 && oh${r} < OH;`, "\n    ")
  }
    var tw = 0;
    for (var kw = kw0; kw < KW; kw = kw + SW) {
      ${
    rows(t, (r) =>
      `let ow${r} = j${r} + dw - tw;
      let v${r} = vh${r} && ow${r} >= 0 && ow${r} < OW;
      let p${r} = select(0, ((bb${r} * OH + oh${r}) * OW + ow${r}) * CO4, v${r});`, "\n      ")
  }
      let wb = (kh * KW + kw) * CI;
      for (var c4 = 0; c4 < CO4; c4 = c4 + 1) {
        ${
    rows(t, (r) => `let a${r} = select(vec4<f32>(0.0), dy[p${r} + c4], v${r});`, "\n        ")
  }
        ${
    quads(t, (j) =>
      e4.map((e) =>
        `let b${j}_${e} = W[(wb + 4 * c${j} + ${e}) * CO4 + c4];`
      ).join(" "), "\n        ")
  }
        ${
    each(t, (r, j) =>
      `acc${r}_${j} = acc${r}_${j} + vec4<f32>(${
        e4.map((e) =>
          `dot(a${r}, b${j}_${e})`
        ).join(", ")
      });`, "\n        ")
  }
      }
      tw = tw + 1;
    }
    th = th + 1;
  }
  ${
    each(t, (r, j) =>
      `if (live${r} && q0 + ${j} < CI4) { result[((bb${r} * IH + ph + SH * i${r}) * IW + pw + SW * j${r}) * CI4 + q0 + ${j}] = acc${r}_${j}; }`)
  }
}`;
  const program = new DirectProgram(
    "ourDirectConv2DDerInput",
    ["dy", "W"],
    info.inShape,
    t,
    [
      Math.ceil(count / (t.g * t.rm)),
      Math.ceil(info.inChannels / t.rn),
      info.strideHeight * info.strideWidth,
    ],
    { ...geometry(info), rows: count, batch: info.batchSize },
    code,
  );
  return run(backend, program, [dy, w]);
}
