import assert from "node:assert/strict";
import { join } from "node:path";
import { readCheckpoint, writeCheckpoint } from "../../src/io/checkpoint.ts";
import { networkTensors, saveWeights } from "../../src/io/weights.ts";
import { CHECKPOINT_FILES } from "../../src/train/checkpoint_format.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { warmupCosine } from "../../src/train/schedules.ts";
import { quadrantDataset, tinyNet, useCpu } from "./helpers.ts";

await useCpu();

function newModel(seed: number): Model {
  const model = new Model(tinyNet({ seed }));
  model.prepare({
    optimizer: new MomentumSGD({ schedule: warmupCosine({ lr: 0.05, warmupSteps: 3, epochs: 4 }) }),
  });
  return model;
}

const root = await Deno.makeTempDir();
const trained = newModel(1);
// 10 examples in batches of 4: one epoch of 3 steps, so the next position is epoch 1, batch 0.
await trained.fit(quadrantDataset(10), undefined, { epochs: 1, batchSize: 4, verbose: 0 });
await trained.save(join(root, "new"));

Deno.test("the step and position are stored once, in the manifest", async () => {
  const { files, meta } = await readCheckpoint(join(root, "new"));
  const state = JSON.parse(new TextDecoder().decode(files[CHECKPOINT_FILES.state]));
  assert.deepEqual(Object.keys(state).sort(), ["format", "network", "optimizer", "schedule"]);
  assert.equal(meta.globalStep, 3);
  assert.deepEqual(meta.position, { epoch: 1, batch: 0 });
});

Deno.test("a checkpoint of the earlier layout (state.json format 1) still loads", async () => {
  const { files, meta } = await readCheckpoint(join(root, "new"));
  const state = JSON.parse(new TextDecoder().decode(files[CHECKPOINT_FILES.state]));
  const old = { ...state, format: 1, globalStep: 3, position: { epoch: 1, batch: 0 } };
  files[CHECKPOINT_FILES.state] = new TextEncoder().encode(JSON.stringify(old));
  await writeCheckpoint(join(root, "old"), files, meta);
  const model = newModel(2);
  assert.deepEqual(await model.load(join(root, "old")), { epoch: 1, batch: 0, globalStep: 3 });
  assert.deepEqual(await networkTensors(model.net), await networkTensors(trained.net));
  assert.equal(model.optimizer.lr, trained.optimizer.lr);
  model.dispose();
});

Deno.test("loading a weights file sets the weights and leaves the position alone", async () => {
  const file = join(root, "w.safetensors");
  await saveWeights(trained.net, file);
  const model = newModel(3);
  assert.deepEqual(await model.load(file), { epoch: 0, batch: 0, globalStep: 0 });
  assert.equal(model.lastCheckpoint, null);
  assert.deepEqual(await networkTensors(model.net), await networkTensors(trained.net));
  model.dispose();
});
