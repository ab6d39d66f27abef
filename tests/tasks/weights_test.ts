import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { decodePdparams, writePdparams } from "../../src/io/pdparams.ts";
import { readNpy, writeNpy } from "../../src/io/npy.ts";
import { decodeSafetensors } from "../../src/io/safetensors.ts";
import { networkTensors } from "../../src/io/weights.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";
import { runCli, show } from "./helpers.ts";

tf.env().set("IS_NODE", false);
await tf.setBackend("cpu");

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
  "32",
  "--limit-eval",
  "32",
  "--batch-size",
  "32",
  "--epochs",
  "1",
  "--backend",
  "cpu",
  "--save-dir",
  "ck",
  "--log-dir",
  "logs",
];

Deno.test("--pretrained and --init-weights-partial are checked before any work", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    const narrow = await runCli(["train", "--pretrained", "--width", "8"], cwd);
    assert.equal(narrow.code, 2, show(narrow));
    assert.match(narrow.stderr, /^error: --pretrained needs the published network: --width 64/m);
    const both = await runCli(["train", "--pretrained", "--resume", "latest"], cwd);
    assert.equal(both.code, 2, show(both));
    assert.match(both.stderr, /give --pretrained, --init-weights or --resume, only one/);
    const alone = await runCli(["train", "--init-weights-partial"], cwd);
    assert.equal(alone.code, 2, show(alone));
    assert.match(alone.stderr, /--init-weights-partial needs --init-weights or --pretrained/);
    assert.deepEqual([...Deno.readDirSync(cwd)], []);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("offline, --pretrained names the file and where to put it, before training", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    const r = await runCli(["train", "--pretrained", ...TINY.slice(0, 4)], cwd, {
      DENO_TRAINER_CACHE: join(cwd, "cache"),
      // Port 9 on loopback refuses connections, as offline.
      DENO_TRAINER_PRETRAINED_URL: "http://127.0.0.1:9/models",
    });
    assert.notEqual(r.code, 0, show(r));
    const where = join(cwd, "cache", "pretrained", "resnet18.pdparams");
    assert.match(
      r.stderr,
      new RegExp(
        `^error: resnet18\\.pdparams is not in .*downloading it from ` +
          `http://127\\.0\\.0\\.1:9/models/resnet18\\.pdparams failed .*put it at ${where}`,
        "m",
      ),
    );
    assert.doesNotMatch(r.stdout, /^train: /m, "no training started");
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("train starts from an ImageNet-style .pdparams; export writes .pdparams that predict reads", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    // A backbone in Paddle's names with an ImageNet classifier and no FCN head.
    const source = resnetFCN({
      depth: 18,
      width: 2,
      blocks: [1, 1, 1, 1],
      numClasses: 10,
      seed: 9,
    });
    const tensors = await networkTensors(source);
    source.dispose();
    for (const k of [...tensors.keys()]) if (k.startsWith("final_conv")) tensors.delete(k);
    const backbone = tensors.size;
    tensors.set("fc.weight", {
      dtype: "float32",
      shape: [16, 1000],
      data: new Float32Array(16000),
    });
    tensors.set("fc.bias", { dtype: "float32", shape: [1000], data: new Float32Array(1000) });
    await writePdparams(join(cwd, "imagenet.pdparams"), tensors);

    const r = await runCli(["train", ...TINY, "--init-weights", "imagenet.pdparams"], cwd);
    assert.equal(r.code, 0, show(r));
    assert.match(
      r.stdout,
      new RegExp(
        `^init weights: ${backbone} tensors loaded from imagenet\\.pdparams; 4 left fresh$`,
        "m",
      ),
    );
    assert.match(r.stdout, /fresh head \(not in the file\): final_conv\.weight, final_conv\.bias/);
    assert.match(r.stdout, /dropped \(ImageNet classifier\): fc\.weight, fc\.bias$/m);

    const exp = await runCli(["export", "--checkpoint", "ck", "--output", "out.pdparams"], cwd);
    assert.equal(exp.code, 0, show(exp));
    const exported = decodePdparams(await Deno.readFile(join(cwd, "out.pdparams")));
    const original = decodeSafetensors(
      await Deno.readFile(join(cwd, "ck/final/model.safetensors")),
    );
    assert.deepEqual(exported, original.tensors);

    await writeNpy(join(cwd, "x.npy"), {
      dtype: "float32",
      shape: [2, 32, 32, 3],
      data: Float32Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => Math.sin(i)),
    });
    const io = ["--input", "x.npy", "--backend", "cpu", "--output"];
    const a = await runCli(["predict", "--checkpoint", "ck/final", ...io, "a.npy"], cwd);
    const b = await runCli(["predict", "--weights", "out.pdparams", ...io, "b.npy"], cwd);
    assert.equal(a.code, 0, show(a));
    assert.equal(b.code, 0, show(b));
    assert.deepEqual(await readNpy(join(cwd, "b.npy")), await readNpy(join(cwd, "a.npy")));

    const ev = await runCli(
      [
        "evaluate",
        "--weights",
        "out.pdparams",
        "--dataset",
        "synthetic",
        "--limit-eval",
        "32",
        "--backend",
        "cpu",
      ],
      cwd,
    );
    assert.equal(ev.code, 0, show(ev));
    assert.match(ev.stdout, /^evaluate: ResNet18-FCN\S* from out\.pdparams$/m);

    const back = await runCli(
      ["export", "--weights", "out.pdparams", "--output", "back.safetensors"],
      cwd,
    );
    assert.equal(back.code, 0, show(back));
    const converted = decodeSafetensors(await Deno.readFile(join(cwd, "back.safetensors")));
    assert.deepEqual(converted.tensors, original.tensors);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
