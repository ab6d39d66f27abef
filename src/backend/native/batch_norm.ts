/**
 * Batch normalisation in training mode on oneDNN: the forward pass computes the batch
 * statistics and normalises in one primitive, the backward pass gives the input, scale and
 * shift gradients in another. TensorFlow.js's own composition (`tf.moments`, `tf.batchNorm`
 * and their gradients) takes about 25 kernels per layer.
 *
 * With a ReLU after it, the forward pass applies it in the same primitive (the backward pass is
 * the plain one on the gradient masked where the output was zero). A NaN output stays NaN
 * (oneDNN's ReLU would turn it into 0, hiding a diverging run), see
 * {@linkcode BatchNormRunner.forward}.
 *
 * @example
 * ```ts
 * import { openDnnl } from "./dnnl.ts";
 * import { BatchNormRunner } from "./batch_norm.ts";
 * const dnnl = openDnnl();
 * if (dnnl.ok) {
 *   const bn = new BatchNormRunner(dnnl.lib);
 *   const [y, mean, variance] = [new Float32Array(4), new Float32Array(2), new Float32Array(2)];
 *   bn.forward([1, 1, 2, 2], 1e-5, new Float32Array([1, 2, 3, 4]), new Float32Array([1, 1]),
 *     new Float32Array(2), y, mean, variance);
 *   console.log(mean, variance); // [2, 3], [1, 1]
 * }
 * ```
 *
 * @module
 */
import { DNNL, type Dnnl, type MemoryDesc, type Primitive, type PrimitiveArg } from "./dnnl.ts";
import { BufferPool } from "./pool.ts";

interface BatchNormEntry {
  forward: Primitive;
  backward: Primitive;
  /** The forward pass with ReLU fused, and the floats of its workspace (the ReLU mask). */
  forwardRelu?: { primitive: Primitive; workspace: number };
  data: MemoryDesc;
  vec: MemoryDesc;
  epsilon: number;
  what: string;
}

/** Builds, caches and runs oneDNN batch-normalisation primitives per shape. */
export class BatchNormRunner {
  readonly #dnnl: Dnnl;
  readonly #buffers: BufferPool;
  readonly #cache = new Map<string, BatchNormEntry>();

  /** @param buffers Where temporaries (the ReLU mask) come from. */
  constructor(dnnl: Dnnl, buffers: BufferPool = new BufferPool(0)) {
    this.#dnnl = dnnl;
    this.#buffers = buffers;
  }

