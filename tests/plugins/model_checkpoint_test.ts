import assert from "node:assert/strict";
import { LRScheduler } from "../../src/train/lr_scheduler.ts";
import { ModelCheckpoint } from "../../plugins/model_checkpoint.ts";
import { readCheckpoint } from "../../src/io/checkpoint.ts";
import { decodeSafetensors } from "../../src/io/safetensors.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { warmupCosine } from "../../src/train/schedules.ts";
import { quadrantDataset, Recorder, tinyNet, useCpu } from "../train/helpers.ts";

await useCpu();

const EPOCHS = 5;
const train = quadrantDataset(10); // batch 3: 4 steps per epoch, the last one partial
const test = quadrantDataset(6, 5);

function newModel(): Model {
  // Different init seeds: a resumed run must get everything from the checkpoint.
  const model = new Model(tinyNet({ seed: Math.floor(Math.random() * 1000) }));
  model.prepare({
    // Warm-up ends inside epoch 1 (step 5); momentum and weight decay as the recipe.
    optimizer: new MomentumSGD({
      schedule: warmupCosine({ lr: 0.05, warmupSteps: 6, epochs: EPOCHS }),
    }),
  });
  return model;
}

async function run(saveDir: string, resumeFrom?: string) {
  const model = newModel();
  const rec = new Recorder();
  await model.fit(train, test, {
    epochs: EPOCHS,
    batchSize: 3,
    verbose: 0,
    resumeFrom,
    callbacks: [new ModelCheckpoint({ saveDir }), new LRScheduler(), rec],
  });
  const weights = model.net.variables().map((v) => Array.from(v.variable.dataSync()));
  model.dispose();
  return { rec, weights };
}

const dir = await Deno.makeTempDir();
const full = await run(`${dir}/full`);

Deno.test("checkpoints 0 … epochs−1 and final are written, each complete, with no leftovers", async () => {
  const names = [];
  for await (const e of Deno.readDir(`${dir}/full`)) names.push(e.name);
  assert.deepEqual(names.sort(), ["0", "1", "2", "3", "4", "final"]);
  const { files, meta } = await readCheckpoint(`${dir}/full/1`);
  assert.deepEqual(Object.keys(files).sort(), [
    "model.safetensors",
    "optimizer.safetensors",
    "state.json",
  ]);
  assert.equal(meta.epoch, 1);
  assert.equal(meta.globalStep, 8);
  const { tensors } = decodeSafetensors(files["model.safetensors"]);
  assert.deepEqual([...tensors.keys()].sort(), [
    "bn1.bias",
    "bn1.running_mean",
    "bn1.running_var",
    "bn1.weight",
    "conv1.weight",
    "final_conv.bias",
    "final_conv.weight",
  ]);
  assert.deepEqual(tensors.get("conv1.weight")!.shape, [4, 1, 3, 3], "conv kernels are OIHW");
  const momentum = decodeSafetensors(files["optimizer.safetensors"]).tensors;
  assert.ok(!momentum.has("bn1.running_mean"), "no momentum for moving statistics");
  assert.equal(momentum.size, 5);
  const state = JSON.parse(new TextDecoder().decode(files["state.json"]));
  assert.deepEqual(meta.position, { epoch: 2, batch: 0 });
  assert.equal(state.format, 2);
  assert.ok(!("position" in state) && !("globalStep" in state), "the position is stored once");
  assert.equal(state.schedule.kind, "warmup");
  assert.equal(state.schedule.k, 6);
  const final = await readCheckpoint(`${dir}/full/final`);
  assert.equal(final.meta.globalStep, EPOCHS * 4);
});

for (const k of [0, 1, 3]) {
  Deno.test(`resuming from checkpoint ${k} reproduces the uninterrupted run's rates, losses and weights`, async () => {
    const resumed = await run(`${dir}/resume${k}`, `${dir}/full/${k}`);
    const skip = (k + 1) * 4;
    const want = full.rec.batchLogs.slice(skip);
    const got = resumed.rec.batchLogs;
    assert.deepEqual(got.map((l) => l.step), want.map((l) => l.step));
    assert.deepEqual(got.map((l) => l.lr), want.map((l) => l.lr));
    assert.deepEqual(got.map((l) => l.loss), want.map((l) => l.loss));
    assert.deepEqual(got.map((l) => l.acc_top1), want.map((l) => l.acc_top1));
    assert.deepEqual(resumed.rec.evalLogs, full.rec.evalLogs.slice(k + 1));
    assert.deepEqual(resumed.weights, full.weights);
    assert.equal(
      resumed.rec.calls.filter((c) => c.startsWith("epochBegin"))[0],
      `epochBegin ${k + 1}`,
    );
  });
}

Deno.test("resuming with a different schedule is refused, naming the setting", async () => {
  const model = new Model(tinyNet());
  model.prepare({
    optimizer: new MomentumSGD({
      schedule: warmupCosine({ lr: 0.05, warmupSteps: 7, epochs: EPOCHS }),
    }),
  });
  await assert.rejects(model.load(`${dir}/full/1`), /"warmupSteps" is 6 in the checkpoint but 7/);
  model.dispose();
});

Deno.test("a non-finite loss is never saved over a good checkpoint", async () => {
  const model = newModel();
  const logged: string[] = [];
  const cb = new ModelCheckpoint({ saveDir: `${dir}/nan`, log: (m) => logged.push(m) });
  cb.setModel(model);
  await cb.onEpochEnd(0, { loss: NaN });
  await cb.onTrainEnd({ loss: Infinity });
  assert.equal(logged.length, 2);
  assert.match(logged[0], /loss is NaN; not saving .*nan\/0/);
  await assert.rejects(Deno.stat(`${dir}/nan/0`), Deno.errors.NotFound);
  model.dispose();
});
