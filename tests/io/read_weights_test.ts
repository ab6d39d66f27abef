import assert from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError, writeCheckpoint } from "../../src/io/checkpoint.ts";
import { FormatError } from "../../src/io/errors.ts";
import type { HostTensor } from "../../src/io/host_tensor.ts";
import { encodePdparams } from "../../src/io/pdparams.ts";
import {
  decodeWeights,
  detectWeightsFormat,
  readWeights,
  WEIGHT_FORMATS,
} from "../../src/io/read_weights.ts";
import { encodeSafetensors } from "../../src/io/safetensors.ts";
import { findPython, reportSkip, runPython } from "./python.ts";

const torch = await findPython(["torch"]);
reportSkip(torch, "reading a .pth by content", "torch (apt-get install python3-torch)");

const tensors = new Map<string, HostTensor>([
  ["conv1.weight", { dtype: "float32", shape: [1, 1, 1, 2], data: new Float32Array([1.5, -2]) }],
  ["fc.bias", { dtype: "float32", shape: [1], data: new Float32Array([0.25]) }],
]);
const weights = encodeSafetensors(tensors, { network: "Tiny" });

Deno.test("a safetensors file is recognised by content, whatever its name", async () => {
  const path = join(await Deno.makeTempDir(), "weights.bin");
  await Deno.writeFile(path, weights);
  const read = await readWeights(path);
  assert.equal(read.format, "safetensors");
  assert.equal(read.source, path);
  assert.equal(read.checkpoint, undefined);
  assert.deepEqual(read.metadata, { network: "Tiny" });
  assert.deepEqual([...read.tensors.keys()].sort(), ["conv1.weight", "fc.bias"]);
  assert.deepEqual(read.tensors.get("conv1.weight")?.data, new Float32Array([1.5, -2]));
});

Deno.test("a checkpoint folder gives its verified weights, files and meta", async () => {
  const dir = join(await Deno.makeTempDir(), "3");
  const other = new Uint8Array([9, 8, 7]);
  await writeCheckpoint(dir, { "model.safetensors": weights, "other.bin": other }, {
    globalStep: 12,
  });
  const read = await readWeights(`${dir}/`);
  assert.equal(read.source, join(dir, "model.safetensors"));
  assert.equal(read.checkpoint?.dir, dir);
  assert.deepEqual(read.checkpoint?.meta, { globalStep: 12 });
  assert.deepEqual(read.checkpoint?.files["other.bin"], other);
  assert.deepEqual(read.tensors.get("fc.bias")?.data, new Float32Array([0.25]));
});

Deno.test("damaged, weightless and unknown inputs are refused, naming the file", async () => {
  const root = await Deno.makeTempDir();
  const damaged = join(root, "damaged");
  await writeCheckpoint(damaged, { "model.safetensors": weights }, {});
  const bytes = await Deno.readFile(join(damaged, "model.safetensors"));
  bytes[20] ^= 1;
  await Deno.writeFile(join(damaged, "model.safetensors"), bytes);
  await assert.rejects(readWeights(damaged), (e: unknown) => {
    assert.ok(e instanceof CheckpointError);
    assert.equal(e.file, "model.safetensors");
    assert.match(e.message, /damaged\/?: file model\.safetensors is damaged/);
    return true;
  });

  const weightless = join(root, "weightless");
  await writeCheckpoint(weightless, { "state.json": new Uint8Array([123, 125]) }, {});
  await assert.rejects(readWeights(weightless), /weightless: has no model\.safetensors/);

  const npy = join(root, "x.npy");
  await Deno.writeFile(npy, new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]));
  await assert.rejects(readWeights(npy), (e: unknown) => {
    assert.ok(e instanceof FormatError);
    assert.equal(e.source, npy);
    assert.match(
      e.message,
      /not a weights file: neither safetensors, a PyTorch state dict \(\.pth, \.pt\) nor Paddle \.pdparams/,
    );
    return true;
  });
  await assert.rejects(readWeights(join(root, "absent")), /absent: no such file or folder/);

  // A safetensors header cut short is the decoder's error, naming the file.
  const cut = join(root, "cut.safetensors");
  await Deno.writeFile(cut, weights.subarray(0, weights.length - 3));
  await assert.rejects(
    readWeights(cut),
    (e: unknown) => e instanceof FormatError && e.source === cut,
  );
});

Deno.test("decodeWeights tries every registered format in order", async () => {
  assert.deepEqual(WEIGHT_FORMATS.map((f) => f.name), [
    "safetensors",
    "pytorch",
    "pytorch-legacy",
    "paddle",
  ]);
  assert.equal((await decodeWeights(weights, "<memory>")).tensors.size, 2);
  await assert.rejects(decodeWeights(new Uint8Array(16), "zeros"), /zeros: not a weights file/);
});

const nchw = new Map<string, HostTensor>([
  ["conv1.weight", { dtype: "float32", shape: [2, 1, 1, 1], data: new Float32Array([1.5, -2]) }],
  ["bn1.running_var", { dtype: "float32", shape: [2], data: new Float32Array([3, 4]) }],
]);

Deno.test("every format is told apart by content, whatever the file is called", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Misleading names on purpose.
    await Deno.writeFile(`${dir}/a.pth`, encodeSafetensors(nchw, { network: "x" }));
    await Deno.writeFile(`${dir}/b.safetensors`, encodePdparams(nchw));
    await writeCheckpoint(`${dir}/ck`, { "model.safetensors": encodeSafetensors(nchw) }, {});
    const a = await readWeights(`${dir}/a.pth`);
    const b = await readWeights(`${dir}/b.safetensors`);
    const c = await readWeights(`${dir}/ck/`);
    assert.deepEqual([a.format, b.format, c.format], ["safetensors", "paddle", "safetensors"]);
    assert.deepEqual(a.metadata, { network: "x" });
    assert.equal(c.source, `${dir}/ck/model.safetensors`);
    for (const f of [a, b, c]) assert.deepEqual(f.tensors, nchw, f.source);
    if (torch !== null) {
      await runPython(
        torch,
        `import sys, torch
torch.save({"conv1.weight": torch.tensor([1.5, -2]).reshape(2, 1, 1, 1),
            "bn1.running_var": torch.tensor([3.0, 4.0])}, sys.argv[1])
torch.save({"conv1.weight": torch.tensor([1.5, -2]).reshape(2, 1, 1, 1),
            "bn1.running_var": torch.tensor([3.0, 4.0])}, sys.argv[2],
           _use_new_zipfile_serialization=False)`,
        [`${dir}/c.weights`, `${dir}/d.pdparams`],
      );
      const z = await readWeights(`${dir}/c.weights`);
      const l = await readWeights(`${dir}/d.pdparams`);
      assert.deepEqual([z.format, l.format], ["pytorch", "pytorch-legacy"]);
      assert.deepEqual(z.tensors, nchw);
      assert.deepEqual(l.tensors, nchw);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("anything else is refused as not a weights file, naming it", async () => {
  assert.equal(detectWeightsFormat(new TextEncoder().encode("hello world, not weights")), null);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/notes.pth`, "hello world, not weights");
    await assert.rejects(readWeights(`${dir}/notes.pth`), (e: Error) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /notes\.pth: not a weights file: neither safetensors, a PyTorch/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
