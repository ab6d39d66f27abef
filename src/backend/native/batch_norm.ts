/**
 * Batch normalisation in training mode on oneDNN: the forward pass computes the batch
 * statistics and normalises in one primitive, the backward pass gives the input, scale and
 * shift gradients in another. TensorFlow.js's own composition (`tf.moments`, `tf.batchNorm`
 * and their gradients) takes about 25 kernels per layer.
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
import { DNNL, type Dnnl, type Primitive } from "./dnnl.ts";

interface BatchNormEntry {
  forward: Primitive;
  backward: Primitive;
}

/** Builds, caches and runs oneDNN batch-normalisation primitives per shape. */
export class BatchNormRunner {
  readonly #dnnl: Dnnl;
  readonly #cache = new Map<string, BatchNormEntry>();

  constructor(dnnl: Dnnl) {
    this.#dnnl = dnnl;
  }

  /**
   * Over a channels-last tensor of `shape`, per channel: writes the batch mean, the biased batch variance
   * and `y = (x − mean) · scale / √(variance + epsilon) + shift`.
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
  ): void {
    const e = this.#entry(shape, epsilon);
    this.#dnnl.singleThreaded(() => e.forward.run([x, scale, shift, y, mean, variance]));
  }

  /** The gradients of `forward` with respect to x, scale and shift, for output gradient `dy`. */
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
    const flags = DNNL.bnUseScale | DNNL.bnUseShift;
    const what = `batch norm training [${shape}]`;
    const fwdDesc = d.opDesc(what, (desc) =>
      d.symbols.dnnl_batch_normalization_forward_desc_init(
        desc,
        DNNL.forwardTraining,
        data,
        epsilon,
        flags,
      ));
    const fwdPd = d.primitiveDesc(fwdDesc, what);
    const forward = d.primitive(fwdPd, [
      { arg: DNNL.argSrc, md: data },
      { arg: DNNL.argScale, md: vec },
      { arg: DNNL.argShift, md: vec },
      { arg: DNNL.argDst, md: data },
      { arg: DNNL.argMean, md: vec },
      { arg: DNNL.argVariance, md: vec },
    ]);
    const bwdDesc = d.opDesc(
      `${what} backward`,
      (desc) =>
        d.symbols.dnnl_batch_normalization_backward_desc_init(
          desc,
          DNNL.backward,
          data,
          data,
          epsilon,
          flags,
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
    return { forward, backward };
  }
}
