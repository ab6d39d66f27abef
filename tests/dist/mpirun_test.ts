/**
 * Data-parallel training end to end, two local ranks under Open MPI's `mpirun` (skipped with the
 * reason printed where `mpirun` is missing). Every run is small: the machine may have 2 cores.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { registerNativeBackend } from "../../src/backend/native.ts";
import { readCheckpoint } from "../../src/io/checkpoint.ts";
import { decodeSafetensors } from "../../src/io/safetensors.ts";
import { type CliResult, MAIN, readScalarLog, runCli, show } from "../tasks/helpers.ts";

const MPIRUN = (() => {
  try {
    return new Deno.Command("mpirun", { args: ["--version"], stdout: "null", stderr: "null" })
        .outputSync().success
      ? "mpirun"
      : null;
  } catch {
    return null;
  }
})();
const ignore = MPIRUN === null;
if (ignore) {
  console.log("skipping the mpirun tests: mpirun not found (apt-get install openmpi-bin)");
}

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

function mpirunArgs(np: number, command: string[]): string[] {
  const root = Deno.uid() === 0 ? ["--allow-run-as-root"] : [];
  return ["--oversubscribe", ...root, "-np", String(np), Deno.execPath(), "run", "-A", ...command];
}

async function mpirun(np: number, command: string[], cwd: string): Promise<CliResult> {
  const out = await new Deno.Command(MPIRUN!, {
    args: mpirunArgs(np, command),
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function tensors(dir: string, file: string) {
  const { files } = await readCheckpoint(dir);
  return decodeSafetensors(files[file], file).tensors;
}

/** Largest |a − b| of a tensor over its largest |b|: relative to the tensor's scale. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m === 0 ? d : d / m;
}

/** The JSONL scalar log in a log folder (beside it: the run's TensorBoard/VisualDL folder). */
function jsonlLog(dir: string): string {
  const logs = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".jsonl"));
  assert.equal(logs.length, 1, `${dir}: one JSONL log`);
  return logs[0].name;
}

Deno.test({
  name: "MPI through FFI: all-reduce (float32, float64) and broadcast over two ranks",
  ignore,
  fn: async () => {
    const r = await mpirun(2, [fixture("collectives.ts")], await Deno.makeTempDir());
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.rank).sort(), [0, 1]);
    for (const l of lines) {
      assert.equal(l.size, 2);
      assert.deepEqual(l.f32, [3, 1, -1]);
      assert.deepEqual(l.f64, [3e-12, 2 ** 41 + 1]);
      assert.deepEqual(l.root, [7, 8]);
    }
  },
});

// The acceptance case: 128 examples in global batches of 32, 4 steps of 16 examples per rank.
const SMALL = [
  ...["--model", "resnet18", "--width", "2", "--blocks", "1,1,1,1", "--dataset", "digits"],
  ...["--limit-train", "128", "--limit-eval", "40", "--batch-size", "32", "--epochs", "1"],
  ...["--no-augment", "--backend", "cpu", "--warmup-steps", "0", "--lr", "0.1", "--seed", "3"],
];

