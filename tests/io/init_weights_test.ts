import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { HostTensor } from "../../src/io/host_tensor.ts";
import { describeInit, initFromTensors } from "../../src/io/init_weights.ts";
import { networkTensors, WeightsMismatchError } from "../../src/io/weights.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";

tf.env().set("IS_NODE", false);
await tf.setBackend("cpu");

const small = (seed: number, numClasses = 3) =>
  resnetFCN({ depth: 18, width: 2, blocks: [1, 1, 1, 1], numClasses, seed });

/** An ImageNet-style file made from `source`: no FCN head, an `fc` classifier, step counters. */
async function imagenetStyle(seed: number): Promise<Map<string, HostTensor>> {
  const net = small(seed);
  const tensors = await networkTensors(net);
  net.dispose();
  for (const name of [...tensors.keys()]) if (name.startsWith("final_conv")) tensors.delete(name);
  tensors.set("fc.weight", { dtype: "float32", shape: [16, 1000], data: new Float32Array(16000) });
  tensors.set("fc.bias", { dtype: "float32", shape: [1000], data: new Float32Array(1000) });
  tensors.set("bn1.num_batches_tracked", { dtype: "int32", shape: [], data: new Int32Array(1) });
  return tensors;
}

Deno.test("the backbone loads bit-exactly, fc is dropped and the FCN head keeps its init", async () => {
  const file = await imagenetStyle(1);
  const net = small(2);
  const fresh = await networkTensors(net);
  const report = initFromTensors(net, file, { source: "in.pdparams" });
  const after = await networkTensors(net);
  const head = ["final_conv.weight", "final_conv.bias", "final_conv2.weight", "final_conv2.bias"];
  assert.deepEqual(report.freshHead, head);
  assert.deepEqual(report.dropped, ["fc.weight", "fc.bias"]);
  assert.deepEqual([report.missing, report.mismatched, report.unused], [[], [], []]);
  assert.equal(report.loaded.length, after.size - 4);
  for (const [name, t] of after) {
    const want = head.includes(name) ? fresh.get(name)! : file.get(name)!;
    assert.deepEqual(t, want, name);
  }
  assert.deepEqual(describeInit(report), [
    `init weights: ${after.size - 4} tensors loaded from in.pdparams; 4 left fresh`,
    `  fresh head (not in the file): ${head.join(", ")}`,
    "  dropped (ImageNet classifier): fc.weight, fc.bias",
  ]);
  net.dispose();
});

Deno.test("strict loading names a missing backbone tensor, a misfit with both shapes, and strays", async () => {
  const file = await imagenetStyle(1);
  file.delete("layer2.0.conv1.weight");
  file.set("layer1.0.bn1.weight", { dtype: "float32", shape: [3], data: new Float32Array(3) });
  file.set("module.extra", { dtype: "float32", shape: [1], data: new Float32Array(1) });
  const net = small(2);
  const before = await networkTensors(net);
  assert.throws(() => initFromTensors(net, file, { source: "in.pth" }), (e: Error) => {
    assert.ok(e instanceof WeightsMismatchError);
    assert.match(e.message, /^in\.pth: weights do not match network ResNet18-FCN/);
    assert.match(e.message, /missing: layer2\.0\.conv1\.weight$/m);
    assert.match(e.message, /unexpected: module\.extra$/m);
    assert.match(
      e.message,
      /mismatch layer1\.0\.bn1\.weight: file float32 \[3\], network expects float32 \[2\]/,
    );
    assert.doesNotMatch(e.message, /final_conv|fc\./);
    return true;
  });
  assert.deepEqual(await networkTensors(net), before, "nothing assigned");

  const report = initFromTensors(net, file, { source: "in.pth", partial: true });
  assert.deepEqual(report.missing, ["layer2.0.conv1.weight"]);
  assert.deepEqual(report.mismatched.map((m) => [m.name, m.foundShape, m.expectedShape]), [
    ["layer1.0.bn1.weight", [3], [2]],
  ]);
  assert.deepEqual(report.unused, ["module.extra"]);
  const after = await networkTensors(net);
  assert.deepEqual(after.get("layer2.0.conv1.weight"), before.get("layer2.0.conv1.weight"));
  assert.deepEqual(after.get("layer1.0.bn1.weight"), before.get("layer1.0.bn1.weight"));
  assert.deepEqual(after.get("layer1.0.conv1.weight"), file.get("layer1.0.conv1.weight"));
  const text = describeInit(report).join("\n");
  assert.match(text, /; 6 left fresh$/m);
  assert.match(text, /fresh, missing from the file: layer2\.0\.conv1\.weight/);
  assert.match(text, /fresh, shape differs: layer1\.0\.bn1\.weight \(file \[3\], network \[2\]\)/);
  assert.match(text, /not used \(no such variable\): module\.extra/);
  net.dispose();
});

Deno.test("a full file of another class count loads its head only when it fits", async () => {
  const source = small(1, 5);
  const file = await networkTensors(source);
  source.dispose();
  const same = small(2, 5);
  assert.equal(initFromTensors(same, file).freshHead.length, 0);
  assert.deepEqual(await networkTensors(same), file);
  same.dispose();
  const other = small(2, 3);
  assert.throws(
    () => initFromTensors(other, file),
    /mismatch final_conv2\.weight: file float32 \[5, 32, 1, 1\], network expects float32 \[3, 32, 1, 1\]/,
  );
  other.dispose();
});