  /**
   * Over a channels-last tensor of `shape`, per channel: writes the batch mean, the biased batch
   * variance and `y = (x − mean) · scale / √(variance + epsilon) + shift`, then `max(y, 0)` in
   * place when `relu`.
   *
   * With ReLU, non-finite statistics or parameters (a NaN or infinity in `x`, `scale` or
   * `shift`) redo the pass unfused with a ReLU that keeps NaN, as TensorFlow.js's and PyTorch's
   * do, so that a diverging run shows NaN losses.
   */
  forward(
    shape: readonly number[],
    epsilon: number,
    x: Float32Array,
    scale: Float32Array,
    shift: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    relu = false,
  ): void {
    const e = this.#entry(shape, epsilon);
    const plain = () =>
      this.#dnnl.singleThreaded(() => e.forward.run([x, scale, shift, y, mean, variance]));
    if (!relu) return plain();
    const fused = this.#forwardRelu(e);
    const workspace = this.#buffers.take(fused.workspace);
    try {
      this.#dnnl.singleThreaded(() =>
        fused.primitive.run([x, scale, shift, y, mean, variance, workspace])
      );
    } finally {
      this.#buffers.release(workspace);
    }
    if (allFinite(mean, variance, scale, shift)) return;
    plain();
    for (let i = 0; i < y.length; i++) {
      const yi = y[i];
      y[i] = yi < 0 ? 0 : yi;
    }
  }

  /**
   * The gradients of `forward` without ReLU with respect to x, scale and shift, for output
   * gradient `dy` (with ReLU, the caller masks `dy` first: `ElementwiseRunner.reluGradFromOutput`).
   */
  backward(
    shape: readonly number[],
    epsilon: number,
    x: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    dy: Float32Array,
    scale: Float32Array,
    dx: Float32Array,
    dScale: Float32Array,
    dShift: Float32Array,
  ): void {
    const e = this.#entry(shape, epsilon);
    this.#dnnl.singleThreaded(() =>
      e.backward.run([
        x,
        mean,
        variance,
        dy,
        scale,
        // oneDNN 2.6 wants a shift buffer in the backward pass though no result depends on it.
        scale,
        dx,
        dScale,
        dShift,
      ])
    );
  }

  #entry(shape: readonly number[], epsilon: number): BatchNormEntry {
    const key = `${shape}:${epsilon}`;
    let e = this.#cache.get(key);
    if (!e) {
      e = this.#build(shape, epsilon);
      this.#cache.set(key, e);
    }
    return e;
  }

  #build(shape: readonly number[], epsilon: number): BatchNormEntry {
    const d = this.#dnnl;
    const channels = shape[shape.length - 1];
    // oneDNN's kernels parallelise over images and pixels: keep [N, H, W] as they are (other
    // ranks become N images of their remaining pixels) rather than N·H·W images of one pixel,
    // which ran 30× slower.
    const [n, h, w] = shape.length === 4
      ? [shape[0], shape[1], shape[2]]
      : [shape.length > 1 ? shape[0] : 1, shape.slice(1, -1).reduce((a, b) => a * b, 1), 1];
    const data = d.memoryDesc([n, channels, h, w], DNNL.nhwc);
    const vec = d.plainDesc([channels]);
    const what = `batch norm training [${shape}]`;
    const fwdPd = this.#forwardPd(data, epsilon, 0, what);
    const forward = d.primitive(fwdPd, forwardArgs(data, vec));
    const bwdDesc = d.opDesc(
      `${what} backward`,
      (desc) =>
        d.symbols.dnnl_batch_normalization_backward_desc_init(
          desc,
          DNNL.backward,
          data,
          data,
          epsilon,
          DNNL.bnUseScale | DNNL.bnUseShift,
        ),
    );
    const backward = d.primitive(d.primitiveDescWithHint(bwdDesc, fwdPd, `${what} backward`), [
      { arg: DNNL.argSrc, md: data },
      { arg: DNNL.argMean, md: vec },
      { arg: DNNL.argVariance, md: vec },
      { arg: DNNL.argDiffDst, md: data },
      { arg: DNNL.argScale, md: vec },
      { arg: DNNL.argShift, md: vec },
      { arg: DNNL.argDiffSrc, md: data },
      { arg: DNNL.argDiffScale, md: vec },
      { arg: DNNL.argDiffShift, md: vec },
    ]);
    return { forward, backward, data, vec, epsilon, what };
  }

  /** The forward training primitive descriptor with `extraFlags` beside scale and shift. */
  #forwardPd(
    data: MemoryDesc,
    epsilon: number,
    extraFlags: number,
    what: string,
  ): Deno.PointerObject {
    const d = this.#dnnl;
    const desc = d.opDesc(what, (desc) =>
      d.symbols.dnnl_batch_normalization_forward_desc_init(
        desc,
        DNNL.forwardTraining,
        data,
        epsilon,
        DNNL.bnUseScale | DNNL.bnUseShift | extraFlags,
      ));
    return d.primitiveDesc(desc, what);
  }

  #forwardRelu(e: BatchNormEntry): NonNullable<BatchNormEntry["forwardRelu"]> {
    if (e.forwardRelu) return e.forwardRelu;
    const d = this.#dnnl;
    const pd = this.#forwardPd(e.data, e.epsilon, DNNL.bnFuseNormRelu, `${e.what} with ReLU`);
    const workspace = d.queryMd(pd, DNNL.queryWorkspaceMd);
    const primitive = d.primitive(pd, [
      ...forwardArgs(e.data, e.vec),
      { arg: DNNL.argWorkspace, md: workspace },
    ]);
    e.forwardRelu = { primitive, workspace: Math.ceil(d.descBytes(workspace) / 4) };
    return e.forwardRelu;
  }
}

/** The forward primitive's arguments, in the order `forward` passes its buffers. */
function forwardArgs(data: MemoryDesc, vec: MemoryDesc): PrimitiveArg[] {
  return [
    { arg: DNNL.argSrc, md: data },
    { arg: DNNL.argScale, md: vec },
    { arg: DNNL.argShift, md: vec },
    { arg: DNNL.argDst, md: data },
    { arg: DNNL.argMean, md: vec },
    { arg: DNNL.argVariance, md: vec },
  ];
}

function allFinite(...arrays: Float32Array[]): boolean {
  return arrays.every((a) => a.every(Number.isFinite));
}
