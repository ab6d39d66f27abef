/**
 * The native convolutions give the same answers whichever oneDNN implementation runs them, on
 * the shapes where one of them used to corrupt memory: oneDNN 2.6's `jit_1x1` weight gradient
 * wrote past its workspace for strided 1×1 convolutions over fewer than 16 input channels (a
 * crash within a few calls on the first shape below). Each implementation family is forced in
 * turn and checked against a plain loop over the convolution's definition, many calls in a row.
 */
import assert from "node:assert/strict";
import { openDnnl } from "../../src/backend/native/dnnl.ts";
import {
  type ConvGeometry,
  ConvRunner,
  geometryKey,
  implFamily,
  preferredImpl,
  WEIGHT_GRAD_IMPL_ENV,
} from "../../src/backend/native/conv.ts";
import { BufferPool } from "../../src/backend/native/pool.ts";
import { unitStride } from "../../src/backend/native/unit_stride.ts";
import { eachTerm, geometry } from "./conv_reference.ts";

const dnnl = openDnnl();
if (!dnnl.ok) console.log(`native convolution tests skipped: ${dnnl.reason}`);

/** Families oneDNN 2.6 offers for float32 weight gradients on x86-64. */
const FAMILIES = ["jit_1x1", "jit", "gemm", "brgconv_bwd_w", "brg"];

function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
}

function assertClose(what: string, got: Float32Array, want: Float64Array): void {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  assert.ok(err <= 1e-4 * scale, `${what}: max error ${err} against max ${scale}`);
}

const CASES: [string, ConvGeometry][] = [
  ["1×1 stride 2, 8 → 16 channels, batch 1 (crashed)", geometry([1, 16, 8, 16], 1, 2, 0)],
  ["1×1 stride 2, 8 → 16 channels, 64×64, batch 8", geometry([8, 64, 8, 16], 1, 2, 0)],
  ["1×1 stride 2, 4 → 8 channels, odd 17×17, batch 3", geometry([3, 17, 4, 8], 1, 2, 0)],
  ["1×1 stride 2, 2 → 4 channels (hung)", geometry([4, 16, 2, 4], 1, 2, 0)],
  ["1×1 stride 2 with padding 1", geometry([2, 9, 5, 6], 1, 2, 1)],
  ["7×7 stride 2 pad 3 stem, 3 → 8 channels", geometry([4, 32, 3, 8], 7, 2, 3)],
  ["3×3 pad 1, 16 → 16 channels", geometry([4, 8, 16, 16], 3, 1, 1)],
];

for (const [name, g] of CASES) {
  Deno.test({
    name: `native convolution passes equal the definition with every weight-gradient ` +
      `implementation forced: ${name}`,
    ignore: !dnnl.ok,
    fn: () => {
      if (!dnnl.ok) return;
      const xLen = g.batch * g.inHeight * g.inWidth * g.inChannels;
      const yLen = g.batch * g.outHeight * g.outWidth * g.outChannels;
      const wLen = g.filterHeight * g.filterWidth * g.inChannels * g.outChannels;
      const [x, dy, w] = [values(xLen, 1), values(yLen, 2), values(wLen, 3)];
      const [y, dx, dw] = [new Float64Array(yLen), new Float64Array(xLen), new Float64Array(wLen)];
      eachTerm(g, (xi, yi, wi) => {
        y[yi] += x[xi] * w[wi];
        dx[xi] += dy[yi] * w[wi];
        dw[wi] += x[xi] * dy[yi];
      });
      const used = new Set<string>();
      try {
        for (const family of FAMILIES) {
          Deno.env.set(WEIGHT_GRAD_IMPL_ENV, family);
          const conv = new ConvRunner(dnnl.lib, new BufferPool());
          // Stale contents in the outputs must not matter: pool buffers arrive used.
          const [yOut, dxOut, dwOut] = [yLen, xLen, wLen].map((n) => new Float32Array(n).fill(7));
          for (let call = 0; call < 10; call++) {
            conv.forward(g, x, w, yOut);
            conv.backwardData(g, dy, w, dxOut);
            conv.backwardWeights(g, x, dy, dwOut);
          }
          const impl = [...conv.weightGradChoices.values()][0];
          assertClose(`forward (${impl})`, yOut, y);
          assertClose(`backward data (${impl})`, dxOut, dx);
          assertClose(`backward weights (${impl})`, dwOut, dw);
          used.add(impl);
        }
      } finally {
        Deno.env.delete(WEIGHT_GRAD_IMPL_ENV);
      }
      assert.ok(used.size >= 2, `only ${[...used]} could be forced`);
    },
  });
}

Deno.test("unitStride gathers and scatters the pixels a strided 1×1 convolution reads", () => {
  const g = geometry([1, 5, 2, 3], 1, 2, 1);
  const u = unitStride(g)!;
  assert.deepEqual(
    [u.geometry.inHeight, u.geometry.strideHeight, u.geometry.padTop, u.length],
    [4, 1, 0, 32],
  );
  // Pixel (h, w) channel c holds 100h + 10w + c; output pixel (i, j) reads (2i − 1, 2j − 1),
  // which is padding for i or j = 0 and past the edge (also padding) for i or j = 3.
  const x = Float32Array.from({ length: 50 }, (_, k) => {
    const [h, w, c] = [Math.floor(k / 10), Math.floor(k / 2) % 5, k % 2];
    return 100 * h + 10 * w + c;
  });
  const dense = new Float32Array(32).fill(-1);
  u.gather(x, dense);
  const want: number[] = [];
  for (const h of [-1, 1, 3, 5]) {
    for (const w of [-1, 1, 3, 5]) {
      for (const c of [0, 1]) {
        want.push(h < 0 || w < 0 || h > 4 || w > 4 ? 0 : 100 * h + 10 * w + c);
      }
    }
  }
  assert.deepEqual([...dense], want);
  const back = new Float32Array(50).fill(-1);
  u.scatter(dense, back);
  assert.deepEqual([...back], [...x].map((v) => (v % 200 >= 100 && v % 20 >= 10 ? v : 0)));
  assert.equal(unitStride(geometry([1, 5, 2, 3], 1, 1, 0)), null);
  assert.equal(unitStride(geometry([1, 5, 2, 3], 3, 2, 1)), null);
  // Without padding, on even sides, the pixels are a strided view (a oneDNN reorder copies them).
  assert.equal(u.view, null);
  assert.deepEqual(unitStride(geometry([2, 6, 2, 3], 1, 2, 0))!.view, {
    dims: [2, 3, 3, 2],
    strides: [72, 24, 4, 1],
  });
  assert.equal(unitStride(geometry([2, 5, 2, 3], 1, 2, 0))!.view, null);
});

Deno.test("weight-gradient preferences pick by family, in order, else nothing", () => {
  const c = ["jit_1x1:avx512_core", "jit:avx512_core", "x64:gemm:jit"].map((name) => ({
    name,
    family: implFamily(name),
  }));
  assert.deepEqual(c.map((e) => e.family), ["jit_1x1", "jit", "x64:gemm:jit"]);
  assert.equal(preferredImpl(c, ["gemm"])?.name, "x64:gemm:jit");
  assert.equal(preferredImpl(c, ["jit"])?.name, "jit:avx512_core");
  assert.equal(preferredImpl(c, ["brg", "jit_1x1"])?.name, "jit_1x1:avx512_core");
  assert.equal(preferredImpl(c, ["brg"]), null);
  assert.equal(geometryKey(geometry([1, 5, 2, 3], 1, 2, 0)), "1,5,5,2,3,3,3,1,1,2,2,0,0,0,0");
});
