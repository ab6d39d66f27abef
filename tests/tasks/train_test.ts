import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { decodeSafetensors, readSafetensors } from "../../src/io/safetensors.ts";
import { readNpy, writeNpy } from "../../src/io/npy.ts";
import { listTree, readScalarLog, ROOT, runCli, type ScalarLine, show } from "./helpers.ts";

const CALLBACK_URL = pathToFileURL(join(ROOT, "src/train/callback.ts")).href;

/** A tiny run: 64 synthetic images in batches of 32 → 2 steps per epoch, 2 epochs. */
const TINY = [
  "--dataset",
  "synthetic",
  "--model",
  "resnet18",
  "--width",
  "2",
  "--blocks",
  "1,1,1,1",
  "--limit-train",
  "64",
  "--limit-eval",
  "32",
  "--batch-size",
  "32",
  "--epochs",
  "2",
  "--lr",
  "0.01",
  "--warmup-steps",
  "1",
  "--backend",
  "cpu",
  "--save-dir",
  "ck",
  "--log-dir",
  "logs",
];

function byTag(lines: ScalarLine[]): Map<string, ScalarLine[]> {
  const m = new Map<string, ScalarLine[]>();
  for (const l of lines) m.set(l.tag, [...(m.get(l.tag) ?? []), l]);
  return m;
}

