import assert from "node:assert/strict";
import { readCheckpoint } from "../../src/io/checkpoint.ts";
import {
  checkpointBytes,
  Fixture,
  intactCheckpoints,
  lastLine,
  readLog,
  runFixture,
  runUntil,
  series,
} from "./run_fixture.ts";

// 5 steps per epoch, 3 epochs: checkpoints 0@5, 1@10, 2@15.
const root = await Deno.makeTempDir({ prefix: "reliability-signals-" });
const refDir = `${root}/reference`;
const refRun = await runFixture(["--save-dir", refDir, "--log-file", `${root}/reference.jsonl`]);
assert.equal(refRun.code, 0, refRun.stderr);
const refLog = await readLog(`${root}/reference.jsonl`);

function flags(name: string): string[] {
  return ["--save-dir", `${root}/${name}`, "--log-file", `${root}/${name}.jsonl`];
}

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test(`${signal} mid-epoch finishes the step, saves its position, exits ${code} saying how to resume; the resumed run matches an uninterrupted one`, async () => {
    const name = signal.toLowerCase();
    const saveDir = `${root}/${name}`;
    const r = await runUntil(flags(name), "batch:8", signal);
    assert.equal(r.code, code, r.stderr);
    assert.equal(
      lastLine(r.stderr),
      `interrupted by ${signal} after step 8 (epoch 1, batch 2); checkpoint saved: ` +
        `${saveDir}/interrupted; resume with: train_fixture --save-dir ${saveDir} ` +
        `--log-file ${root}/${name}.jsonl --resume latest`,
    );
    assert.match(r.stderr, new RegExp(`${signal}: stopping after the current step`));
    // No epoch checkpoint for the cut epoch 1, no `final`.
    assert.deepEqual(await intactCheckpoints(saveDir), ["0", "interrupted"]);
    const { meta } = await readCheckpoint(`${saveDir}/interrupted`);
    assert.equal(meta.globalStep, 8);
    assert.deepEqual(meta.position, { epoch: 1, batch: 3 });
    assert.deepEqual(
      [...series(await readLog(`${root}/${name}.jsonl`), "train/loss").keys()],
      [1, 2, 3, 4, 5, 6, 7, 8],
      "the log holds every completed step and was flushed",
    );

    const done = await runFixture([...flags(name), "--resume", "latest"]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /resuming from .*\/interrupted$/m);
    assert.deepEqual(
      await checkpointBytes(`${saveDir}/final`),
      await checkpointBytes(`${refDir}/final`),
    );
    const log = await readLog(`${root}/${name}.jsonl`);
    assert.deepEqual([...series(log, "train/loss")], [...series(refLog, "train/loss")]);
    assert.deepEqual([...series(log, "eval/loss")], [...series(refLog, "eval/loss")]);
  });
}

Deno.test("a second SIGINT exits at once with 130, writing nothing more", async () => {
  const saveDir = `${root}/twice`;
  // `hold` keeps step 8 waiting after the first signal, as a long step would.
  const f = new Fixture(flags("twice"), {
    FIXTURE_PAUSE: "hold:8",
    FIXTURE_RELEASE: `${root}/never`,
  });
  await f.waitFor("PAUSED hold 8");
  f.kill("SIGINT");
  await f.waitFor("press Ctrl-C again to exit at once");
  const t0 = performance.now();
  f.kill("SIGINT");
  const r = await f.result();
  const ms = performance.now() - t0;
  assert.equal(r.code, 130, r.stderr);
  assert.ok(ms < 5000, `took ${ms} ms to exit`);
  assert.equal(
    lastLine(r.stderr),
    `SIGINT again: exiting at once; last complete checkpoint: ${saveDir}/0 (step 5)`,
  );
  assert.deepEqual(await intactCheckpoints(saveDir), ["0"]);
});
