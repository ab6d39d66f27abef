import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  adjustBrightness,
  adjustContrast,
  augmentBatch,
  type AugmentDraws,
  cifarEvalTransform,
  cifarTrainTransform,
  drawAugmentation,
  flipHorizontal,
  normalize,
  randomCrop,
  RECIPE_AUGMENTATION,
  rotate,
} from "../../src/data/augment.ts";
import { CIFAR10_MEAN, CIFAR10_STD } from "../../src/data/cifar10.ts";
import { mulberry32, seededRandom } from "../../src/data/random.ts";

await tf.setBackend("cpu");

// ---- Plain per-image reference implementations (HWC arrays of numbers, float64) ----

interface Img {
  h: number;
  w: number;
  c: number;
  v: Float64Array;
}

const at = (im: Img, y: number, x: number, ch: number) => im.v[(y * im.w + x) * im.c + ch];

function refCrop(im: Img, cropX: number, cropY: number, pad: number): Img {
  const ph = im.h + 2 * pad;
  const pw = im.w + 2 * pad;
  const padded = new Float64Array(ph * pw * im.c);
  for (let y = 0; y < im.h; y++) {
    for (let x = 0; x < im.w; x++) {
      for (let ch = 0; ch < im.c; ch++) {
        padded[((y + pad) * pw + x + pad) * im.c + ch] = at(im, y, x, ch);
      }
    }
  }
  const out = new Float64Array(im.v.length);
  for (let y = 0; y < im.h; y++) {
    for (let x = 0; x < im.w; x++) {
      for (let ch = 0; ch < im.c; ch++) {
        out[(y * im.w + x) * im.c + ch] = padded[((y + cropY) * pw + x + cropX) * im.c + ch];
      }
    }
  }
  return { ...im, v: out };
}

const clip = (v: number) => Math.min(255, Math.max(0, v));

function refBrightness(im: Img, on: number, f: number): Img {
  return on ? { ...im, v: im.v.map((v) => clip(v * f)) } : im;
}

function refContrast(im: Img, on: number, f: number): Img {
  if (!on) return im;
  let sum = 0;
  for (let p = 0; p < im.h * im.w; p++) {
    if (im.c === 3) {
      sum += 0.299 * im.v[p * 3] + 0.587 * im.v[p * 3 + 1] + 0.114 * im.v[p * 3 + 2];
    } else {
      let s = 0;
      for (let ch = 0; ch < im.c; ch++) s += im.v[p * im.c + ch];
      sum += s / im.c;
    }
  }
  const m = sum / (im.h * im.w);
  return { ...im, v: im.v.map((v) => clip(m + f * (v - m))) };
}

function refFlip(im: Img, on: number): Img {
  if (!on) return im;
  const out = new Float64Array(im.v.length);
  for (let y = 0; y < im.h; y++) {
    for (let x = 0; x < im.w; x++) {
      for (let ch = 0; ch < im.c; ch++) {
        out[(y * im.w + x) * im.c + ch] = at(im, y, im.w - 1 - x, ch);
      }
    }
  }
  return { ...im, v: out };
}

/** Rotation; `ambiguous` marks output pixels whose source lies within 1e-3 of a rounding tie. */
function refRotate(im: Img, angle: number): { img: Img; ambiguous: boolean[] } {
  const cx = (im.w - 1) / 2;
  const cy = (im.h - 1) / 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const out = new Float64Array(im.v.length);
  const ambiguous: boolean[] = [];
  const nearTie = (s: number) => Math.abs(s - Math.floor(s) - 0.5) < 1e-3;
  for (let y = 0; y < im.h; y++) {
    for (let x = 0; x < im.w; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const sx = cx + cos * dx - sin * dy;
      const sy = cy + sin * dx + cos * dy;
      ambiguous.push(nearTie(sx) || nearTie(sy));
      const ix = Math.floor(sx + 0.5);
      const iy = Math.floor(sy + 0.5);
      if (ix < 0 || ix >= im.w || iy < 0 || iy >= im.h) continue;
      for (let ch = 0; ch < im.c; ch++) out[(y * im.w + x) * im.c + ch] = at(im, iy, ix, ch);
    }
  }
  return { img: { ...im, v: out }, ambiguous };
}

