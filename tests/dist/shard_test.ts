import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ShardedLoader, shardRange } from "../../src/dist/shard.ts";
import { DataLoader } from "../../src/train/loader.ts";
import { cifarTrainTransform } from "../../src/data/augment.ts";
import { ArrayDataset, useCpu } from "../train/helpers.ts";

await useCpu();

function ids(n: number, side = 1): ArrayDataset {
  // Every pixel of example i holds i, so batches reveal which examples they hold.
  const px = side * side;
  return new ArrayDataset(
    Float32Array.from({ length: n * px }, (_, i) => Math.floor(i / px)),
    Int32Array.from({ length: n }, (_, i) => i % 3),
    [side, side, 1],
    ["a", "b", "c"],
  );
}

async function firstPixels(loader: DataLoader, epoch: number, start = 0) {
  const out: { ids: number[]; index: number }[] = [];
  for await (const b of loader.batches(epoch, start)) {
    const [, h, w] = b.images.shape;
    const all = await b.images.data();
    out.push({ ids: Array.from({ length: b.size }, (_, i) => all[i * h * w]), index: b.index });
    b.images.dispose();
    b.labels.dispose();
  }
  return out;
}

Deno.test("shardRange splits a batch into disjoint contiguous shards that cover it", () => {
  for (const [batch, size] of [[32, 2], [31, 2], [512, 3], [7, 7], [10, 4]]) {
    let next = 0;
    for (let r = 0; r < size; r++) {
      const [a, b] = shardRange(batch, r, size);
      assert.equal(a, next);
      assert.ok(b - a >= Math.floor(batch / size) && b - a <= Math.ceil(batch / size));
      next = b;
    }
    assert.equal(next, batch);
  }
});

Deno.test("the ranks' shards of each step are disjoint and together the one-process batch", async () => {
  const ds = ids(45);
  const opts = { batchSize: 16, shuffle: true, seed: 7 };
  const whole = await firstPixels(new DataLoader(ds, opts), 2);
  const shards = await Promise.all(
    [0, 1, 2].map((rank) => firstPixels(new ShardedLoader(ds, { ...opts, rank, size: 3 }), 2)),
  );
  assert.equal(whole.length, 3);
  for (let step = 0; step < 3; step++) {
    const joined = shards.flatMap((s) => s[step].ids);
    assert.deepEqual(joined, whole[step].ids);
    assert.ok(shards.every((s) => s[step].index === step));
  }
  // Resuming inside an epoch gives the same shards from that batch on.
  const resumed = await firstPixels(new ShardedLoader(ds, { ...opts, rank: 1, size: 3 }), 2, 1);
  assert.deepEqual(resumed, shards[1].slice(1));
});

Deno.test("a last training batch smaller than the rank count is dropped; evaluation keeps it", async () => {
  const ds = ids(33);
  const train = new ShardedLoader(ds, { batchSize: 16, rank: 1, size: 2, shuffle: false });
  assert.equal(train.stepsPerEpoch, 2);
  assert.equal(train.samplesPerEpoch, 32);
  const evalOpts = { batchSize: 16, size: 2, shuffle: false, training: false };
  const ev0 = new ShardedLoader(ds, { ...evalOpts, rank: 0 });
  const ev1 = new ShardedLoader(ds, { ...evalOpts, rank: 1 });
  assert.equal(ev0.stepsPerEpoch, 3);
  const [a, b] = [await firstPixels(ev0, 0), await firstPixels(ev1, 0)];
  assert.deepEqual(a.map((x) => x.ids.length), [8, 8]);
  assert.deepEqual(b.map((x) => x.ids.length), [8, 8, 1]);
  assert.deepEqual(b[2].ids, [32]);
  assert.throws(
    () => new ShardedLoader(ds, { batchSize: 2, rank: 0, size: 3 }),
    /global batch \(2\) must hold at least one example per rank/,
  );
});

Deno.test("each shard is augmented with the draws its examples get in the whole batch", async () => {
  const ds = ids(10, 8);
  const transform = cifarTrainTransform({ seed: 3, mean: [0], std: [1] });
  const opts = { batchSize: 10, shuffle: true, seed: 1, transform, training: true };
  const collect = async (loader: DataLoader) => {
    const out: number[][] = [];
    for await (const b of loader.batches(4)) {
      out.push(Array.from(await b.images.data()));
      tf.dispose([b.images, b.labels]);
    }
    return out[0];
  };
  const whole = await collect(new DataLoader(ds, opts));
  const parts = [
    await collect(new ShardedLoader(ds, { ...opts, rank: 0, size: 2 })),
    await collect(new ShardedLoader(ds, { ...opts, rank: 1, size: 2 })),
  ];
  assert.deepEqual([...parts[0], ...parts[1]], whole);
  // The draws differ between the halves (else this test would prove nothing).
  assert.notDeepEqual(parts[0].slice(0, 64), parts[1].slice(0, 64));
});
