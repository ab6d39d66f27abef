import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { DataLoader, epochOrder, toUnitRange } from "../../src/train/loader.ts";
import { ArrayDataset, useCpu } from "./helpers.ts";

await useCpu();

function ids(n: number): ArrayDataset {
  // Pixel value = example index, so batches reveal which examples they hold.
  return new ArrayDataset(
    Float32Array.from({ length: n }, (_, i) => i),
    Int32Array.from({ length: n }, (_, i) => i % 3),
    [1, 1, 1],
    ["a", "b", "c"],
  );
}

async function collect(loader: DataLoader, epoch: number, start = 0) {
  const out: { pixels: number[]; labels: number[]; size: number; index: number }[] = [];
  for await (const b of loader.batches(epoch, start)) {
    out.push({
      pixels: Array.from(await b.images.data()),
      labels: Array.from(await b.labels.data()),
      size: b.size,
      index: b.index,
    });
    b.images.dispose();
    b.labels.dispose();
  }
  return out;
}

Deno.test("shuffle order is a permutation fixed by (seed, epoch) and differs between epochs", () => {
  const a = epochOrder(50, 7, 3);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(epochOrder(50, 7, 3), a);
  assert.notDeepEqual(epochOrder(50, 7, 4), a);
  assert.notDeepEqual(epochOrder(50, 8, 3), a);
  assert.deepEqual(epochOrder(5, 7, 3, false), [0, 1, 2, 3, 4]);
});

Deno.test("loader keeps the last partial batch by default and drops it with dropLast", async () => {
  const keep = new DataLoader(ids(10), { batchSize: 4, shuffle: false });
  assert.equal(keep.stepsPerEpoch, 3);
  const batches = await collect(keep, 0);
  assert.deepEqual(batches.map((b) => b.size), [4, 4, 2]);
  assert.deepEqual(batches.flatMap((b) => b.pixels), Array.from({ length: 10 }, (_, i) => i));
  assert.deepEqual(batches[2].labels, [2, 0]);
  const drop = new DataLoader(ids(10), { batchSize: 4, dropLast: true });
  assert.equal(drop.stepsPerEpoch, 2);
  assert.equal(drop.samplesPerEpoch, 8);
  assert.equal((await collect(drop, 0)).length, 2);
  assert.equal(new DataLoader(ids(98 * 512 - 80), { batchSize: 512 }).stepsPerEpoch, 98);
});

Deno.test("starting at batch b yields the same batches as the tail of a full epoch", async () => {
  const loader = new DataLoader(ids(20), { batchSize: 3, seed: 5 });
  const full = await collect(loader, 2);
  const tail = await collect(loader, 2, 4);
  assert.deepEqual(tail, full.slice(4));
  assert.equal(tail[0].index, 4);
});

Deno.test("uint8 images are scaled to [0, 1]; a transform gets 0–255 floats and the batch context", async () => {
  const ds = new ArrayDataset(new Uint8Array([0, 255, 51]), new Int32Array([0, 1, 2]), [1, 1, 1], [
    "a",
    "b",
    "c",
  ]);
  const plain = await collect(new DataLoader(ds, { batchSize: 3, shuffle: false }), 0);
  assert.deepEqual(plain[0].pixels.map((x) => Math.round(x * 1000) / 1000), [0, 1, 0.2]);
  const seen: unknown[] = [];
  const loader = new DataLoader(ds, {
    batchSize: 2,
    shuffle: false,
    training: false,
    transform: (x, ctx) => {
      seen.push(ctx);
      return tf.add(x, 1) as tf.Tensor4D;
    },
  });
  const out = await collect(loader, 6);
  assert.deepEqual(out[0].pixels, [1, 256]);
  assert.deepEqual(seen, [{ epoch: 6, batch: 0, training: false }, {
    epoch: 6,
    batch: 1,
    training: false,
  }]);
});

Deno.test("uint8 pixels become exactly the float32 quotient x / 255, each correctly rounded", () => {
  const all = Uint8Array.from({ length: 256 }, (_, x) => x);
  const got = toUnitRange(all);
  const viaDiv = tf.tidy(() => tf.div(tf.tensor1d(Float32Array.from(all)), 255).dataSync());
  assert.deepEqual(got, viaDiv);
  for (let x = 0; x < 256; x++) {
    // q·255 − x is exact in float64 (24 + 8 bits), so this is the rounding error times 255;
    // correct rounding keeps it within half a float32 ulp of q.
    const q = got[x];
    const halfUlp = q === 0 ? 0 : 2 ** (Math.floor(Math.log2(q)) - 24);
    assert.ok(Math.abs(q * 255 - x) <= 255 * halfUlp, `x = ${x}: ${q}`);
  }
});
