import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveLoss, softmaxCrossEntropy } from "../../src/train/losses.ts";
import { resolveMetric, topKAccuracy } from "../../src/train/metrics.ts";
import { useCpu } from "./helpers.ts";

await useCpu();

Deno.test("softmax cross-entropy is the batch mean of −log softmax at the label", async () => {
  const rows = [[1, 2, 3], [0.5, -1, 0]];
  const labels = [2, 1];
  const expected = rows.map((r, i) => {
    const lse = Math.log(r.reduce((s, x) => s + Math.exp(x), 0));
    return lse - r[labels[i]];
  }).reduce((a, b) => a + b) / 2;
  const logits = tf.tensor2d(rows);
  const lab = tf.tensor1d(labels, "int32");
  const loss = softmaxCrossEntropy(logits, lab);
  assert.ok(Math.abs((await loss.data())[0] - expected) < 1e-6);
  assert.equal(resolveLoss("softmax_cross_entropy"), softmaxCrossEntropy);
  assert.throws(() => resolveLoss("mse"), /unknown loss "mse"; known: softmax_cross_entropy/);
  tf.dispose([logits, lab, loss]);
});

Deno.test("top-k accuracy counts the label within the k highest, ties broken by class index", async () => {
  const logits = tf.tensor2d([
    [0, 5, 1, 2, 3, 4], // label 0 ranks 6th
    [9, 1, 2, 3, 4, 5], // label 0 ranks 1st
    [1, 1, 1, 1, 1, 1], // all tied: label 5 ranks 6th, label 0 ranks 1st
    [1, 1, 1, 1, 1, 1],
  ]);
  const labels = tf.tensor1d([0, 0, 5, 0], "int32");
  const count = async (k: number) => {
    const t = topKAccuracy(k).correct(logits, labels);
    const v = (await t.data())[0];
    t.dispose();
    return v;
  };
  assert.equal(await count(1), 2);
  assert.equal(await count(5), 2);
  assert.equal(await count(6), 4);
  assert.equal(resolveMetric("acc_top5").name, "acc_top5");
  assert.throws(() => resolveMetric("f1"), /unknown metric "f1"/);
  tf.dispose([logits, labels]);
});
