/**
 * Convolution and its two gradients on oneDNN: NHWC activations and HWIO kernels stay in
 * TensorFlow.js's layouts; oneDNN picks its own (blocked) kernel layout and a reorder converts
 * to or from HWIO when that differs, since kernels are small and activations are not. Strided
 * 1×1 convolutions run as unit-stride ones over gathered pixels (see `unit_stride.ts`).
 *
 * In `bf16` precision ({@linkcode ConvRunner.precision}) the forward pass and the input gradient
 * compute in bfloat16 with float32 accumulation on CPUs whose oneDNN has bf16 kernels (AVX-512
 * BF16, AMX): their two inputs are rounded to bfloat16 (8 significant bits) just before the call,
 * their result is float32, and the kernels and activations in TensorFlow.js stay float32. The
 * weight gradient stays float32: oneDNN 2.6's bfloat16 weight-gradient kernels for channels-last
 * data were slower than its float32 ones on ResNet50-FCN (511 against 367 ms a step on an AVX-512
 * BF16 CPU without AMX), and float32 there costs no accuracy.
 *
 * The weight-gradient implementation is chosen per shape by timing (see
 * {@linkcode ConvRunner.backwardWeights}); `DENO_TRAINER_WEIGHT_GRAD_IMPL` overrides the timing
 * with a comma-separated preference list of implementation families (`jit_1x1`, `jit`, `gemm`,
 * `brgconv_bw_w`, … as oneDNN names them, without the instruction set), so that tests can check
 * that every candidate trains alike. A shape none of the listed families covers takes oneDNN's
 * own first choice.
 *
 * @example
 * ```ts
 * import { openDnnl } from "./dnnl.ts";
 * import { ConvRunner } from "./conv.ts";
 * import { BufferPool } from "./pool.ts";
 * const dnnl = openDnnl();
 * if (dnnl.ok) console.log(new ConvRunner(dnnl.lib, new BufferPool()) instanceof ConvRunner);
 * ```
 *
 * @module
 */
import {
  dimsBuffer,
  DNNL,
  type Dnnl,
  type MemoryDesc,
  type Primitive,
  type PrimitiveArg,
} from "./dnnl.ts";
import { type BufferPool, cacheLineAligned } from "./pool.ts";
import type { ConvGeometry } from "./conv_geometry.ts";
import { type UnitStride, unitStride } from "./unit_stride.ts";

export type { ConvGeometry };

/** Environment variable naming the weight-gradient implementations to use instead of timing. */
export const WEIGHT_GRAD_IMPL_ENV = "DENO_TRAINER_WEIGHT_GRAD_IMPL";

interface ConvEntry {
  main: Primitive;
  /** The implementation family: the name without its instruction set (`jit_1x1`, `x64:gemm:jit`). */
  family: string;
  /** Reorders the HWIO kernel into oneDNN's layout (forward, backward data) or back. */
  reorder: Primitive | null;
  /** oneDNN-layout kernel buffer, used when `reorder` is set. */
  scratch: Float32Array | null;
}

/** What the convolutions compute in: float32, or bfloat16 with float32 accumulation. */
export type ConvPrecision = "f32" | "bf16";

/** Timed runs per implementation when choosing a weight-gradient implementation. */
const TUNING_RUNS = 5;

/** Runs a pass that reads the HWIO kernel `w` (after `a`, its other input) into `out`. */
function runReadingKernel(
  e: ConvEntry,
  a: Float32Array,
  w: Float32Array,
  out: Float32Array,
): void {
  if (e.reorder && e.scratch) {
    e.reorder.run([w, e.scratch]);
    e.main.run([a, e.scratch, out]);
  } else e.main.run([a, w, out]);
}

function runWeights(e: ConvEntry, x: Float32Array, dy: Float32Array, out: Float32Array): void {
  if (e.reorder && e.scratch) {
    e.main.run([x, dy, e.scratch]);
    e.reorder.run([e.scratch, out]);
  } else e.main.run([x, dy, out]);
}

/** The family of an implementation name: `jit_1x1:avx512_core` → `jit_1x1`. */
export function implFamily(name: string): string {
  return name.replace(/:(avx512|avx2|avx|sse4)\w*$/, "");
}

/**
 * The candidate `preferences` pick: the first preference equal to a candidate's family or
 * naming one part of it (`gemm` for `x64:gemm:jit`), tried in order; null when none matches.
 */
