/**
 * Every command that reads a checkpoint refuses a damaged one, naming the file: `train`
 * (`--resume`, `--init-weights`), `demo` (the same code with its own defaults), `evaluate`,
 * `predict` (`--checkpoint` and `--weights` with a folder) and `export`. The commands run
 * in-process through `main`, as the binary runs them, with their output captured.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { writeNpy } from "../../src/io/npy.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { warmupCosine } from "../../src/train/schedules.ts";
import { main } from "../../tasks/main.ts";
import { writeRunFile } from "../../tasks/run_file.ts";

/** The network and run of `TINY` below: ResNet18-FCN, width 2, one block per stage. */
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
  "8",
  "--limit-eval",
  "8",
  "--batch-size",
  "8",
  "--epochs",
  "1",
  "--backend",
  "cpu",
];

await tf.setBackend("cpu");
const root = await Deno.makeTempDir({ prefix: "damaged-checkpoint-" });
const saveDir = join(root, "ck");
const dir = join(saveDir, "0");
const model = new Model(resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses: 10 }));
model.prepare({
  optimizer: new MomentumSGD({
    schedule: warmupCosine({ lr: 0.001, warmupSteps: 2000, epochs: 1 }),
  }),
});
await model.save(dir);
model.dispose();
await writeRunFile(saveDir, {
  format: 1,
  network: "ResNet18-FCN",
  model: { model: "resnet18", width: 2, classes: 10, inChannels: 3, blocks: [1, 1, 1, 1] },
  dataset: "synthetic",
  classNames: Array.from({ length: 10 }, (_, i) => String(i)),
  logFile: join(root, "logs", "scalars.jsonl"),
  settings: {},
});
// Same size, one byte changed: only the manifest's SHA-256 can tell.
const weightsFile = join(dir, "model.safetensors");
const bytes = await Deno.readFile(weightsFile);
bytes[bytes.length - 1] ^= 0xff;
await Deno.writeFile(weightsFile, bytes);
const input = join(root, "x.npy");
await writeNpy(input, { dtype: "float32", shape: [1, 32, 32, 3], data: new Float32Array(3072) });

/** Runs `trainer <argv>` in this process; resolves to its exit code and everything it printed. */
async function trainer(argv: string[]): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const keep = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  const { log, error } = console;
  console.log = keep;
  console.error = keep;
  try {
    return { code: await main(argv), output: lines.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Asserts the refusal: exit code 5 (storage), the checkpoint and the damaged file named. */
function assertRefused(r: { code: number; output: string }): void {
  assert.equal(r.code, 5, r.output);
  assert.match(
    r.output,
    /^error: checkpoint error: .*checkpoint \S+\/ck\/0: file model\.safetensors is damaged \(SHA-256 differs from the manifest\)/m,
  );
}

const log = ["--save-dir", join(root, "out"), "--log-dir", join(root, "logs")];

Deno.test("train --resume refuses a damaged checkpoint, naming the file", async () => {
  assertRefused(await trainer(["train", ...TINY, "--save-dir", saveDir, "--resume", dir]));
});

Deno.test("train --init-weights refuses a damaged checkpoint, naming the file", async () => {
  assertRefused(await trainer(["train", ...TINY, ...log, "--init-weights", dir]));
});

Deno.test("demo --init-weights refuses a damaged checkpoint, naming the file", async () => {
  assertRefused(await trainer(["demo", ...TINY, ...log, "--init-weights", dir]));
});

Deno.test("evaluate refuses a damaged checkpoint, naming the file", async () => {
  assertRefused(await trainer(["evaluate", "--checkpoint", dir, "--backend", "cpu"]));
});

Deno.test("predict refuses a damaged checkpoint, through --checkpoint and --weights", async () => {
  for (const flag of ["--checkpoint", "--weights"]) {
    const output = join(root, `y${flag}.npy`);
    const r = await trainer(["predict", flag, dir, "--input", input, "--output", output]);
    assertRefused(r);
    await assert.rejects(Deno.stat(output), Deno.errors.NotFound);
  }
});

Deno.test("export refuses a damaged checkpoint, naming the file, and writes nothing", async () => {
  const output = join(root, "w.safetensors");
  assertRefused(await trainer(["export", "--checkpoint", dir, "--output", output]));
  await assert.rejects(Deno.stat(output), Deno.errors.NotFound);
});
