import assert from "node:assert/strict";
import { ImageDataset } from "../../src/data/image_dataset.ts";
import { hashSeed, mulberry32, seededRandom } from "../../src/data/random.ts";

Deno.test("ImageDataset copies the requested examples in order and rejects bad indices", () => {
  const images = Float32Array.from({ length: 3 * 2 * 2 * 1 }, (_, i) => i / 10);
  const ds = new ImageDataset({
    images,
    labels: Int32Array.of(1, 0, 1),
    imageShape: [2, 2, 1],
    classNames: ["a", "b"],
    source: "toy",
  });
  const b = ds.getBatch([2, 2, 0]);
  assert.ok(b.images instanceof Float32Array);
  assert.deepEqual([...b.images], [
    ...images.subarray(8, 12),
    ...images.subarray(8, 12),
    ...images.subarray(0, 4),
  ]);
  assert.deepEqual([...b.labels], [1, 1, 1]);
  b.images[0] = 99;
  assert.notEqual(ds.images[8], 99, "a batch is a copy");
  assert.deepEqual(ds.classCounts(), [1, 2]);
  assert.throws(() => ds.getBatch([3]), /^RangeError: toy: index 3 is outside 0–2/);
  assert.throws(
    () =>
      new ImageDataset({
        images: new Uint8Array(5),
        labels: Int32Array.of(0),
        imageShape: [2, 2, 1],
        classNames: ["a"],
      }),
    /5 pixel values do not make 1 images of 2×2×1/,
  );
});

Deno.test("seeded random streams are reproducible, uniform, and differ per (seed, epoch, batch)", () => {
  const a = seededRandom(5, 1, 2);
  const b = seededRandom(5, 1, 2);
  const xs = Array.from({ length: 10000 }, () => a());
  assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  const seeds = new Set([
    hashSeed(5, 1, 2),
    hashSeed(5, 2, 1),
    hashSeed(5, 1, 3),
    hashSeed(6, 1, 2),
    hashSeed(5, 1),
    hashSeed(2 ** 32 + 5, 1, 2),
  ]);
  assert.equal(seeds.size, 6);
  assert.notEqual(mulberry32(1)(), mulberry32(2)());
});
