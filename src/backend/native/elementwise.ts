/**
 * Element-wise float32 ops on oneDNN, multi-threaded: binary ops with NumPy broadcasting
 * (where one operand has the output's shape), unary eltwise ops (square, negation) and
 * batch normalisation with given statistics.
 *
 * @example
 * ```ts
 * import { openDnnl } from "./dnnl.ts";
 * import { ElementwiseRunner } from "./elementwise.ts";
 * const dnnl = openDnnl();
 * if (dnnl.ok) {
 *   const plan = new ElementwiseRunner(dnnl.lib).planBinary("add", [2, 3], [3], [2, 3]);
 *   console.log(plan?.swapped);
 * }
 * ```
 *
 * @module
 */
import { DNNL, type Dnnl, type Primitive, type PrimitiveArg } from "./dnnl.ts";

/** Binary ops this module runs. */
export type BinaryOp = "add" | "sub" | "mul" | "div" | "max" | "min" | "squaredDifference";

/** A binary op ready to run on buffers of fixed shapes. */
export interface BinaryPlan {
  /** True when the operands must be passed as (b, a): oneDNN broadcasts its second only. */
  swapped: boolean;
  /** Writes op(first, second) into `out` (the operands in the order `swapped` says). */
  run(first: Float32Array, second: Float32Array, out: Float32Array): void;
}

const ALG: Record<BinaryOp, number> = {
  add: DNNL.binaryAdd,
  sub: DNNL.binarySub,
  mul: DNNL.binaryMul,
  div: DNNL.binaryDiv,
  max: DNNL.binaryMax,
  min: DNNL.binaryMin,
  squaredDifference: DNNL.binarySub,
};

const SYMMETRIC = new Set<BinaryOp>(["add", "mul", "max", "min", "squaredDifference"]);

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** `shape` left-padded with ones to `rank`, if it broadcasts to `out` by ones alone. */
function broadcastDims(shape: readonly number[], out: readonly number[]): number[] | null {
  const dims = [...Array(out.length - shape.length).fill(1), ...shape];
  return dims.every((d, i) => d === out[i] || d === 1) ? dims : null;
}

/** Builds and caches oneDNN binary and eltwise primitives per shape. */
export class ElementwiseRunner {
  readonly #dnnl: Dnnl;
  readonly #cache = new Map<string, Primitive>();

  constructor(dnnl: Dnnl) {
    this.#dnnl = dnnl;
  }

  /**
   * How to compute `op(a, b)` with output shape `out`, or null where oneDNN cannot: both
   * operands broadcast, or `a` broadcasts under a division.
   */
  planBinary(
    op: BinaryOp,
    aShape: readonly number[],
    bShape: readonly number[],
    out: readonly number[],
  ): BinaryPlan | null {
    let swapped = false;
    let other: readonly number[];
    if (sameShape(aShape, out)) other = bShape;
    else if (sameShape(bShape, out) && (SYMMETRIC.has(op) || op === "sub")) {
      swapped = true;
      other = aShape;
    } else return null;
    const dims = broadcastDims(other, out);
    if (!dims) return null;
    // For a broadcast first operand, a − b = −(b − a): oneDNN negates in a post-op.
    const negate = swapped && op === "sub";
    const key = `${op}:${out}:${dims}:${negate}`;
    let prim = this.#cache.get(key);
    if (!prim) {
      prim = this.#buildBinary(op, out, dims, negate);
      this.#cache.set(key, prim);
    }
    const p = prim;
    return { swapped, run: (first, second, o) => p.run([first, second, o]) };
  }

  /**
   * out = alg(x) for a oneDNN eltwise algorithm (`DNNL.eltwise*`) with its alpha and beta:
   * square (0, 0), linear `alpha·x + beta`.
   */
  unary(alg: number, alpha: number, beta: number, x: Float32Array, out: Float32Array): void {
    const key = `eltwise:${alg}:${alpha}:${beta}:${x.length}`;
    let prim = this.#cache.get(key);
    if (!prim) {
      const d = this.#dnnl;
      const md = d.plainDesc([x.length]);
      const what = `eltwise ${alg}`;
      const desc = d.opDesc(what, (desc) =>
        d.symbols.dnnl_eltwise_forward_desc_init(
          desc,
          DNNL.forwardInference,
          alg,
          md,
          alpha,
          beta,
        ));
      prim = d.primitive(d.primitiveDesc(desc, what), [
        { arg: DNNL.argSrc, md },
        { arg: DNNL.argDst, md },
      ]);
      this.#cache.set(key, prim);
    }
    prim.run([x, out]);
  }