export function preferredImpl<T extends { family: string }>(
  candidates: readonly T[],
  preferences: readonly string[],
): T | null {
  for (const p of preferences) {
    const found = candidates.find((c) => c.family === p) ??
      candidates.find((c) => c.family.split(":").includes(p));
    if (found) return found;
  }
  return null;
}

/** Builds, caches and runs the oneDNN convolution primitives for each geometry. */
export class ConvRunner {
  readonly #dnnl: Dnnl;
  readonly #buffers: BufferPool;
  readonly #cache = new Map<string, ConvEntry>();
  readonly #choices = new Map<string, string>();
  readonly #toBf16 = new Map<number, Primitive>();
  readonly #strided = new Map<string, Primitive>();
  #precision: ConvPrecision = "f32";

  /** @param buffers Where temporaries (gathered pixels of strided 1×1 convolutions) come from. */
  constructor(dnnl: Dnnl, buffers: BufferPool) {
    this.#dnnl = dnnl;
    this.#buffers = buffers;
  }

  /** The weight-gradient implementation used for each geometry so far, by geometry key. */
  get weightGradChoices(): ReadonlyMap<string, string> {
    return this.#choices;
  }

  /**
   * What the convolutions compute in (default `f32`). Setting `bf16` throws where this CPU's
   * oneDNN has no bfloat16 convolution but its reference loop.
   */
  get precision(): ConvPrecision {
    return this.#precision;
  }

  set precision(p: ConvPrecision) {
    if (p === "bf16") {
      const missing = bf16Missing(this.#bf16ProbeImpl());
      if (missing) throw new Error(missing);
    }
    this.#precision = p;
  }

  /** y = conv(x, w): x NHWC, w HWIO, y NHWC (`out` is written). */
  forward(g: ConvGeometry, x: Float32Array, w: Float32Array, out: Float32Array): void {
    const u = unitStride(g);
    if (u) {
      return this.#withScratch(u.length, (dense) => {
        this.#gather(g, u, x, dense);
        this.forward(u.geometry, dense, w, out);
      });
    }
    const e = this.#entry("forward", g, () => this.#build("forward", g));
    if (this.#precision === "f32") return runReadingKernel(e, x, w, out);
    this.#withBf16(x, (xb) => runReadingKernel(e, xb, w, out));
  }

