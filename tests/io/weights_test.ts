import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { NamedVariable, Network } from "../../src/nn/network.ts";
import { encodeSafetensors, type HostTensor } from "../../src/io/safetensors.ts";
import {
  loadNetworkTensors,
  loadWeights,
  networkTensors,
  saveWeights,
  WeightsMismatchError,
} from "../../src/io/weights.ts";

await tf.setBackend("cpu");

// Kernel HWIO sizes, all distinct so a wrong transpose cannot go unnoticed.
const [H, W, I, O] = [2, 3, 4, 5];
/** Hand-placed value of kernel element (h, w, i, o): its coordinates as decimal digits. */
const code = (h: number, w: number, i: number, o: number) => 1000 * h + 100 * w + 10 * i + o;

function hwioKernel(): tf.Tensor4D {
  const v = new Float32Array(H * W * I * O);
  for (let h = 0; h < H; h++) {
    for (let w = 0; w < W; w++) {
      for (let i = 0; i < I; i++) {
        for (let o = 0; o < O; o++) v[((h * W + w) * I + i) * O + o] = code(h, w, i, o);
      }
    }
  }
  return tf.tensor4d(v, [H, W, I, O]);
}

/** A network with a conv kernel, a BatchNorm and a head bias; `fill` picks the initial values. */
function fakeNet(fill: "pattern" | "zeros"): Network {
  const make = (t: tf.Tensor, trainable = true) => {
    const init = fill === "zeros" ? tf.zerosLike(t) : t;
    const v = tf.variable(init, trainable);
    tf.dispose([t, init]);
    return v;
  };
  const vars: NamedVariable[] = [
    { name: "conv1.weight", variable: make(hwioKernel()), trainable: true },
    { name: "bn1.weight", variable: make(tf.tensor1d([1, 2, 3, 4, 5])), trainable: true },
    { name: "bn1.bias", variable: make(tf.tensor1d([-1, -2, -3, -4, -5])), trainable: true },
    {
      name: "bn1.running_mean",
      variable: make(tf.tensor1d([0.5, 0.25, 0, -0.25, -0.5]), false),
      trainable: false,
    },
    {
      name: "bn1.running_var",
      variable: make(tf.tensor1d([1, 1.5, 2, 2.5, 3]), false),
      trainable: false,
    },
    { name: "final_conv.bias", variable: make(tf.tensor1d([7, 8])), trainable: true },
  ];
  return {
    name: "Fake",
    apply: () => {
      throw new Error("not used");
    },
    variables: () => vars,
    layers: () => [],
    dispose: () => vars.forEach((v) => v.variable.dispose()),
  };
}

function values(net: Network): Record<string, number[]> {
  return Object.fromEntries(net.variables().map((v) => [v.name, [...v.variable.dataSync()]]));
}

Deno.test("networkTensors writes conv kernels OIHW: hand-placed HWIO values land where PyTorch expects", async () => {
  const net = fakeNet("pattern");
  const t = await networkTensors(net);
  const k = t.get("conv1.weight")!;
  assert.deepEqual(k.shape, [5, 4, 2, 3]);
  // OIHW order: o=0, i=0 walks h then w; then i=1.
  assert.deepEqual([...k.data.slice(0, 12)], [
    0,
    100,
    200,
    1000,
    1100,
    1200,
    10,
    110,
    210,
    1010,
    1110,
    1210,
  ]);
  // Element (o=4, i=3, h=1, w=2) is the last one.
  assert.equal(k.data[k.data.length - 1], code(1, 2, 3, 4));
  assert.equal(k.data[((3 * I + 2) * H + 1) * W + 0], code(1, 0, 2, 3));
  assert.deepEqual(t.get("bn1.running_var"), {
    dtype: "float32",
    shape: [5],
    data: new Float32Array([1, 1.5, 2, 2.5, 3]),
  });
  assert.deepEqual([...t.keys()], net.variables().map((v) => v.name));
  net.dispose();
});

Deno.test("loadNetworkTensors turns an OIHW kernel into HWIO", async () => {
  const net = fakeNet("zeros");
  const tensors = await networkTensors(net);
  const oihw = new Float32Array(O * I * H * W);
  oihw[((4 * I + 3) * H + 1) * W + 2] = 42; // o=4, i=3, h=1, w=2
  oihw[((1 * I + 0) * H + 0) * W + 1] = -7; // o=1, i=0, h=0, w=1
  tensors.set("conv1.weight", { dtype: "float32", shape: [O, I, H, W], data: oihw });
  loadNetworkTensors(net, tensors);
  const k = net.variables()[0].variable.arraySync() as number[][][][];
  assert.equal(k[1][2][3][4], 42);
  assert.equal(k[0][1][0][1], -7);
  assert.equal([...net.variables()[0].variable.dataSync()].reduce((a, b) => a + b, 0), 35);
  net.dispose();
});

