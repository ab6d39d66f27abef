import assert from "node:assert/strict";
import { formatValue, ProgressBar } from "../../src/train/progress_bar.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { quadrantDataset, tinyNet, useCpu } from "../train/helpers.ts";

await useCpu();

async function output(opts: ConstructorParameters<typeof ProgressBar>[0]): Promise<string> {
  let text = "";
  const model = new Model(tinyNet());
  model.prepare({ optimizer: new MomentumSGD({ lr: 1e-4 }) });
  await model.fit(quadrantDataset(10), quadrantDataset(3, 1), {
    epochs: 2,
    batchSize: 3,
    verbose: 0,
    callbacks: [new ProgressBar({ ...opts, write: (t) => text += t })],
  });
  model.dispose();
  return text;
}

Deno.test("off a terminal the bar prints plain periodic lines and an epoch summary", async () => {
  const text = await output({ isTerminal: false, lineEvery: 2 });
  assert.ok(!text.includes("\r"));
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, 6);
  assert.equal(lines[0], "Epoch 1/2");
  assert.match(
    lines[1],
    /^2\/4 - step 2 - loss: \d\.\d{4} - acc_top1: \d\.\d{4} - acc_top5: 1\.0000 - lr: 1\.0000e-4$/,
  );
  assert.match(
    lines[2],
    /^4\/4 - \d+s \d+ms\/step - loss: .* - eval_loss: \d\.\d{4} - eval_acc_top1: .* - eval_acc_top5: 1\.0000$/,
  );
  assert.equal(lines[3], "Epoch 2/2");
  assert.match(lines[4], /^2\/4 - step 6 /);
});

Deno.test("on a terminal the bar redraws in place and ends each epoch with a full bar", async () => {
  const text = await output({ isTerminal: true, width: 10 });
  assert.ok(text.includes("\r"));
  assert.match(text, /\r4\/4 \[==========\] - \d+s \d+ms\/step - loss: /);
  assert.equal(text.split("\n").filter((l) => l.includes("4/4 [==========]")).length, 2);
});

Deno.test("epoch mode prints one line per epoch", async () => {
  const text = await output({ mode: "epoch" });
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[1], /^Epoch 2\/2 - \d+s \d+ms\/step - loss: /);
});

Deno.test("values print with four decimals, small ones in scientific notation", () => {
  assert.equal(formatValue(0.5), "0.5000");
  assert.equal(formatValue(2e-5), "2.0000e-5");
  assert.equal(formatValue(0), "0.0000");
  assert.equal(formatValue(NaN), "NaN");
});
