import assert from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError, writeCheckpoint } from "../../src/io/checkpoint.ts";
import { FormatError } from "../../src/io/errors.ts";
import { decodeWeights, readWeights, WEIGHT_FORMATS } from "../../src/io/read_weights.ts";
import { encodeSafetensors, type HostTensor } from "../../src/io/safetensors.ts";

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
    assert.match(e.message, /not a weights file this trainer reads \(safetensors\)/);
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

Deno.test("decodeWeights tries every registered format in order", () => {
  assert.deepEqual(WEIGHT_FORMATS.map((f) => f.name), ["safetensors"]);
  assert.equal(decodeWeights(weights, "<memory>").tensors.size, 2);
  assert.throws(() => decodeWeights(new Uint8Array(16), "zeros"), /zeros: not a weights file/);
});
