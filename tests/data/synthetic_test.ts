import assert from "node:assert/strict";
import { loadSynthetic, syntheticDataset } from "../../src/data/synthetic.ts";

Deno.test("synthetic data is reproducible from its seed and balanced", () => {
  const a = syntheticDataset({ length: 30, numClasses: 3, imageShape: [8, 8, 3], seed: 4 });
  const b = syntheticDataset({ length: 30, numClasses: 3, imageShape: [8, 8, 3], seed: 4 });
  const c = syntheticDataset({ length: 30, numClasses: 3, imageShape: [8, 8, 3], seed: 5 });
  assert.deepEqual(a.images, b.images);
  assert.notDeepEqual(a.images, c.images);
  assert.deepEqual(a.classCounts(), [10, 10, 10]);
  assert.deepEqual(a.classNames, ["class0", "class1", "class2"]);
  assert.ok(a.images.some((v) => v > 200) && a.images.some((v) => v < 55), "uses the range");
});

Deno.test("synthetic classes are learnable: nearest class mean classifies held-out images", () => {
  const { train, test } = loadSynthetic({
    trainSize: 200,
    testSize: 100,
    imageShape: [16, 16, 3],
    seed: 2,
  });
  const size = 16 * 16 * 3;
  const means = Array.from({ length: 10 }, () => new Float64Array(size));
  const counts = train.classCounts();
  for (let i = 0; i < train.length; i++) {
    const m = means[train.labels[i]];
    for (let j = 0; j < size; j++) m[j] += train.images[i * size + j] / counts[train.labels[i]];
  }
  let correct = 0;
  for (let i = 0; i < test.length; i++) {
    let best = -1;
    let bestDist = Infinity;
    means.forEach((m, k) => {
      let d = 0;
      for (let j = 0; j < size; j++) d += (test.images[i * size + j] - m[j]) ** 2;
      if (d < bestDist) [best, bestDist] = [k, d];
    });
    if (best === test.labels[i]) correct++;
  }
  assert.ok(correct / test.length > 0.9, `accuracy ${correct / test.length}`);
  // Test images are new draws, not copies of training ones.
  assert.notDeepEqual(test.getBatch([0]).images, train.getBatch([0]).images);
});