// ---- Helpers ----

function randomImages(n: number, h: number, w: number, c: number, seed: number): Img[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => ({
    h,
    w,
    c,
    v: Float64Array.from({ length: h * w * c }, () => Math.floor(rand() * 256)),
  }));
}

function toTensor(ims: Img[]): tf.Tensor4D {
  const { h, w, c } = ims[0];
  const data = new Float32Array(ims.length * h * w * c);
  ims.forEach((im, i) => data.set(im.v, i * h * w * c));
  return tf.tensor4d(data, [ims.length, h, w, c]);
}

/** Runs `op` on the device and returns the images, disposing everything. */
function run(ims: Img[], op: (x: tf.Tensor4D) => tf.Tensor4D): Img[] {
  const before = tf.memory().numTensors;
  const x = toTensor(ims);
  const y = op(x);
  const data = y.dataSync();
  tf.dispose([x, y]);
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  const { h, w, c } = ims[0];
  const size = h * w * c;
  return ims.map((_, i) => ({
    h,
    w,
    c,
    v: Float64Array.from(data.subarray(i * size, (i + 1) * size)),
  }));
}

function assertImagesClose(got: Img[], want: Img[], tol: number, skip?: boolean[][]): void {
  got.forEach((g, i) => {
    for (let p = 0; p < g.h * g.w; p++) {
      if (skip?.[i][p]) continue;
      for (let ch = 0; ch < g.c; ch++) {
        const a = g.v[p * g.c + ch];
        const b = want[i].v[p * g.c + ch];
        if (!(Math.abs(a - b) <= tol)) {
          assert.fail(`image ${i} pixel ${p} channel ${ch}: got ${a}, expected ${b}`);
        }
      }
    }
  });
}

// Fixed draws covering the extremes of every parameter, for 6 images.
const FIXED: AugmentDraws = {
  cropX: Int32Array.from([0, 8, 4, 1, 7, 3]),
  cropY: Int32Array.from([8, 0, 4, 6, 2, 5]),
  brightnessOn: Uint8Array.from([1, 0, 1, 1, 0, 1]),
  brightness: Float32Array.from([1.1, 1.05, 0.9, 0.97, 1.0, 1.08]),
  contrastOn: Uint8Array.from([0, 1, 1, 1, 0, 1]),
  contrast: Float32Array.from([0.95, 1.1, 0.9, 1.02, 1.0, 0.93]),
  flip: Uint8Array.from([1, 0, 1, 0, 1, 0]),
  angle: Float32Array.from([0, 15, -15, 7.3, -0.5, 11].map((d) => d * Math.PI / 180)),
};

// Odd and even sides, not square, so a wrong centre or axis shows.
const IMAGES = randomImages(6, 9, 12, 3, 11);

// ---- Tests ----

Deno.test("random crop equals cropping the zero-padded image per image", () => {
  const got = run(IMAGES, (x) => randomCrop(x, FIXED.cropX, FIXED.cropY, 4));
  assertImagesClose(got, IMAGES.map((im, i) => refCrop(im, FIXED.cropX[i], FIXED.cropY[i], 4)), 0);
});

Deno.test("brightness multiplies and clips only the images drawn for it", () => {
  const got = run(IMAGES, (x) => adjustBrightness(x, FIXED.brightness, FIXED.brightnessOn));
  const want = IMAGES.map((im, i) => refBrightness(im, FIXED.brightnessOn[i], FIXED.brightness[i]));
  assertImagesClose(got, want, 1e-3);
  assert.ok(got[0].v.some((v) => v === 255), "clipping at 255 was exercised");
  assertImagesClose([got[1]], [IMAGES[1]], 0);
});

