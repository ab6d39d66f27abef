import assert from "node:assert/strict";
import { listTree, runCli, show } from "./helpers.ts";

Deno.test("train --help lists every flag with the recipe's defaults and the plugin rule", async () => {
  const cwd = await Deno.makeTempDir();
  const r = await runCli(["train", "--help"], cwd);
  assert.equal(r.code, 0, show(r));
  const flags = [
    "model",
    "dataset",
    "data",
    "epochs",
    "batch-size",
    "lr",
    "warmup-steps",
    "momentum",
    "weight-decay",
    "save-dir",
    "save-freq",
    "log-dir",
    "resume",
    "init-weights",
    "backend",
    "seed",
    "width",
    "limit-train",
    "limit-eval",
    "no-augment",
    "plugin",
  ];
  for (const f of flags) assert.match(r.stdout, new RegExp(`^  --${f}\\b`, "m"), `--${f} missing`);
  const defaults: [string, string][] = [
    ["model", "resnet50"],
    ["dataset", "cifar10"],
    ["epochs", "300"],
    ["batch-size", "512"],
    ["lr", "0.001"],
    ["warmup-steps", "2000"],
    ["momentum", "0.9"],
    ["weight-decay", "0.0005"],
    ["save-freq", "1"],
    ["log-dir", "vis_logs"],
    ["backend", "auto"],
  ];
  for (const [flag, value] of defaults) {
    const line = r.stdout.split("\n").find((l) => l.startsWith(`  --${flag} `)) ?? "";
    assert.ok(line.endsWith(`(default: ${value})`), `--${flag}: "${line}"`);
  }
  assert.match(r.stdout, /output\/ResNet50-FCN/);
  assert.match(r.stdout, /createPlugin\(config\)/);
  assert.deepEqual(listTree(cwd), [], "--help wrote files");
});

Deno.test("demo --help shows the demo's own defaults", async () => {
  const r = await runCli(["demo", "--help"], await Deno.makeTempDir());
  assert.equal(r.code, 0, show(r));
  const line = (flag: string) => r.stdout.split("\n").find((l) => l.startsWith(`  --${flag} `));
  assert.match(line("model")!, /\(default: resnet18\)$/);
  assert.match(line("dataset")!, /\(default: digits\)$/);
  assert.match(line("blocks")!, /\(default: 1,1,1,1\)$/);
  assert.match(r.stdout, /^ {2}--augment\b/m);
});

Deno.test("every bad command line exits non-zero with a one-line reason and writes nothing", async () => {
  const cases: [string, string[], RegExp][] = [
    ["unknown flag", ["train", "--bogus", "1"], /bogus/],
    ["negative epochs", ["train", "--epochs=-3"], /--epochs must be at least 1, got -3/],
    ["negative epochs, separate value", ["train", "--epochs", "-3"], /epochs/],
    ["zero batch size", ["train", "--batch-size", "0"], /--batch-size must be at least 1/],
    ["non-numeric lr", ["train", "--lr", "fast"], /--lr needs a number, got "fast"/],
    ["momentum of 1", ["train", "--momentum", "1"], /--momentum must be below 1/],
    ["unknown model", ["train", "--model", "resnet99"], /--model must be one of .*"resnet99"/],
    ["unknown dataset", ["train", "--dataset", "mnist"], /--dataset must be one of/],
    ["bad blocks", ["train", "--blocks", "1,1"], /--blocks needs four/],
    [
      "missing data folder",
      ["train", "--data", "no/such/dir"],
      /--data: no such file.*no\/such\/dir/,
    ],
    ["npy without --data", ["train", "--dataset", "npy"], /--dataset npy needs --data/],
    ["npy folder without files", ["train", "--dataset", "npy", "--data", "."], /no x_train\.npy/],
    ["--data with digits", ["train", "--dataset", "digits", "--data", "."], /--data is not used/],
    ["missing plugin", ["train", "--plugin", "nope.ts"], /--plugin: no such file: nope\.ts/],
    [
      "missing init weights",
      ["train", "--init-weights", "w.safetensors"],
      /--init-weights: no such/,
    ],
    [
      "resume with nothing saved",
      ["train", "--resume", "latest", "--save-dir", "ck"],
      /no intact checkpoint in ck/,
    ],
    ["resume from a non-checkpoint", ["train", "--resume", "."], /not a checkpoint folder/],
    ["demo: unknown flag", ["demo", "--nope"], /nope/],
    [
      "evaluate without --checkpoint",
      ["evaluate"],
      /give exactly one of --checkpoint DIR or --weights FILE/,
    ],
    ["evaluate: missing checkpoint", ["evaluate", "--checkpoint", "gone"], /no such file.*gone/],
    ["evaluate: weights, no dataset", ["evaluate", "--weights", "."], /--weights needs --dataset/],
    [
      "evaluate: both --checkpoint and --weights",
      ["evaluate", "--checkpoint", ".", "--weights", "."],
      /give exactly one of --checkpoint DIR or --weights FILE/,
    ],
    [
      "evaluate: folder without checkpoints",
      ["evaluate", "--checkpoint", "."],
      /neither a checkpoint/,
    ],
    [
      "export: wrong extension",
      ["export", "--checkpoint", ".", "--output", "w.bin"],
      /\.safetensors/,
    ],
    [
      "export: missing checkpoint",
      ["export", "--checkpoint", "gone", "--output", "w.safetensors"],
      /gone/,
    ],
    ["predict: missing input", [
      "predict",
      "--weights",
      ".",
      "--input",
      "x.npy",
      "--output",
      "y.npy",
    ], /x\.npy/],
    ["bench: zero steps", ["bench", "--steps", "0"], /--steps must be at least 1/],
    [
      "bench: unknown backend in --backends",
      ["bench", "--compare", "--backends", "cpu,tpu"],
      /"tpu"/,
    ],
  ];
  // Two at a time: each is a separate Deno process.
  const failures: string[] = [];
  for (let i = 0; i < cases.length; i += 2) {
    await Promise.all(
      cases.slice(i, i + 2).map(async ([name, args, reason]) => {
        const cwd = await Deno.makeTempDir();
        const r = await runCli(args, cwd);
        const lines = r.stderr.trim().split("\n");
        const problems = [
          r.code === 0 ? "exit 0" : "",
          lines.length !== 1 ? `${lines.length} stderr lines` : "",
          !lines[0].startsWith("error: ") ? "no 'error: ' prefix" : "",
          !reason.test(lines[0]) ? `reason does not match ${reason}` : "",
          listTree(cwd).length > 0 ? `wrote ${listTree(cwd)}` : "",
        ].filter((p) => p !== "");
        if (problems.length > 0) failures.push(`${name}: ${problems.join(", ")}\n${show(r)}`);
      }),
    );
  }
  assert.deepEqual(failures, []);
});

Deno.test("an unknown subcommand exits 2 and lists the commands", async () => {
  const r = await runCli(["frobnicate"], await Deno.makeTempDir());
  assert.equal(r.code, 2, show(r));
  assert.match(r.stderr, /unknown command "frobnicate"/);
  for (const c of ["train", "demo", "evaluate", "predict", "export", "bench"]) {
    assert.match(r.stderr, new RegExp(`^  ${c} `, "m"));
  }
});
