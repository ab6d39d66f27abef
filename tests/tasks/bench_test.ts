import assert from "node:assert/strict";
import { runCli, show } from "./helpers.ts";

const TINY = ["--model", "resnet18", "--width", "2", "--blocks", "1,1,1,1", "--batch-size", "4"];
const SPEEDS = ["train_img_per_s", "train_steps_per_s", "eval_img_per_s", "augment_batches_per_s"];

Deno.test("bench prints a table and, last, one JSON line with the measured speeds", async () => {
  const r = await runCli(
    ["bench", ...TINY, "--steps", "2", "--warmup", "1", "--backend", "cpu"],
    await Deno.makeTempDir(),
  );
  assert.equal(r.code, 0, show(r));
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0], /^backend +model +batch +train img\/s/);
  const j = JSON.parse(lines.at(-1)!);
  assert.equal(j.backend, "cpu");
  assert.equal(j.model, "resnet18");
  assert.equal(j.width, 2);
  assert.equal(j.batch_size, 4);
  for (const k of SPEEDS) assert.ok(j[k] > 0 && Number.isFinite(j[k]), `${k} = ${j[k]}`);
  assert.ok(Math.abs(j.train_img_per_s - 4 * j.train_steps_per_s) < 1e-6 * j.train_img_per_s);
});

Deno.test("bench --compare runs each backend on the same work and gives ratios to the first", async () => {
  const r = await runCli(
    ["bench", ...TINY, "--steps", "1", "--warmup", "1", "--compare", "--backends", "cpu,native"],
    await Deno.makeTempDir(),
  );
  assert.equal(r.code, 0, show(r));
  const j = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.deepEqual(j.compare, ["cpu", "native"]);
  assert.equal(j.baseline, "cpu");
  assert.deepEqual(j.results.map((x: { backend: string }) => x.backend), ["cpu", "native"]);
  const [cpu, native] = j.results;
  assert.equal(cpu.train_ratio, 1);
  for (const k of SPEEDS) assert.ok(cpu[k] > 0, `cpu ${k}`);
  if ("error" in native) {
    // Where oneDNN is missing the comparison still runs, and says why native did not.
    console.log(`native backend not measured here: ${native.error}`);
    assert.match(r.stdout, /^native did not run: /m);
  } else {
    assert.equal(native.batch_size, 4);
    assert.ok(Math.abs(native.train_ratio - native.train_img_per_s / cpu.train_img_per_s) < 1e-9);
    assert.ok(Math.abs(native.eval_ratio - native.eval_img_per_s / cpu.eval_img_per_s) < 1e-9);
  }
});
