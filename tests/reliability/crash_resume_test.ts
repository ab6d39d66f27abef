import assert from "node:assert/strict";
import {
  checkpointBytes,
  hiddenEntries,
  intactCheckpoints,
  readLog,
  runFixture,
  runUntil,
  series,
} from "./run_fixture.ts";

// 20 examples in batches of 4: 5 steps per epoch; 4 epochs; checkpoints 0@5, 1@10, 2@15, 3@20.
const EPOCHS = "4";
const root = await Deno.makeTempDir({ prefix: "reliability-crash-" });

async function reference() {
  const saveDir = `${root}/reference`;
  const log = `${root}/reference.jsonl`;
  const r = await runFixture(["--save-dir", saveDir, "--log-file", log, "--epochs", EPOCHS]);
  assert.equal(r.code, 0, r.stderr);
  return { saveDir, log: await readLog(log) };
}

Deno.test("SIGKILL during a step and during checkpoint writes loses no step: resumed runs end exactly like an uninterrupted one", async () => {
  const ref = await reference();
  const saveDir = `${root}/killed`;
  const logFile = `${root}/killed.jsonl`;
  const args = ["--save-dir", saveDir, "--log-file", logFile, "--epochs", EPOCHS];
  const resume = [...args, "--resume", "latest"];

  // Killed inside the gradient computation of step 8 (epoch 1): checkpoint 0 holds step 5.
  let r = await runUntil(args, "step:8");
  assert.equal(r.signal, "SIGKILL");
  assert.deepEqual(await intactCheckpoints(saveDir), ["0"]);

  // Resumed from 0, killed while writing checkpoint 1 (weights written, the rest not yet).
  r = await runUntil(resume, "write:1");
  assert.equal(r.signal, "SIGKILL");
  assert.deepEqual(await intactCheckpoints(saveDir), ["0"], "the half-written 1 is invisible");
  assert.equal((await hiddenEntries(saveDir)).length, 1, "its temporary folder is left behind");

  // Resumed from 0 again; checkpoint 1 is written, killed with checkpoint 2 complete but not
  // yet renamed into place.
  r = await runUntil(resume, "rename:2");
  assert.equal(r.signal, "SIGKILL");
  assert.deepEqual(await intactCheckpoints(saveDir), ["0", "1"]);

  // Resumed from 1; killed inside step 18, after checkpoint 2 was written.
  r = await runUntil(resume, "step:18");
  assert.equal(r.signal, "SIGKILL");
  assert.deepEqual(await intactCheckpoints(saveDir), ["0", "1", "2"]);

  r = await runFixture(resume);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resuming from .*killed\/2$/m);
  assert.deepEqual(await intactCheckpoints(saveDir), ["0", "1", "2", "3", "final"]);
  assert.deepEqual(await hiddenEntries(saveDir), [], "leftovers are cleaned by later writes");

  // Same weights and momentum, bit for bit, at every epoch and at the end.
  for (const name of ["0", "1", "2", "3", "final"]) {
    assert.deepEqual(
      await checkpointBytes(`${saveDir}/${name}`),
      await checkpointBytes(`${ref.saveDir}/${name}`),
      `checkpoint ${name} differs from the uninterrupted run's`,
    );
  }
  // Every step logged exactly once (series() asserts it), with the uninterrupted run's values.
  const log = await readLog(logFile);
  for (const tag of ["train/loss", "train/acc_top1", "train/lr", "eval/loss", "eval/acc_top1"]) {
    const got = series(log, tag);
    const want = series(ref.log, tag);
    assert.deepEqual([...got.keys()], [...want.keys()], `${tag}: steps`);
    assert.deepEqual([...got.values()], [...want.values()], `${tag}: values`);
  }
  assert.deepEqual(
    [...series(log, "train/loss").keys()],
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.equal(log.length, ref.log.length);
});