Deno.test("saveWeights then loadWeights restores every variable exactly, leaking no tensors", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "fake.safetensors");
  const src = fakeNet("pattern");
  await saveWeights(src, path, { metadata: { network: "Fake" } });
  const dst = fakeNet("zeros");
  const before = tf.memory().numTensors;
  const report = await loadWeights(dst, path);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(report.loaded, src.variables().map((v) => v.name));
  assert.deepEqual(values(dst), values(src));
  src.dispose();
  dst.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("strict loading lists every missing, unexpected and mismatched name and changes nothing", async () => {
  const net = fakeNet("zeros");
  const pattern = fakeNet("pattern");
  const tensors = await networkTensors(pattern);
  pattern.dispose();
  tensors.delete("bn1.running_var");
  tensors.set("fc.weight", { dtype: "float32", shape: [2], data: new Float32Array(2) });
  tensors.set("bn1.num_batches_tracked", { dtype: "int32", shape: [], data: new Int32Array([3]) });
  tensors.set("conv1.weight", {
    dtype: "float32",
    shape: [5, 4, 3, 2],
    data: new Float32Array(120),
  });
  tensors.set("final_conv.bias", { dtype: "int32", shape: [2], data: new Int32Array(2) });
  const untouched = values(net);
  assert.throws(() => loadNetworkTensors(net, tensors, { source: "w.safetensors" }), (err) => {
    assert.ok(err instanceof WeightsMismatchError);
    assert.equal(
      err.message,
      [
        "w.safetensors: weights do not match network Fake: 1 missing, 1 unexpected, 2 mismatched",
        "  missing: bn1.running_var",
        "  unexpected: fc.weight",
        "  mismatch conv1.weight: file float32 [5, 4, 3, 2], network expects float32 [5, 4, 2, 3]",
        "  mismatch final_conv.bias: file int32 [2], network expects float32 [2]",
      ].join("\n"),
    );
    assert.deepEqual(err.report.missing, ["bn1.running_var"]);
    return true;
  });
  assert.deepEqual(values(net), untouched);

  const report = loadNetworkTensors(net, tensors, { strict: false });
  assert.deepEqual(report.loaded, ["bn1.weight", "bn1.bias", "bn1.running_mean"]);
  assert.deepEqual(report.missing, ["bn1.running_var"]);
  assert.deepEqual(report.unexpected, ["fc.weight"]);
  assert.deepEqual(report.mismatched.map((m) => m.name), ["conv1.weight", "final_conv.bias"]);
  const after = values(net);
  assert.deepEqual(after["bn1.weight"], [1, 2, 3, 4, 5]);
  assert.deepEqual(after["bn1.running_var"], untouched["bn1.running_var"]);
  assert.deepEqual(after["conv1.weight"], untouched["conv1.weight"]);
  net.dispose();
});

Deno.test("loadWeights accepts a PyTorch-style file with int64 num_batches_tracked and float64", async () => {
  // Hand-built like torch's save_file: I64 counter, an F64 tensor, the rest F32.
  const pattern = fakeNet("pattern");
  const ref = await networkTensors(pattern);
  const parts: { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[] = [];
  for (const [name, t] of ref) {
    const bytes = name === "bn1.running_mean"
      ? new Uint8Array(Float64Array.from(t.data).buffer)
      : new Uint8Array(t.data.buffer);
    parts.push({ name, dtype: name === "bn1.running_mean" ? "F64" : "F32", shape: t.shape, bytes });
  }
  parts.push({
    name: "bn1.num_batches_tracked",
    dtype: "I64",
    shape: [],
    bytes: new Uint8Array(new BigInt64Array([1234n]).buffer),
  });
  let offset = 0;
  const header: Record<string, unknown> = {};
  for (const p of parts) {
    header[p.name] = {
      dtype: p.dtype,
      shape: p.shape,
      data_offsets: [offset, offset + p.bytes.length],
    };
    offset += p.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const file = new Uint8Array(8 + json.length + offset);
  new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
  file.set(json, 8);
  let at = 8 + json.length;
  for (const p of parts) {
    file.set(p.bytes, at);
    at += p.bytes.length;
  }
  const dir = await Deno.makeTempDir();
  const path = join(dir, "torch.safetensors");
  await Deno.writeFile(path, file);
  const net = fakeNet("zeros");
  const report = await loadWeights(net, path);
  assert.deepEqual(report.unexpected, []);
  assert.deepEqual(values(net), values(pattern));
  net.dispose();
  pattern.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadWeights errors name the file", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "other.safetensors");
  await Deno.writeFile(
    path,
    encodeSafetensors(
      new Map<string, HostTensor>([["x", {
        dtype: "float32",
        shape: [1],
        data: new Float32Array(1),
      }]]),
    ),
  );
  const net = fakeNet("zeros");
  await assert.rejects(loadWeights(net, path), (err: Error) => {
    assert.ok(err.message.startsWith(`${path}: weights do not match network Fake: 6 missing`));
    return true;
  });
  net.dispose();
  await Deno.remove(dir, { recursive: true });
});