Deno.test("train, evaluate, predict and export work together from another folder", async (t) => {
  const cwd = await Deno.makeTempDir();
  await Deno.writeTextFile(
    join(cwd, "plugin_class.ts"),
    `import { Callback } from "${CALLBACK_URL}";
export class EpochMarker extends Callback {
  override onEpochEnd(epoch: number) { console.log("PLUGIN-CLASS epoch " + epoch); }
}
`,
  );
  await Deno.writeTextFile(
    join(cwd, "plugin_factory.ts"),
    `import { Callback } from "${CALLBACK_URL}";
export function createPlugin(config: Record<string, unknown>) {
  return [new (class extends Callback {
    override onTrainEnd() { console.log("PLUGIN-FACTORY batch " + config.batchSize + " epochs " + config.epochs); }
  })()];
}
`,
  );
  const first = await runCli(
    ["train", ...TINY, "--plugin", "plugin_class.ts", "--plugin", "./plugin_factory.ts"],
    cwd,
  );
  assert.equal(first.code, 0, show(first));

  await t.step("prints the configuration, the backend, and where results went", () => {
    assert.match(first.stdout, /^train: ResNet18-FCN/m);
    assert.match(first.stdout, /synthetic: 64 training \/ 32 test images, 32×32×3, 10 classes/);
    assert.match(first.stdout, /backend: +backend cpu/);
    assert.match(first.stdout, /^checkpoints: ck\/ \(last: ck\/final\)/m);
    assert.match(first.stdout, /^scalar log: +logs\/scalars-.*\.jsonl$/m);
  });

  await t.step("loads plugins by class and by createPlugin(config)", () => {
    assert.match(first.stdout, /^PLUGIN-CLASS epoch 0$/m);
    assert.match(first.stdout, /^PLUGIN-CLASS epoch 1$/m);
    assert.match(first.stdout, /^PLUGIN-FACTORY batch 32 epochs 2$/m);
  });

  await t.step(
    "writes checkpoints 0, 1 and final, run.json, the report, and one run's logs",
    () => {
      const tree = listTree(cwd).filter((p) => !p.endsWith(".ts"));
      for (const c of ["0", "1", "final"]) {
        for (
          const f of ["manifest.json", "model.safetensors", "optimizer.safetensors", "state.json"]
        ) {
          assert.ok(tree.includes(`ck/${c}/${f}`), `ck/${c}/${f} missing: ${tree}`);
        }
      }
      assert.deepEqual(tree.filter((p) => /^ck\/[^/]+$/.test(p)), [
        "ck/0",
        "ck/1",
        "ck/final",
        "ck/report.html",
        "ck/run.json",
      ]);
      const logs = tree.filter((p) => p.startsWith("logs/")).map((p) =>
        p.replace(/scalars-[^/.]+\.\d+Z-\d+/, "RUN").replace(/\.\d{10}(\.[^/]+)?$/, ".TIME$1")
      ).sort();
      assert.deepEqual(logs, [
        "logs/RUN.jsonl",
        "logs/RUN.logs",
        "logs/RUN.logs/events.out.tfevents.TIME." + Deno.hostname(),
        "logs/RUN.logs/run.json",
        "logs/RUN.logs/vdlrecords.TIME.log",
      ]);
    },
  );

  const logFile = join(
    cwd,
    "logs",
    [...Deno.readDirSync(join(cwd, "logs"))].find((e) => e.name.endsWith(".jsonl"))!.name,
  );
  const log = byTag(readScalarLog(logFile));

  await t.step("the log's tags, steps and learning rates follow the recipe", () => {
    assert.deepEqual([...log.keys()].sort(), [
      "eval/acc_top1",
      "eval/acc_top5",
      "eval/loss",
      "train/acc_top1",
      "train/acc_top5",
      "train/loss",
      "train/lr",
    ]);
    for (const [tag, lines] of log) {
      const want = tag.startsWith("train/") ? [1, 2, 3, 4] : [0, 1];
      assert.deepEqual(lines.map((l) => l.step), want, tag);
      for (const l of lines) {
        assert.ok(Number.isFinite(l.value), `${tag} ${l.value}`);
        assert.ok(
          Math.abs(l.wall_time - Date.now() / 1000) < 600,
          `${tag} wall_time ${l.wall_time}`,
        );
      }
    }
    // Warm-up W = 1: step 0 trains with 0; step 0 = W − 1 ran in epoch 0, so the rest of epoch 0
    // uses LR; epoch 1 is cosine j = 1 of T = 2: LR·(1 + cos(π/2))/2 = LR/2.
    const lrs = log.get("train/lr")!.map((l) => l.value);
    const want = [0, 0.01, 0.005, 0.005];
    lrs.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-9, `lr ${lrs} vs ${want}`));
    for (const tag of ["train/acc_top1", "train/acc_top5", "eval/acc_top1", "eval/acc_top5"]) {
      for (const l of log.get(tag)!) assert.ok(l.value >= 0 && l.value <= 1, `${tag} ${l.value}`);
    }
  });

  await t.step(
    "evaluate reads the final checkpoint and agrees with the log's last evaluation",
    async () => {
      const r = await runCli([
        "evaluate",
        "--checkpoint",
        "ck/final",
        "--limit-eval",
        "32",
        "--backend",
        "cpu",
      ], cwd);
      assert.equal(r.code, 0, show(r));
      const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1]);
      const evalAt1 = (tag: string) => log.get(tag)!.find((l) => l.step === 1)!.value;
      assert.ok(Math.abs(num(/^ {2}loss +([\d.]+)$/m) - evalAt1("eval/loss")) <= 1e-4, r.stdout);
      assert.ok(
        Math.abs(num(/^ {2}acc_top1 +([\d.]+)%$/m) / 100 - evalAt1("eval/acc_top1")) <= 1e-4,
      );
      assert.ok(
        Math.abs(num(/^ {2}acc_top5 +([\d.]+)%$/m) / 100 - evalAt1("eval/acc_top5")) <= 1e-4,
      );
      const rows = r.stdout.split("\n").filter((l) => /^ {2}class\d /.test(l));
      assert.equal(rows.length, 10);
      const counts = rows.map((l) => l.trim().split(/\s+/).slice(1, 3).map(Number));
      assert.equal(counts.reduce((s, [n]) => s + n, 0), 32);
      const correct = counts.reduce((s, [, c]) => s + c, 0);
      assert.ok(Math.abs(correct / 32 - evalAt1("eval/acc_top1")) < 1e-6);
    },
  );

  await t.step(
    "export writes the checkpoint's weights, and predict gives the same output from both",
    async () => {
      const exp = await runCli(["export", "--checkpoint", "ck", "--output", "w.safetensors"], cwd);
      assert.equal(exp.code, 0, show(exp));
      assert.match(exp.stdout, /from ck\/final/);
      const exported = await readSafetensors(join(cwd, "w.safetensors"));
      const original = decodeSafetensors(
        await Deno.readFile(join(cwd, "ck/final/model.safetensors")),
      );
      assert.deepEqual([...exported.tensors.keys()].sort(), [...original.tensors.keys()].sort());
      for (const [k, v] of original.tensors) assert.deepEqual(exported.tensors.get(k), v, k);

      const n = 3;
      await writeNpy(join(cwd, "x.npy"), {
        dtype: "float32",
        shape: [n, 32, 32, 3],
        data: Float32Array.from({ length: n * 32 * 32 * 3 }, (_, i) => Math.sin(i * 0.01)),
      });
      const base = ["--input", "x.npy", "--backend", "cpu"];
      const a = await runCli(
        ["predict", "--checkpoint", "ck/final", ...base, "--output", "a.npy"],
        cwd,
      );
      assert.equal(a.code, 0, show(a));
      const b = await runCli([
        "predict",
        "--weights",
        "w.safetensors",
        ...base,
        "--output",
        "b.npy",
      ], cwd);
      assert.equal(b.code, 0, show(b));
      const [ya, yb] = [await readNpy(join(cwd, "a.npy")), await readNpy(join(cwd, "b.npy"))];
      assert.deepEqual(ya.shape, [n, 10]);
      assert.deepEqual(yb, ya);
      assert.ok([...ya.data].every(Number.isFinite));
    },
  );

  await t.step(
    "--resume latest continues the same log, which then holds every step once",
    async () => {
      // As if the run had stopped after epoch 0: the newest checkpoint is 0.
      await Deno.remove(join(cwd, "ck/1"), { recursive: true });
      await Deno.remove(join(cwd, "ck/final"), { recursive: true });
      const r = await runCli(["train", ...TINY, "--resume", "latest"], cwd);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /resume: +ck\/0$/m);
      const before = listTree(join(cwd, "logs"));
      assert.equal(before.length, 5, before.join(" ")); // the same log, run folder and its 3 files
      assert.ok(before.includes(logFile.split("/").at(-1)!));
      const resumed = byTag(readScalarLog(logFile));
      for (const [tag, lines] of resumed) {
        const want = tag.startsWith("train/") ? [1, 2, 3, 4] : [0, 1];
        assert.deepEqual(lines.map((l) => l.step), want, tag);
      }
      // Steps before the checkpoint are kept as they were; the rest were trained again, identically.
      assert.deepEqual(
        resumed.get("train/lr")!.map((l) => l.value),
        log.get("train/lr")!.map((l) => l.value),
      );
      const loss = (m: Map<string, ScalarLine[]>) => m.get("train/loss")!.map((l) => l.value);
      loss(resumed).forEach((v, i) =>
        assert.ok(Math.abs(v - loss(log)[i]) < 1e-4, `${loss(resumed)} vs ${loss(log)}`)
      );
      for (const c of ["1", "final"]) {
        assert.ok(
          Deno.statSync(join(cwd, "ck", c, "manifest.json")).isFile,
        );
      }
    },
  );
});
