import assert from "node:assert/strict";
import {
  checkpointBytes,
  Fixture,
  hiddenEntries,
  intactCheckpoints,
  lastLine,
  readLog,
  runFixture,
  series,
} from "./run_fixture.ts";

// 5 steps per epoch, 3 epochs: checkpoints 0@5, 1@10, 2@15, final@15.
const root = await Deno.makeTempDir({ prefix: "reliability-failures-" });
const refDir = `${root}/reference`;
const refRun = await runFixture(["--save-dir", refDir, "--log-file", `${root}/reference.jsonl`]);
assert.equal(refRun.code, 0, refRun.stderr);

function flags(name: string, saveDir = `${root}/${name}`): string[] {
  return ["--save-dir", saveDir, "--log-file", `${root}/${name}.jsonl`];
}

function resumeHint(name: string, saveDir = `${root}/${name}`): string {
  return `train_fixture --save-dir ${saveDir} --log-file ${root}/${name}.jsonl --resume latest`;
}

Deno.test("a non-finite loss stops with exit code 3 naming the step and the last good checkpoint; resuming from it recovers", async () => {
  const saveDir = `${root}/nan`;
  const r = await runFixture([...flags("nan"), "--nan-at", "8"]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(
    lastLine(r.stderr),
    `TerminateOnNaN: loss is NaN at step 8 (epoch 1, batch 2); stopping. Last good checkpoint: ` +
      `${saveDir}/0 (resume from it, e.g. with a lower learning rate). Resume with: ` +
      resumeHint("nan"),
  );
  assert.deepEqual(await intactCheckpoints(saveDir), ["0"], "no NaN state, no final");

  const done = await runFixture([...flags("nan"), "--resume", "latest"]);
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(
    await checkpointBytes(`${saveDir}/final`),
    await checkpointBytes(`${refDir}/final`),
  );
  const steps = [...series(await readLog(`${root}/nan.jsonl`), "train/loss").keys()];
  assert.deepEqual(steps, Array.from({ length: 15 }, (_, i) => i + 1));
});

for (
  const [kind, headline, cause, advice] of [
    ["oom", "out of memory", "RangeError: Array buffer allocation failed", "try a smaller"],
    ["device-lost", "the GPU device was lost", "Error: GPUDevice was lost", "check the GPU"],
  ] as const
) {
  Deno.test(`${headline} during a step exits 4 with a clear message; the last checkpoint is intact`, async () => {
    const saveDir = `${root}/${kind}`;
    const r = await runFixture([...flags(kind), "--fail-at", "12", "--fail-with", kind]);
    assert.equal(r.code, 4, r.stderr);
    const line = lastLine(r.stderr);
    assert.ok(line.startsWith(`error: ${headline}: ${cause}`), line);
    assert.ok(
      line.includes(
        `; 11 steps done (next: epoch 2, batch 1); last complete checkpoint: ${saveDir}/1 ` +
          `(step 10); resume with: ${resumeHint(kind)} (${advice}`,
      ),
      line,
    );
    assert.deepEqual(await intactCheckpoints(saveDir), ["0", "1"]);
  });
}

Deno.test("a damaged checkpoint is refused with exit code 5; --resume latest skips it for the newest intact one", async () => {
  const saveDir = `${root}/damaged`;
  assert.equal((await runFixture(flags("damaged"))).code, 0);
  const weights = `${saveDir}/final/model.safetensors`;
  const bytes = await Deno.readFile(weights);
  bytes[bytes.length - 3] ^= 0x40;
  await Deno.writeFile(weights, bytes);

  const r = await runFixture([...flags("damaged"), "--resume", `${saveDir}/final`]);
  assert.equal(r.code, 5, r.stderr);
  assert.equal(
    lastLine(r.stderr),
    `error: checkpoint error: CheckpointError: checkpoint ${saveDir}/final: file ` +
      `model.safetensors is damaged (SHA-256 differs from the manifest) ` +
      `(--resume latest picks the newest intact checkpoint)`,
  );

  const latest = await runFixture([...flags("damaged"), "--resume", "latest"]);
  assert.equal(latest.code, 0, latest.stderr);
  assert.match(latest.stderr, /^skipping .*damaged\/final: .*model\.safetensors is damaged/m);
  assert.match(latest.stderr, /^resuming from .*damaged\/2$/m);
  assert.deepEqual(
    await checkpointBytes(`${saveDir}/final`),
    await checkpointBytes(`${refDir}/final`),
  );
});

/** Mounts a tmpfs at `dir` (root only); false when this machine does not allow it. */
async function mountTmpfs(dir: string, options: string): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  const out = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", options, "tmpfs", dir],
  })
    .output().catch(() => null);
  return out?.success === true;
}