Deno.test("contrast blends with the mean grey level and clips, per image", () => {
  const got = run(IMAGES, (x) => adjustContrast(x, FIXED.contrast, FIXED.contrastOn));
  const want = IMAGES.map((im, i) => refContrast(im, FIXED.contrastOn[i], FIXED.contrast[i]));
  assertImagesClose(got, want, 1e-3);
  assertImagesClose([got[0]], [IMAGES[0]], 0);
  // One grey channel: the mean of that channel.
  const grey = randomImages(2, 5, 4, 1, 3);
  const g = run(grey, (x) => adjustContrast(x, [1.1, 0.9], [1, 1]));
  assertImagesClose(g, grey.map((im, i) => refContrast(im, 1, [1.1, 0.9][i])), 1e-3);
});

Deno.test("flip mirrors left to right only the images drawn for it", () => {
  const got = run(IMAGES, (x) => flipHorizontal(x, FIXED.flip));
  assertImagesClose(got, IMAGES.map((im, i) => refFlip(im, FIXED.flip[i])), 0);
});

Deno.test("rotation turns about the pixel-grid centre, nearest neighbour, zero fill", () => {
  const res = IMAGES.map((im, i) => refRotate(im, FIXED.angle[i]));
  const got = run(IMAGES, (x) => rotate(x, FIXED.angle));
  const skip = res.map((r) => r.ambiguous);
  assertImagesClose(got, res.map((r) => r.img), 0, skip);
  const skipped = skip.flat().filter(Boolean).length;
  assert.ok(skipped < 0.01 * skip.flat().length, `${skipped} pixels sit on rounding ties`);
  assertImagesClose([got[0]], [IMAGES[0]], 0); // angle 0 is the identity
});

Deno.test("a 90° rotation is a quarter turn counter-clockwise as displayed", () => {
  const [im] = randomImages(1, 6, 6, 2, 5);
  const [got] = run([im], (x) => rotate(x, [Math.PI / 2]));
  // Counter-clockwise: the top-right corner moves to the top-left; out[y][x] = in[x][W-1-y].
  for (let y = 0; y < 6; y++) {
    for (let x = 0; x < 6; x++) {
      for (let ch = 0; ch < 2; ch++) assert.equal(at(got, y, x, ch), at(im, x, 5 - y, ch));
    }
  }
  // A 15° turn of a 32×32 image leaves its corners outside the source: zero fill.
  const [big] = randomImages(1, 32, 32, 3, 6).map((b) => ({ ...b, v: b.v.map((v) => v + 1) }));
  const [turned] = run([big], (x) => rotate(x, [15 * Math.PI / 180]));
  assert.deepEqual([0, 1, 2].map((ch) => at(turned, 0, 0, ch)), [0, 0, 0]);
  assert.ok(at(turned, 16, 16, 0) > 0);
});

Deno.test("augmentBatch applies crop, brightness, contrast, flip, rotation in that order", () => {
  const got = run(IMAGES, (x) => augmentBatch(x, FIXED));
  const skip: boolean[][] = [];
  const want = IMAGES.map((im, i) => {
    let r = refCrop(im, FIXED.cropX[i], FIXED.cropY[i], 4);
    r = refBrightness(r, FIXED.brightnessOn[i], FIXED.brightness[i]);
    r = refContrast(r, FIXED.contrastOn[i], FIXED.contrast[i]);
    r = refFlip(r, FIXED.flip[i]);
    const rot = refRotate(r, FIXED.angle[i]);
    skip.push(rot.ambiguous);
    return rot.img;
  });
  assertImagesClose(got, want, 1e-3, skip);
});

