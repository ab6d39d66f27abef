/**
 * What our convolution kernels share: the GEMM program under TensorFlow.js's program header and
 * a convolution's geometry as WGSL constants (so index arithmetic divides by constants, which a
 * CPU adapter such as llvmpipe turns into multiplications) and as a pipeline-cache key.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { geometryConstants } from "./conv_program.ts";
 * const info = tf.backend_util.computeConv2DInfo([1, 5, 5, 3], [3, 3, 3, 2], 1, 1, 1);
 * console.log(geometryConstants(info));
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { type GemmParts, gemmShader, type GemmTiles } from "./gemm.ts";

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/**
 * Constants every convolution shader declares: the geometry but the batch size, which shaders
 * read at run time, so a last partial batch or an evaluation batch compiles no new pipeline
 * (each costs seconds on llvmpipe).
 */
export function geometryConstants(c: Conv2DInfo): string {
  return `
const CI = ${c.inChannels};
const CO = ${c.outChannels};
const KH = ${c.filterHeight};
const KW = ${c.filterWidth};
const IH = ${c.inHeight};
const IW = ${c.inWidth};
const OH = ${c.outHeight};
const OW = ${c.outWidth};
const SH = ${c.strideHeight};
const SW = ${c.strideWidth};
const PT = ${c.padInfo.top};
const PL = ${c.padInfo.left};`;
}

/** A key that tells convolution geometries apart, batch sizes aside. */
export function geometryKey(c: Conv2DInfo): string {
  return [
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.outHeight,
    c.outWidth,
    c.outChannels,
    c.filterHeight,
    c.filterWidth,
    c.strideHeight,
    c.strideWidth,
    c.padInfo.top,
    c.padInfo.left,
  ].join("_");
}

function tilesKey(t: GemmTiles): string {
  return `${t.tx}x${t.ty}k${t.tk}`;
}

/**
 * Rows a GEMM's tiles are chosen for: those of a nominal batch of 64, so that the tiles, and
 * with them the pipeline, do not depend on the batch size.
 */
export function tileRows(rowsPerImage: number): number {
  return 64 * rowsPerImage;
}

/** A GEMM program under TensorFlow.js's program header; `z` workgroups along the third axis. */
export class GemmProgram implements WebGPUProgram {
  /** Shape of the output tensor. */
  outputShape: number[];
  /** Pipeline-cache key. */
  shaderKey: string;
  /** TensorFlow.js's dispatch layout (unused by the shader, required by the header). */
  dispatchLayout: { x: number[]; y: number[] };
  /** Workgroups along x, y, z. */
  dispatch: [number, number, number];
  /** Names of the input bindings. */
  variableNames: string[];
  /** Invocations per workgroup. */
  workgroupSize: [number, number, number];
  /** Declarations of the run-time values, as TensorFlow.js adds them to its uniforms. */
  uniforms?: string;
  readonly #code: string;
  readonly #values: Record<string, number>;

  /** A program `name` reading `variableNames`, writing `outputShape`, on `grid` workgroups. */
  constructor(
    name: string,
    variableNames: string[],
    outputShape: number[],
    tiles: GemmTiles,
    grid: [number, number, number],
    parts: GemmParts,
    key: string,
  ) {
    this.variableNames = variableNames;
    this.outputShape = outputShape;
    this.workgroupSize = [tiles.ty, tiles.tx, 1];
    this.dispatchLayout = { x: [0], y: [1] };
    this.dispatch = grid;
    this.shaderKey = `${name}_${key}_${tilesKey(tiles)}`;
    this.#code = gemmShader(tiles, parts);
    this.#values = parts.uniforms ?? {};
    const names = Object.keys(this.#values);
    if (names.length > 0) this.uniforms = names.map((u) => `${u} : i32,`).join(" ");
  }

  /** The run-time values, for `runWebGPUProgram`'s program-defined uniforms. */
  uniformData(): { type: string; data: number[] }[] {
    return Object.values(this.#values).map((v) => ({ type: "int32", data: [v] }));
  }

  /** The WGSL of `main`. */
  getUserCode(): string {
    return this.#code;
  }
}