  /**
   * out = dy where y > 0, else 0: the gradient of a ReLU from its output `y`. As PyTorch's, a
   * NaN in `dy` where `y` is not positive gives 0.
   */
  reluGradFromOutput(y: Float32Array, dy: Float32Array, out: Float32Array): void {
    const key = `reluGradFromOutput:${y.length}`;
    let prim = this.#cache.get(key);
    if (!prim) {
      const d = this.#dnnl;
      const md = d.plainDesc([y.length]);
      const what = `ReLU gradient over ${y.length}`;
      const alg = DNNL.eltwiseReluUseDst;
      const fwd = d.opDesc(
        what,
        (desc) =>
          d.symbols.dnnl_eltwise_forward_desc_init(desc, DNNL.forwardTraining, alg, md, 0, 0),
      );
      const bwd = d.opDesc(
        what,
        (desc) => d.symbols.dnnl_eltwise_backward_desc_init(desc, alg, md, md, 0, 0),
      );
      prim = d.primitive(d.primitiveDescWithHint(bwd, d.primitiveDesc(fwd, what), what), [
        { arg: DNNL.argDst, md },
        { arg: DNNL.argDiffDst, md },
        { arg: DNNL.argDiffSrc, md },
      ]);
      this.#cache.set(key, prim);
    }
    prim.run([y, dy, out]);
  }

  /**
   * out = (x − mean) · scale / √(variance + epsilon) + offset over `rows` × `channels`
   * (channels last); `scale` and `offset` may be absent (1 and 0).
   */
  batchNorm(
    rows: number,
    channels: number,
    epsilon: number,
    x: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    scale: Float32Array | null,
    offset: Float32Array | null,
    out: Float32Array,
  ): void {
    const key = `bn:${rows}:${channels}:${epsilon}:${scale !== null}:${offset !== null}`;
    let prim = this.#cache.get(key);
    if (!prim) {
      const d = this.#dnnl;
      // Channels-last rows are an NHWC tensor of N = rows and 1×1 pixels.
      const data = d.memoryDesc([rows, channels, 1, 1], DNNL.nhwc);
      const vec = d.plainDesc([channels]);
      const flags = DNNL.bnUseGlobalStats | (scale ? DNNL.bnUseScale : 0) |
        (offset ? DNNL.bnUseShift : 0);
      const what = `batch norm ${rows}×${channels}`;
      const desc = d.opDesc(what, (desc) =>
        d.symbols.dnnl_batch_normalization_forward_desc_init(
          desc,
          DNNL.forwardInference,
          data,
          epsilon,
          flags,
        ));
      const args: PrimitiveArg[] = [
        { arg: DNNL.argSrc, md: data },
        { arg: DNNL.argMean, md: vec },
        { arg: DNNL.argVariance, md: vec },
        { arg: DNNL.argDst, md: data },
      ];
      if (scale) args.push({ arg: DNNL.argScale, md: vec });
      if (offset) args.push({ arg: DNNL.argShift, md: vec });
      prim = d.primitive(d.primitiveDesc(desc, what), args);
      this.#cache.set(key, prim);
    }
    const buffers = [x, mean, variance, out];
    if (scale) buffers.push(scale);
    if (offset) buffers.push(offset);
    prim.run(buffers);
  }

  #buildBinary(op: BinaryOp, out: readonly number[], dims: number[], negate: boolean): Primitive {
    const d = this.#dnnl;
    // oneDNN needs rank ≥ 1; a scalar output is a one-element vector.
    const outDims = out.length === 0 ? [1] : [...out];
    const src1Dims = dims.length === 0 ? [1] : dims;
    const src0 = d.plainDesc(outDims);
    const src1 = d.plainDesc(src1Dims);
    const dst = d.plainDesc(outDims);
    const what = `binary ${op} [${out}] by [${dims}]`;
    const desc = d.opDesc(
      what,
      (desc) => d.symbols.dnnl_binary_desc_init(desc, ALG[op], src0, src1, dst),
    );
    const attr = op === "squaredDifference"
      ? d.eltwisePostOp(DNNL.eltwiseSquare, 0, 0)
      : negate
      ? d.eltwisePostOp(DNNL.eltwiseLinear, -1, 0)
      : null;
    return d.primitive(d.primitiveDesc(desc, what, attr), [
      { arg: DNNL.argSrc, md: src0 },
      { arg: DNNL.argSrc1, md: src1 },
      { arg: DNNL.argDst, md: dst },
    ]);
  }
}