Deno.test("augmentation draws follow the recipe's distributions and are seeded", () => {
  const n = 4000;
  const d = drawAugmentation(n, seededRandom(3, 1, 2));
  const frac = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / n;
  for (const f of [frac(d.brightnessOn), frac(d.contrastOn), frac(d.flip)]) {
    assert.ok(Math.abs(f - 0.5) < 0.04, `probability ${f}`);
  }
  assert.deepEqual(new Set(d.cropX), new Set([0, 1, 2, 3, 4, 5, 6, 7, 8]));
  assert.deepEqual(new Set(d.cropY), new Set([0, 1, 2, 3, 4, 5, 6, 7, 8]));
  for (const a of [d.brightness, d.contrast]) {
    assert.ok(a.every((v) => v >= 0.9 - 1e-6 && v <= 1.1 + 1e-6));
    assert.ok(Math.min(...a) < 0.905 && Math.max(...a) > 1.095);
  }
  const deg = Array.from(d.angle, (a) => a * 180 / Math.PI);
  assert.ok(deg.every((a) => Math.abs(a) <= 15 + 1e-4));
  assert.ok(Math.min(...deg) < -14.5 && Math.max(...deg) > 14.5);
  assert.deepEqual(
    drawAugmentation(10, seededRandom(3, 1, 2)),
    drawAugmentation(10, seededRandom(3, 1, 2)),
  );
  assert.notDeepEqual(
    drawAugmentation(10, seededRandom(3, 1, 2)),
    drawAugmentation(10, seededRandom(3, 1, 3)),
  );
});

const toNormalized = (im: Img, mean: readonly number[], std: readonly number[]): Img => ({
  ...im,
  v: im.v.map((v, j) => (v / 255 - mean[j % im.c]) / std[j % im.c]),
});

Deno.test("CIFAR train transform = augmentation drawn from (seed, epoch, batch), then normalise", () => {
  const ims = randomImages(5, 32, 32, 3, 21);
  const transform = cifarTrainTransform({ seed: 9 });
  const ctx = { epoch: 2, batch: 7, training: true };
  const got = run(ims, (x) => transform(x, ctx));
  const draws = drawAugmentation(5, seededRandom(9, 2, 7));
  const skip: boolean[][] = [];
  const want = ims.map((im, i) => {
    let r = refCrop(im, draws.cropX[i], draws.cropY[i], 4);
    r = refBrightness(r, draws.brightnessOn[i], draws.brightness[i]);
    r = refContrast(r, draws.contrastOn[i], draws.contrast[i]);
    r = refFlip(r, draws.flip[i]);
    const rot = refRotate(r, draws.angle[i]);
    skip.push(rot.ambiguous);
    return toNormalized(rot.img, CIFAR10_MEAN, CIFAR10_STD);
  });
  assertImagesClose(got, want, 1e-4, skip);
  // Same context, same result; another batch, another draw.
  assertImagesClose(run(ims, (x) => transform(x, ctx)), got, 0);
  const other = run(ims, (x) => transform(x, { ...ctx, batch: 8 }));
  assert.notDeepEqual(other[0].v, got[0].v);
  // Not training: scale and normalise only.
  const evalGot = run(ims, (x) => transform(x, { ...ctx, training: false }));
  assertImagesClose(evalGot, ims.map((im) => toNormalized(im, CIFAR10_MEAN, CIFAR10_STD)), 1e-4);
});

Deno.test("CIFAR eval transform scales by 1/255 and normalises with the recipe's mean and std", () => {
  assert.deepEqual(CIFAR10_MEAN, [0.5071, 0.4865, 0.4409]);
  assert.deepEqual(CIFAR10_STD, [0.1942, 0.1918, 0.1958]);
  const ims = randomImages(2, 4, 3, 3, 8);
  const got = run(ims, (x) => cifarEvalTransform()(x, { epoch: 0, batch: 0, training: false }));
  assertImagesClose(got, ims.map((im) => toNormalized(im, CIFAR10_MEAN, CIFAR10_STD)), 1e-4);
  assert.throws(
    () =>
      run(
        randomImages(1, 2, 2, 1, 1),
        (x) => normalize([0.1, 0.2, 0.3], [1, 1, 1])(x, { epoch: 0, batch: 0, training: false }),
      ),
    /images have 1 channels but mean and std have 3 values/,
  );
  assert.equal(RECIPE_AUGMENTATION.pad, 4);
});
