import assert from "node:assert/strict";
import { writeCheckpoint } from "../../src/io/checkpoint.ts";
import { FormatError } from "../../src/io/errors.ts";
import type { HostTensor } from "../../src/io/host_tensor.ts";
import { encodePdparams } from "../../src/io/pdparams.ts";
import { detectWeightsFormat, readWeights } from "../../src/io/read_weights.ts";
import { encodeSafetensors } from "../../src/io/safetensors.ts";
import { findPython, reportSkip, runPython } from "./python.ts";

const torch = await findPython(["torch"]);
reportSkip(torch, "reading a .pth by content", "torch (apt-get install python3-torch)");

const tensors = new Map<string, HostTensor>([
  ["conv1.weight", { dtype: "float32", shape: [2, 1, 1, 1], data: new Float32Array([1.5, -2]) }],
  ["bn1.running_var", { dtype: "float32", shape: [2], data: new Float32Array([3, 4]) }],
]);

Deno.test("every format is told apart by content, whatever the file is called", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Misleading names on purpose.
    await Deno.writeFile(`${dir}/a.pth`, encodeSafetensors(tensors, { network: "x" }));
    await Deno.writeFile(`${dir}/b.safetensors`, encodePdparams(tensors));
    await writeCheckpoint(`${dir}/ck`, { "model.safetensors": encodeSafetensors(tensors) }, {});
    const a = await readWeights(`${dir}/a.pth`);
    const b = await readWeights(`${dir}/b.safetensors`);
    const c = await readWeights(`${dir}/ck/`);
    assert.deepEqual([a.format, b.format, c.format], ["safetensors", "paddle", "safetensors"]);
    assert.deepEqual(a.metadata, { network: "x" });
    assert.equal(c.source, `${dir}/ck/model.safetensors`);
    for (const f of [a, b, c]) assert.deepEqual(f.tensors, tensors, f.source);
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
      assert.deepEqual(z.tensors, tensors);
      assert.deepEqual(l.tensors, tensors);
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