async function unmount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir] }).output();
}

Deno.test("a read-only save folder is refused before the first step with exit code 5", async () => {
  const saveDir = `${root}/readonly`;
  await Deno.mkdir(saveDir);
  // As root permissions do not stop writes; a read-only mount does.
  const mounted = await mountTmpfs(saveDir, "ro,size=1m");
  if (!mounted) await Deno.chmod(saveDir, 0o555);
  try {
    const r = await runFixture(flags("readonly"));
    assert.equal(r.code, 5, r.stderr);
    assert.match(
      lastLine(r.stderr),
      new RegExp(
        `^error: cannot write there: CheckpointError: checkpoint ${saveDir}: folder is not ` +
          `writable: .*\\(choose writable folders with --save-dir / --log-dir\\)$`,
      ),
    );
    assert.equal((await readLog(`${root}/readonly.jsonl`)).length, 0, "no step ran");
  } finally {
    if (mounted) await unmount(saveDir);
  }
});

const canMount = Deno.uid() === 0 && await (async () => {
  const probe = await Deno.makeTempDir();
  const ok = await mountTmpfs(probe, "size=64k");
  if (ok) await unmount(probe);
  return ok;
})();

Deno.test({
  name: "a disk too small for one checkpoint is refused before the first step with exit code 5",
  ignore: !canMount,
  async fn() {
    const saveDir = `${root}/tiny-disk`;
    await Deno.mkdir(saveDir);
    assert.ok(await mountTmpfs(saveDir, "size=16k"));
    try {
      const r = await runFixture(flags("tiny-disk"));
      assert.equal(r.code, 5, r.stderr);
      assert.match(
        lastLine(r.stderr),
        /^error: the disk is full: CheckpointError: checkpoint .*tiny-disk: no room for a checkpoint of [\d.]+ kB: No space left on device/,
      );
      assert.equal((await readLog(`${root}/tiny-disk.jsonl`)).length, 0, "no step ran");
      assert.deepEqual(await hiddenEntries(saveDir), [], "the probe file is removed");
    } finally {
      await unmount(saveDir);
    }
  },
});

Deno.test({
  name:
    "a disk that fills up during training fails the checkpoint write with exit code 5, leaving no partial checkpoint; resuming after freeing space recovers",
  ignore: !canMount,
  async fn() {
    const disk = `${root}/full-disk`;
    const saveDir = `${disk}/ckpt`;
    await Deno.mkdir(disk);
    assert.ok(await mountTmpfs(disk, "size=1m"));
    try {
      const release = `${root}/full-disk.release`;
      const f = new Fixture(flags("full-disk", saveDir), {
        FIXTURE_PAUSE: "hold:8",
        FIXTURE_RELEASE: release,
      });
      await f.waitFor("PAUSED hold 8");
      const filler = `${disk}/filler`;
      await Deno.writeFile(filler, new Uint8Array(4 << 20)).catch((e) => {
        if (!/No space left/.test(e.message)) throw e;
      });
      await Deno.writeTextFile(release, "");
      const r = await f.result();
      assert.equal(r.code, 5, r.stderr);
      const line = lastLine(r.stderr);
      assert.match(
        line,
        // The write's own probe or its files hit the full disk, depending on the free pages.
        new RegExp(
          `^error: the disk is full: CheckpointError: checkpoint ${saveDir}(/1)?: ` +
            `(write failed|folder is not writable): No space left on device`,
        ),
      );
      assert.ok(
        line.includes(
          `; 10 steps done (next: epoch 2, batch 0); last complete checkpoint: ` +
            `${saveDir}/0 (step 5); resume with: ${resumeHint("full-disk", saveDir)}`,
        ),
        line,
      );
      assert.deepEqual(await intactCheckpoints(saveDir), ["0"]);
      assert.deepEqual(await hiddenEntries(saveDir), [], "no half-written folder is left");

      await Deno.remove(filler);
      const done = await runFixture([...flags("full-disk", saveDir), "--resume", "latest"]);
      assert.equal(done.code, 0, done.stderr);
      assert.deepEqual(
        await checkpointBytes(`${saveDir}/final`),
        await checkpointBytes(`${refDir}/final`),
      );
    } finally {
      await unmount(disk);
    }
  },
});
