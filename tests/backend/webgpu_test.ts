import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { startWebGPU } from "../../src/backend/webgpu.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";

tf.env().set("IS_NODE", false);

async function forward(backend: string, input: Float32Array, training: boolean) {
  await tf.setBackend(backend);
  const net = resnetFCN({ depth: 18, width: 4, numClasses: 5, blocks: [1, 1, 1, 1], seed: 3 });
  const y = tf.tidy(() => net.apply(tf.tensor4d(input, [2, 32, 32, 3]), training));
  const out = await y.data();
  const moving = await net.variables().find((v) => v.name === "bn1.running_var")!.variable.data();
  y.dispose();
  net.dispose();
  return { out, moving };
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

Deno.test("ResNet-FCN forward on WebGPU equals the CPU backend within 1e-4 relative", async () => {
  const adapter = await startWebGPU();
  assert.ok(adapter.description.length > 0);
  const input = Float32Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => Math.sin(i * 0.37));
  for (const training of [false, true]) {
    const gpu = await forward("webgpu", input, training);
    const cpu = await forward("cpu", input, training);
    const d = relDiff(gpu.out, cpu.out);
    assert.ok(d < 1e-4, `training=${training}: logits differ by ${d}`);
    assert.ok(relDiff(gpu.moving, cpu.moving) < 1e-4, "moving statistics differ");
  }
});
