import assert from "node:assert/strict";
import { RecordLog } from "../../src/io/record_log.ts";
import { frameVdlRecord, VDLRECORDS } from "../../src/io/vdlrecords.ts";
import { decodeVdl } from "./log_decoders.ts";

Deno.test("a VisualDL log decodes independently: the metadata record, then every scalar", async () => {
  const dir = await Deno.makeTempDir();
  const log = await RecordLog.open(dir, VDLRECORDS, { wallTime: 1700000000.5 });
  assert.match(log.path, /\/vdlrecords\.1700000000\.log$/);
  log.add("train/loss", 1, 2.302585, 1700000001.25);
  log.add("eval/acc_top1", 0, 0.1, 1700000002);
  log.add("train/loss", 2 ** 40, 0.5, 1700000003);
  await log.sync();
  log.close();
  assert.deepEqual(decodeVdl(await Deno.readFile(log.path)), [
    { id: 0, tag: "meta_data_tag", timestamp: 1700000000500, metaDisplayName: "" },
    { id: 1, tag: "train/loss", timestamp: 1700000001250, value: Math.fround(2.302585) },
    { id: 0, tag: "eval/acc_top1", timestamp: 1700000002000, value: Math.fround(0.1) },
    { id: 2 ** 40, tag: "train/loss", timestamp: 1700000003000, value: 0.5 },
  ]);
});

Deno.test("reopening a VisualDL log keeps its one file, drops rejected steps and a torn tail", async () => {
  const dir = await Deno.makeTempDir();
  const first = await RecordLog.open(dir, VDLRECORDS, { wallTime: 1 });
  for (let s = 1; s <= 4; s++) first.add("train/loss", s, s, 2);
  first.add("eval/loss", 0, 7, 2);
  first.add("eval/loss", 1, 8, 2);
  await first.sync();
  first.close();
  await Deno.writeFile(first.path, frameVdlRecord(new Uint8Array(20)).subarray(0, 12), {
    append: true,
  });
  const second = await RecordLog.open(dir, VDLRECORDS, {
    wallTime: 5,
    keep: (tag, step) => tag.startsWith("eval/") ? step < 1 : step <= 2,
  });
  second.add("train/loss", 3, 30, 6);
  await second.sync();
  second.close();
  assert.equal(second.path, first.path);
  assert.deepEqual([...Deno.readDirSync(dir)].length, 1);
  const values = decodeVdl(await Deno.readFile(first.path)).slice(1);
  assert.deepEqual(values.map((v) => [v.tag, v.id, v.value]), [
    ["train/loss", 1, 1],
    ["train/loss", 2, 2],
    ["eval/loss", 0, 7],
    ["train/loss", 3, 30],
  ]);
});