Deno.test({
  name: "two ranks with --sync-bn train exactly as one process on the same global batches",
  ignore,
  fn: async () => {
    const cwd = await Deno.makeTempDir();
    const one = await runCli(
      ["train", ...SMALL, "--save-dir", "one", "--log-dir", "log1", "--distributed", "off"],
      cwd,
    );
    assert.equal(one.code, 0, show(one));
    const two = await mpirun(
      2,
      [MAIN, "train", ...SMALL, "--save-dir", "two", "--log-dir", "log2", "--sync-bn"],
      cwd,
    );
    assert.equal(two.code, 0, show(two));
    assert.match(two.stdout, /^rank 0 of 2 \(/m);
    assert.match(two.stdout, /^rank 1 of 2 \(/m);
    assert.equal(two.stdout.match(/^Epoch 1\/1/gm)?.length, 1, "one progress bar, rank 0's");
    // Rank 0's alone: one JSONL log and one run folder (its TensorBoard and VisualDL files).
    assert.deepEqual(
      [...Deno.readDirSync(`${cwd}/log2`)].map((e) => e.isFile).sort(),
      [false, true],
      "one scalar log, rank 0's",
    );

    const loss = (dir: string) =>
      readScalarLog(`${cwd}/${dir}/${jsonlLog(`${cwd}/${dir}`)}`).filter((s) =>
        s.tag === "train/loss" || s.tag === "eval/loss"
      )
        .map((s) => s.value);
    const [l1, l2] = [loss("log1"), loss("log2")];
    assert.equal(l1.length, 5);
    assert.ok(relDiff(l2, l1) < 1e-5, `losses ${l1} vs ${l2}`);
    for (const file of ["model.safetensors", "optimizer.safetensors"]) {
      const [a, b] = [
        await tensors(`${cwd}/one/final`, file),
        await tensors(`${cwd}/two/final`, file),
      ];
      assert.equal(a.size, b.size);
      for (const [name, t] of a) {
        const rel = relDiff(b.get(name)!.data as Float32Array, t.data as Float32Array);
        assert.ok(rel < 1e-5, `${file} ${name}: relative difference ${rel}`);
      }
    }
  },
});

Deno.test({
  name: "a rank that fails ends the whole job at once, naming the rank",
  ignore,
  fn: async () => {
    const cwd = await Deno.makeTempDir();
    const start = performance.now();
    const r = await mpirun(2, [
      MAIN,
      "train",
      ...SMALL,
      "--save-dir",
      "out",
      "--plugin",
      fixture("fail_on_rank1.ts"),
    ], cwd);
    const seconds = (performance.now() - start) / 1000;
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /injected failure on this rank/);
    assert.match(r.stderr, /rank 1 of 2 ends the job/);
    assert.ok(seconds < 60, `took ${seconds} s`);
  },
});

const native = ignore ? { ok: false } : await registerNativeBackend();

Deno.test({
  name: "killing a rank mid-epoch ends the job within 30 s naming it; one process then resumes",
  ignore,
  fn: async () => {
    const cwd = await Deno.makeTempDir();
    // 16 steps per epoch; the native backend makes a step take tens of milliseconds.
    const cfg = [
      ...["--model", "resnet18", "--width", "4", "--blocks", "1,1,1,1", "--dataset", "digits"],
      ...["--limit-train", native.ok ? "1024" : "256", "--limit-eval", "64", "--epochs", "2"],
      ...["--batch-size", native.ok ? "64" : "32", "--no-augment", "--warmup-steps", "0"],
      ...["--backend", native.ok ? "native" : "cpu", "--save-dir", "out", "--log-dir", "logs"],
    ];
    const steps = native.ok ? 16 : 8;
    const child = new Deno.Command(MPIRUN!, {
      args: mpirunArgs(2, [MAIN, "train", ...cfg]),
      cwd,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    let text = "";
    const dec = new TextDecoder();
    const drain = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) text += dec.decode(chunk, { stream: true });
    };
    const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
    const lastStep = () => {
      try {
        const log = jsonlLog(`${cwd}/logs`);
        return Math.max(0, ...readScalarLog(`${cwd}/logs/${log}`).map((s) => s.step));
      } catch {
        return 0;
      }
    };
    // Mid-epoch 1: epoch 0's checkpoint is written, epoch 1 is under way.
    const deadline = Date.now() + 240_000;
    while (lastStep() < steps + steps / 4 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const pid = Number(text.match(/^rank 1 of 2 \(pid (\d+)/m)?.[1]);
    assert.ok(pid > 0 && lastStep() >= steps, `no progress to interrupt:\n${text}`);
    const killedAt = performance.now();
    Deno.kill(pid, "SIGKILL");
    const status = await child.status;
    await drained;
    const seconds = (performance.now() - killedAt) / 1000;
    console.log(`job ended ${seconds.toFixed(1)} s after rank 1 was killed, exit ${status.code}`);
    assert.ok(seconds < 30, `took ${seconds} s`);
    assert.notEqual(status.code, 0, text);
    assert.match(text, /rank 1\b.*(exited on signal 9|killed)/is);

    const resumed = await runCli(["train", ...cfg, "--resume", "latest"], cwd);
    assert.equal(resumed.code, 0, show(resumed));
    assert.match(resumed.stdout, /resume: +out\/0\n/);
    // The step count is in the manifest's meta (see src/train/checkpoint_format.ts).
    const { meta } = await readCheckpoint(`${cwd}/out/final`);
    assert.equal(meta.globalStep, 2 * steps);
  },
});

Deno.test({
  name: "bench --ranks 1,2 reports training steps per second for each rank count",
  ignore,
  fn: async () => {
    const r = await runCli([
      ...["bench", "--model", "resnet18", "--width", "2", "--blocks", "1,1,1,1"],
      ...["--batch-size", "4", "--steps", "1", "--warmup", "1", "--backend", "cpu"],
      ...["--ranks", "1,2"],
    ], await Deno.makeTempDir());
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0], /ranks +threads\/rank +train steps\/s/);
    assert.match(r.stdout, /not a speed-up/);
    const j = JSON.parse(lines.at(-1)!);
    assert.deepEqual(j.ranks.map((x: { ranks: number }) => x.ranks), [1, 2]);
    for (const x of j.ranks) {
      assert.ok(x.train_steps_per_s > 0, JSON.stringify(x));
      assert.ok(Math.abs(x.train_img_per_s - 4 * x.train_steps_per_s) < 1e-9 * x.train_img_per_s);
    }
  },
});
