import assert from "node:assert/strict";
import { ModelCheckpoint } from "../../plugins/model_checkpoint.ts";
import { ScalarLog, type ScalarRecord } from "../../plugins/scalar_log.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { quadrantDataset, Recorder, tinyNet, useCpu } from "../train/helpers.ts";
import { decodeEvents, decodeVdl, onlyFile } from "../io/log_decoders.ts";

await useCpu();

const RECIPE_TAGS = [
  "eval/acc_top1",
  "eval/acc_top5",
  "eval/loss",
  "train/acc_top1",
  "train/acc_top5",
  "train/loss",
  "train/lr",
];

function newModel(): Model {
  const model = new Model(tinyNet({ seed: 2 }));
  model.prepare({ optimizer: new MomentumSGD({ lr: 0.05 }) });
  return model;
}

async function readLog(path: string): Promise<ScalarRecord[]> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\n"));
  return text.trimEnd().split("\n").map((line) => JSON.parse(line));
}

const steps = (recs: ScalarRecord[], tag: string) =>
  recs.filter((r) => r.tag === tag).map((r) => r.step);

Deno.test("the log parses line by line and holds exactly the recipe's tags at the recipe's steps", async () => {
  const dir = await Deno.makeTempDir();
  const model = newModel();
  const rec = new Recorder();
  const log = new ScalarLog({ logDir: `${dir}/vis_logs`, clock: () => 1700000000.25 });
  await model.fit(quadrantDataset(5), quadrantDataset(4, 1), {
    epochs: 2,
    batchSize: 3,
    verbose: 0,
    callbacks: [log, rec],
  });
  assert.match(
    log.path!,
    new RegExp(`${dir}/vis_logs/scalars-\\d{4}-\\d\\d-\\d\\dT[\\d-]+\\.\\d+Z-${Deno.pid}\\.jsonl$`),
  );
  const recs = await readLog(log.path!);
  assert.deepEqual([...new Set(recs.map((r) => r.tag))].sort(), RECIPE_TAGS);
  for (const r of recs) {
    assert.deepEqual(Object.keys(r), ["tag", "step", "value", "wall_time"]);
    assert.equal(r.wall_time, 1700000000.25);
  }
  for (const tag of RECIPE_TAGS) {
    assert.deepEqual(steps(recs, tag), tag.startsWith("train/") ? [1, 2, 3, 4] : [0, 1], tag);
  }
  const train = (tag: string) => recs.filter((r) => r.tag === `train/${tag}`).map((r) => r.value);
  assert.deepEqual(train("loss"), rec.batchLogs.map((l) => l.loss));
  assert.deepEqual(train("acc_top1"), rec.batchLogs.map((l) => l.acc_top1));
  assert.deepEqual(train("lr"), [0.05, 0.05, 0.05, 0.05]);
  const evalLoss = recs.filter((r) => r.tag === "eval/loss").map((r) => r.value);
  assert.deepEqual(evalLoss, rec.evalLogs.map((l) => l.loss));
  model.dispose();

  // The event file and the VisualDL log hold the same (tag, step, value) as the JSONL, in float32.
  assert.equal(log.runDir, log.path!.replace(/\.jsonl$/, ".logs"));
  const expected = recs.map((r) => [r.tag, r.step, Math.fround(r.value)]);
  const events = decodeEvents(await Deno.readFile(await onlyFile(log.runDir!, "events.out.")));
  assert.equal(events[0].fileVersion, "brain.Event:2");
  assert.deepEqual(
    events.slice(1).map((e) => [e.scalars[0].tag, e.step, e.scalars[0].value]),
    expected,
  );
  const vdl = decodeVdl(await Deno.readFile(await onlyFile(log.runDir!, "vdlrecords.")));
  assert.equal(vdl[0].tag, "meta_data_tag");
  assert.deepEqual(vdl.slice(1).map((v) => [v.tag, v.id, v.value]), expected);
  assert.ok(vdl.slice(1).every((v) => v.timestamp === 1700000000250));
});

Deno.test("formats choose the files: tensorboard alone writes no JSONL and no VisualDL log", async () => {
  const dir = await Deno.makeTempDir();
  const model = newModel();
  const log = new ScalarLog({ file: `${dir}/run.jsonl`, formats: ["tensorboard"] });
  await model.fit(quadrantDataset(5), quadrantDataset(4, 1), {
    epochs: 1,
    batchSize: 3,
    verbose: 0,
    callbacks: [log],
  });
  model.dispose();
  assert.equal(log.path, null);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["run.logs"]);
  const names = [...Deno.readDirSync(`${dir}/run.logs`)].map((e) => e.name);
  assert.equal(names.length, 1);
  assert.match(names[0], /^events\.out\.tfevents\.\d{10}\./);
});

Deno.test("appending on resume drops what the crashed run logged after its checkpoint: every step once", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/run.jsonl`;
  const train = quadrantDataset(5);
  const test = quadrantDataset(4, 1);
  const first = newModel();
  // The "crashed" run got through 3 epochs but its last checkpoint is epoch 0.
  await first.fit(train, test, {
    epochs: 3,
    batchSize: 3,
    verbose: 0,
    callbacks: [
      new ScalarLog({ file }),
      new ModelCheckpoint({ saveDir: `${dir}/ckpt`, saveFinal: false }),
    ],
  });
  first.dispose();
  await Deno.writeTextFile(file, '{"tag":"train/lo', { append: true }); // torn by the crash
  const eventFile = await onlyFile(`${dir}/run.logs`, "events.out.");
  await Deno.writeFile(eventFile, new Uint8Array([9, 0, 0]), { append: true });
  const second = newModel();
  await second.fit(train, test, {
    epochs: 3,
    batchSize: 3,
    verbose: 0,
    resumeFrom: `${dir}/ckpt/0`,
    callbacks: [new ScalarLog({ file })],
  });
  second.dispose();
  const recs = await readLog(file);
  for (const tag of RECIPE_TAGS) {
    assert.deepEqual(
      steps(recs, tag),
      tag.startsWith("train/") ? [1, 2, 3, 4, 5, 6] : [0, 1, 2],
      tag,
    );
  }
  // The same run folder's one event file and one VisualDL log continue with every step once,
  // holding what the JSONL holds.
  const expected = recs.map((r) => [r.tag, r.step, Math.fround(r.value)]);
  const events = decodeEvents(
    await Deno.readFile(await onlyFile(`${dir}/run.logs`, "events.out.")),
  );
  assert.deepEqual(
    events.slice(1).map((e) => [e.scalars[0].tag, e.step, e.scalars[0].value]),
    expected,
  );
  const vdl = decodeVdl(await Deno.readFile(await onlyFile(`${dir}/run.logs`, "vdlrecords.")));
  assert.deepEqual(vdl.slice(1).map((v) => [v.tag, v.id, v.value]), expected);
});