  /** dx = conv_backward_data(dy, w). */
  backwardData(g: ConvGeometry, dy: Float32Array, w: Float32Array, out: Float32Array): void {
    const u = unitStride(g);
    if (u) {
      return this.#withScratch(u.length, (dense) => {
        this.backwardData(u.geometry, dy, w, dense);
        this.#scatter(g, u, dense, out);
      });
    }
    const e = this.#entry("backwardData", g, () => this.#build("backwardData", g));
    if (this.#precision === "f32") return runReadingKernel(e, dy, w, out);
    this.#withBf16(dy, (dyb) => runReadingKernel(e, dyb, w, out));
  }

  /**
   * dw = conv_backward_weights(x, dy), written HWIO. oneDNN's own first choice is often the
   * slowest here (a 3×3 16→16 case took 19 ms where another implementation takes 0.7), and
   * which one wins depends on the shape and the machine, so the first call for a geometry
   * times every implementation on its real inputs and keeps the fastest.
   */
  backwardWeights(g: ConvGeometry, x: Float32Array, dy: Float32Array, out: Float32Array): void {
    const u = unitStride(g);
    if (u) {
      return this.#withScratch(u.length, (dense) => {
        this.#gather(g, u, x, dense);
        this.backwardWeights(u.geometry, dense, dy, out);
      });
    }
    const e = this.#entry("backwardWeights", g, () => {
      const candidates = this.#weightCandidates(g);
      const preferences = Deno.env.get(WEIGHT_GRAD_IMPL_ENV)?.split(",").map((p) => p.trim())
        .filter((p) => p !== "");
      const chosen = preferences
        ? preferredImpl(candidates, preferences) ?? candidates[0]
        : this.#fastest(candidates, x, dy, out);
      this.#choices.set(geometryKey(g), chosen.main.impl);
      return chosen;
    });
    runWeights(e, x, dy, out);
  }

  /** The precision `pass` runs in: the weight gradient is float32 in either (see above). */
  #precisionOf(pass: "forward" | "backwardData" | "backwardWeights"): ConvPrecision {
    return pass === "backwardWeights" ? "f32" : this.#precision;
  }

  /** Runs `f` on a bfloat16 copy of `values` (in a pool buffer, given back afterwards). */
  #withBf16(values: Float32Array, f: (bf16: Float32Array) => void): void {
    this.#withScratch(Math.ceil(values.length / 2), (bf16) => {
      this.#convertBf16(values, bf16);
      f(bf16);
    });
  }

  /** `u.gather`, as a oneDNN reorder (on every core) where the pixels form a strided view. */
  #gather(g: ConvGeometry, u: UnitStride, x: Float32Array, dense: Float32Array): void {
    const copy = this.#stridedCopy(g, u, "gather");
    if (copy) copy.run([x, dense]);
    else u.gather(x, dense);
  }

  /** `u.scatter`, likewise. */
  #scatter(g: ConvGeometry, u: UnitStride, dense: Float32Array, dx: Float32Array): void {
    const copy = this.#stridedCopy(g, u, "scatter");
    if (!copy) return u.scatter(dense, dx);
    dx.fill(0);
    copy.run([dense, dx]);
  }

  /** The reorder between `u`'s strided view and its dense pixels, or null without a view. */
  #stridedCopy(g: ConvGeometry, u: UnitStride, way: "gather" | "scatter"): Primitive | null {
    if (!u.view) return null;
    const key = `${way}:${geometryKey(g)}`;
    let copy = this.#strided.get(key);
    if (!copy) {
      const d = this.#dnnl;
      const view = d.stridedDesc(u.view.dims, u.view.strides);
      const dense = d.plainDesc(u.view.dims);
      const [from, to] = way === "gather" ? [view, dense] : [dense, view];
      copy = d.primitive(d.reorderDesc(from, to), [
        { arg: DNNL.argSrc, md: from },
        { arg: DNNL.argDst, md: to },
      ]);
      this.#strided.set(key, copy);
    }
    return copy;
  }

  #convertBf16(values: Float32Array, bf16: Float32Array): void {
    const n = values.length;
    let reorder = this.#toBf16.get(n);
    if (!reorder) {
      const d = this.#dnnl;
      const f32 = d.memoryDesc([n], DNNL.plain[1]);
      const b16 = d.memoryDesc([n], DNNL.plain[1], DNNL.bf16);
      reorder = d.primitive(d.reorderDesc(f32, b16), [
        { arg: DNNL.argSrc, md: f32 },
        { arg: DNNL.argDst, md: b16 },
      ]);
      this.#toBf16.set(n, reorder);
    }
    reorder.run([values, bf16]);
  }

  /** The implementation oneDNN picks for a small bfloat16 convolution on this CPU. */
  #bf16ProbeImpl(): string {
    const g: ConvGeometry = {
      batch: 2,
      inHeight: 8,
      inWidth: 8,
      inChannels: 16,
      outHeight: 8,
      outWidth: 8,
      outChannels: 16,
      filterHeight: 3,
      filterWidth: 3,
      strideHeight: 1,
      strideWidth: 1,
      padTop: 1,
      padBottom: 1,
      padLeft: 1,
      padRight: 1,
    };
    const { fwdPd } = this.#descs(g, "bf16", "forward");
    try {
      return this.#dnnl.implName(fwdPd);
    } finally {
      this.#dnnl.destroyDesc(fwdPd);
    }
  }

  /** Runs `f` on a pool buffer of `length` floats, given back afterwards. */
  #withScratch(length: number, f: (scratch: Float32Array) => void): void {
    const scratch = this.#buffers.take(length);
    try {
      f(scratch);
    } finally {
      this.#buffers.release(scratch);
    }
  }

  /**
   * The implementation that ran fastest (best of a few runs each) on these buffers. The runs
   * take turns, so that a burst of load from another process slows every candidate alike
   * rather than the one timed during it.
   */
  #fastest(
    candidates: ConvEntry[],
    x: Float32Array,
    dy: Float32Array,
    out: Float32Array,
  ): ConvEntry {
    for (const e of candidates) runWeights(e, x, dy, out);
    const best = candidates.map(() => Infinity);
    for (let round = 0; round < TUNING_RUNS; round++) {
      candidates.forEach((e, i) => {
        const t0 = performance.now();
        runWeights(e, x, dy, out);
        best[i] = Math.min(best[i], performance.now() - t0);
      });
    }
    return candidates[best.indexOf(Math.min(...best))];
  }

  /** The cached entry for `pass` over `g`, made by `build` on the first call. */
  #entry(
    pass: "forward" | "backwardData" | "backwardWeights",
    g: ConvGeometry,
    build: () => ConvEntry,
  ): ConvEntry {
    const key = `${pass}:${this.#precisionOf(pass)}:${geometryKey(g)}`;
    let e = this.#cache.get(key);
    if (!e) {
      e = build();
      this.#cache.set(key, e);
    }
    return e;
  }

  /**
   * Descriptors shared by the three passes; backward ones need the forward one as a hint. In
   * bfloat16 each pass reads its two inputs (`reads`) in bfloat16 and writes float32, and the
   * kernel oneDNN reads is bfloat16 in its own layout.
   */
  #descs(
    g: ConvGeometry,
    precision: ConvPrecision,
    pass: "forward" | "backwardData" | "backwardWeights",
  ) {
    const d = this.#dnnl;
    const bf16 = precision === "bf16";
    const type = (reads: boolean) => bf16 && reads ? DNNL.bf16 : DNNL.f32;
    const srcDims = [g.batch, g.inChannels, g.inHeight, g.inWidth];
    const dstDims = [g.batch, g.outChannels, g.outHeight, g.outWidth];
    const src = d.memoryDesc(srcDims, DNNL.nhwc, type(pass !== "backwardData"));
    const dst = d.memoryDesc(dstDims, DNNL.nhwc, type(pass !== "forward"));
    const wDims = [g.outChannels, g.inChannels, g.filterHeight, g.filterWidth];
    const wPlain = d.memoryDesc(wDims, DNNL.hwio);
    const wAny = d.memoryDesc(wDims, DNNL.tagAny, type(pass !== "backwardWeights"));
    const strides = dimsBuffer([g.strideHeight, g.strideWidth]);
    const padL = dimsBuffer([g.padTop, g.padLeft]);
    const padR = dimsBuffer([g.padBottom, g.padRight]);
    const what = `conv ${JSON.stringify(g)}`;
    // The backward passes' hint is the forward pass as it runs in this precision.
    const fwdSrc = pass === "forward" ? src : d.memoryDesc(srcDims, DNNL.nhwc, type(true));
    const fwdW = pass === "forward" ? wAny : d.memoryDesc(wDims, DNNL.tagAny, type(true));
    const fwdDst = pass === "forward" ? dst : d.memoryDesc(dstDims, DNNL.nhwc);
    const fwdDesc = d.opDesc(what, (desc) =>
      d.symbols.dnnl_convolution_forward_desc_init(
        desc,
        DNNL.forwardTraining,
        DNNL.convolutionDirect,
        fwdSrc,
        fwdW,
        null,
        fwdDst,
        strides,
        padL,
        padR,
      ));
    const fwdPd = d.primitiveDesc(fwdDesc, what);
    return { src, dst, wPlain, wAny, strides, padL, padR, what, fwdPd };
  }

  #build(pass: "forward" | "backwardData", g: ConvGeometry): ConvEntry {
    const d = this.#dnnl;
    const { src, dst, wPlain, wAny, strides, padL, padR, what, fwdPd } = this.#descs(
      g,
      this.#precisionOf(pass),
      pass,
    );
    // Both passes read the kernel as their second argument, converted to oneDNN's layout.
    const readingKernel = (pd: Deno.PointerObject, input: PrimitiveArg, output: PrimitiveArg) =>
      this.#withKernelReorder(
        pd,
        DNNL.queryWeightsMd,
        wPlain,
        [input, { arg: DNNL.argWeights, md: wPlain }, output],
        1,
        true,
      );
    if (pass === "forward") {
      return readingKernel(fwdPd, { arg: DNNL.argSrc, md: src }, { arg: DNNL.argDst, md: dst });
    }
    const desc = d.opDesc(what, (desc) =>
      d.symbols.dnnl_convolution_backward_data_desc_init(
        desc,
        DNNL.convolutionDirect,
        src,
        wAny,
        dst,
        strides,
        padL,
        padR,
      ));
    return readingKernel(
      d.primitiveDescWithHint(desc, fwdPd, what),
      { arg: DNNL.argDiffDst, md: dst },
      { arg: DNNL.argDiffSrc, md: src },
    );
  }

  /** Every non-reference weight-gradient implementation oneDNN offers for `g`. */
  #weightCandidates(g: ConvGeometry): ConvEntry[] {
    const d = this.#dnnl;
    const { src, dst, wPlain, wAny, strides, padL, padR, what, fwdPd } = this.#descs(
      g,
      this.#precisionOf("backwardWeights"),
      "backwardWeights",
    );
    const desc = d.opDesc(what, (desc) =>
      d.symbols.dnnl_convolution_backward_weights_desc_init(
        desc,
        DNNL.convolutionDirect,
        src,
        wAny,
        null,
        dst,
        strides,
        padL,
        padR,
      ));
    // The weight gradient is the third argument, converted back to HWIO.
    const writingKernel = (pd: Deno.PointerObject) =>
      this.#withKernelReorder(
        pd,
        DNNL.queryDiffWeightsMd,
        wPlain,
        [
          { arg: DNNL.argSrc, md: src },
          { arg: DNNL.argDiffDst, md: dst },
          { arg: DNNL.argDiffWeights, md: wPlain },
        ],
        2,
        false,
      );
    const entries: ConvEntry[] = [];
    const families = new Set<string>();
    for (const pd of d.implementations(desc, what, fwdPd)) {
      // The reference implementation is a plain loop, 100× slower: never worth timing. oneDNN
      // lists a family's variants best instruction set first; the lower ones (jit:avx2 on an
      // AVX-512 machine) are never its own choice there and only cost tuning time.
      const name = d.implName(pd);
      const family = implFamily(name);
      if (name.startsWith("ref") || families.has(family)) {
        d.destroyDesc(pd);
        continue;
      }
      families.add(family);
      entries.push(writingKernel(pd));
    }
    if (entries.length === 0) return [writingKernel(d.primitiveDescWithHint(desc, fwdPd, what))];
    return entries;
  }

  /**
   * Makes the primitive for `pd`; when oneDNN chose a kernel layout other than HWIO, the
   * kernel argument (at `kernelIndex`) gets that layout and a reorder from (`toDnnl`) or to
   * HWIO is built with a scratch buffer for the converted kernel.
   */
  #withKernelReorder(
    pd: Deno.PointerObject,
    query: number,
    wPlain: MemoryDesc,
    args: PrimitiveArg[],
    kernelIndex: number,
    toDnnl: boolean,
  ): ConvEntry {
    const d = this.#dnnl;
    const chosen = d.queryMd(pd, query);
    const family = implFamily(d.implName(pd));
    if (d.sameDesc(wPlain, chosen)) {
      return { main: d.primitive(pd, args), family, reorder: null, scratch: null };
    }
    args[kernelIndex] = { arg: args[kernelIndex].arg, md: chosen };
    const main = d.primitive(pd, args);
    const reorderPd = toDnnl ? d.reorderDesc(wPlain, chosen) : d.reorderDesc(chosen, wPlain);
    const reorder = d.primitive(
      reorderPd,
      toDnnl
        ? [{ arg: DNNL.argSrc, md: wPlain }, { arg: DNNL.argDst, md: chosen }]
        : [{ arg: DNNL.argSrc, md: chosen }, { arg: DNNL.argDst, md: wPlain }],
    );
    const scratch = cacheLineAligned(Math.ceil(d.descBytes(chosen) / 4));
    return { main, family, reorder, scratch };
  }
}

/**
 * Why bfloat16 convolutions cannot run, given the implementation oneDNN picks for one (null
 * when they can): oneDNN falls back to its reference loop where the CPU lacks the instructions.
 */
export function bf16Missing(impl: string): string | null {
  if (!impl.startsWith("ref") && impl !== "unknown") return null;
  return `--precision bf16 needs a CPU with bfloat16 instructions (AVX-512 BF16 or AMX); ` +
    `oneDNN offers only its reference loop here (${impl})`;
}

/** A key naming a geometry, e.g. in {@linkcode ConvRunner.weightGradChoices}. */
export function geometryKey(g: ConvGeometry): string {
  return Object.values(g).join(",");
}
