import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { ScalarLog } from "../../plugins/scalar_log.ts";
import { TrainingReport } from "../../plugins/training_report.ts";
import { Callback } from "../../src/train/callback.ts";
import { DataLoader } from "../../src/train/loader.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { quadrantDataset, Recorder, tinyNet, useCpu } from "../train/helpers.ts";

await useCpu();

const train = quadrantDataset(12);
const test = quadrantDataset(10, 1);
const evalLoader = () =>
  new DataLoader(test, { batchSize: 4, shuffle: false, training: false, dropLast: false });

Deno.test("report.html holds the curves, final metrics, per-class accuracy and settings, offline", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/run.json`,
    JSON.stringify({ dataset: "quadrants", settings: { epochs: 3, lr: 0.05, note: "<b>&" } }),
  );
  const model = new Model(tinyNet({ seed: 4 }));
  model.prepare({ optimizer: new MomentumSGD({ lr: 0.05 }) });
  const rec = new Recorder();
  const log = new ScalarLog({ file: `${dir}/log.jsonl`, formats: ["jsonl"] });
  const report = new TrainingReport({
    saveDir: dir,
    classNames: test.classNames,
    evalData: evalLoader(),
    logFile: `${dir}/log.jsonl`,
  });
  await model.fit(train, evalLoader(), {
    epochs: 3,
    batchSize: 5,
    verbose: 0,
    callbacks: [rec, log, report],
  });
  assert.equal(report.path, `${dir}/report.html`);
  const html = await Deno.readTextFile(report.path!);

  // Self-contained: no scripts, no outside resources.
  assert.doesNotMatch(html, /<script|<link|\bsrc=|url\(/i);
  const urls = html.match(/https?:\/\/[^"]*/g) ?? [];
  assert.ok(urls.every((u) => u === "http://www.w3.org/2000/svg"), urls.join(" "));
  // Curves: 3 epochs × 3 steps of the loss, 3 evaluations.
  const count = (series: string) =>
    Number(html.match(new RegExp(`data-series="${series}" data-count="(\\d+)"`))?.[1]);
  assert.equal(count("train/loss"), 9);
  assert.equal(count("train/lr"), 9);
  assert.equal(count("eval/acc_top1"), 3);
  // Final metrics as the last evaluation gave them.
  const last = rec.evalLogs.at(-1)!;
  assert.match(html, new RegExp(`<th>eval/acc_top1</th><td>${(100 * last.acc_top1).toFixed(2)} %`));
  // Per-class accuracy equals a count made here from the final network's predictions.
  const x = tf.tensor4d(test.images as Float32Array, [10, 4, 4, 1]);
  const predicted = tf.tidy(() => tf.argMax(tf.reshape(model.net.apply(x, false), [10, 3]), 1));
  const pred = await predicted.data();
  tf.dispose([x, predicted]);
  for (const [k, name] of test.classNames.entries()) {
    const idx = [...test.labels.keys()].filter((i) => test.labels[i] === k);
    const correct = idx.filter((i) => pred[i] === k).length;
    assert.match(
      html,
      new RegExp(`<tr><td>${name}</td><td>${idx.length}</td><td>${correct}</td>`),
      `class ${name}`,
    );
  }
  // Settings, escaped.
  assert.match(html, /<th>note<\/th><td>&#60;b&#62;&#38;<\/td>/);
  assert.match(html, /<h1>TinyNet on quadrants<\/h1>/);
  model.dispose();
});

Deno.test("a run stopped early gets its report without the extra per-class pass", async () => {
  const dir = await Deno.makeTempDir();
  class StopAfterOne extends Callback {
    override onTrainBatchEnd(): void {
      this.model.stopTraining = true;
    }
  }
  let evalBatches = 0;
  const data = evalLoader();
  const counting = Object.create(data, {
    batches: {
      value: (e: number) => {
        evalBatches++;
        return data.batches(e);
      },
    },
  });
  const model = new Model(tinyNet({ seed: 4 }));
  model.prepare({ optimizer: new MomentumSGD({ lr: 0.05 }) });
  const report = new TrainingReport({
    saveDir: dir,
    classNames: ["a", "b", "c"],
    evalData: counting,
  });
  await model.fit(train, undefined, {
    epochs: 2,
    batchSize: 5,
    verbose: 0,
    callbacks: [new StopAfterOne(), report],
  });
  const html = await Deno.readTextFile(`${dir}/report.html`);
  assert.equal(evalBatches, 0);
  assert.match(html, /Not computed: training was stopped early/);
  assert.match(html, /data-series="train\/loss" data-count="1"/);
  model.dispose();
});
