/**
 * `Model.fit` on `webgpu` reads each step's values back one step late (step k+1 queued first):
 * the callbacks must still see every step's values in order, before the epoch ends, and the
 * results must be those of `cpu`, where the loop does not lag — also when a callback stops the
 * run in the middle of an epoch, which drops the step queued ahead. Skips, saying why, where no
 * WebGPU adapter exists.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { findAdapter, startWebGPU } from "../../src/backend/webgpu.ts";
import { useWebGPUKernels } from "../../src/backend/webgpu_kernels.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";
import { Callback, type Logs } from "../../src/train/callback.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { syntheticDataset } from "../../src/data/synthetic.ts";
import { relative } from "../backend/values.ts";

tf.env().set("IS_NODE", false);
const adapter = await findAdapter();
if (!adapter) console.log("pipelined read-back tests skipped: no WebGPU adapter");
const ignore = adapter === null;
const TOLERANCE = 1e-4;

/** Records the hooks in call order, with each step's loss and the weights seen at its end. */
class Recorder extends Callback {
  events: string[] = [];
  losses: number[] = [];
  /** The first conv weight's sum as each step's onTrainBatchEnd sees it. */
  seen: number[] = [];
  constructor(readonly stopAt: number | null) {
    super();
  }
  override onTrainBatchBegin(batch: number): void {
    this.events.push(`begin ${batch}`);
  }
  override async onTrainBatchEnd(batch: number, logs: Logs): Promise<void> {
    this.events.push(`end ${batch} step ${logs.step}`);
    this.losses.push(logs.loss);
    const model = this.model as Model;
    const sum = tf.sum(model.net.variables()[0].variable);
    this.seen.push((await sum.data())[0]);
    sum.dispose();
    if (logs.step === this.stopAt) model.stopTraining = true;
  }
  override onEpochEnd(epoch: number, logs: Logs): void {
    this.events.push(`epoch ${epoch} loss ${logs.loss.toFixed(3)}`);
  }
}

async function run(backend: string, stopAt: number | null) {
  await tf.setBackend(backend);
  // The network of the kernel tests' training parity: on llvmpipe each new convolution shape
  // costs seconds of shader compilation, and these shapes are compiled (and cached) there.
  const data = syntheticDataset({ length: 10, numClasses: 5, imageShape: [17, 17, 3] });
  const model = new Model(
    resnetFCN({ depth: 18, width: 4, numClasses: 5, blocks: [1, 1, 1, 1], seed: 5 }),
  );
  model.prepare({ optimizer: new MomentumSGD({ lr: 0.05, weightDecay: 5e-4 }), metrics: [] });
  const recorder = new Recorder(stopAt);
  await model.fit(data, undefined, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [recorder] });
  const params = await Promise.all(
    model.net.variables().map(async (v) => Float32Array.from(await v.variable.data())),
  );
  const step = model.globalStep;
  model.dispose();
  return { recorder, params, step };
}

for (const stopAt of [null, 2]) {
  Deno.test({
    name: `fit on webgpu with a lagging read-back matches cpu (stop at step ${stopAt})`,
    ignore,
    fn: async () => {
      const cpu = await run("cpu", stopAt);
      await startWebGPU();
      useWebGPUKernels("ours");
      const gpu = await run("webgpu", stopAt);
      assert.equal(gpu.step, stopAt ?? 6);
      // Epoch losses are printed to 3 decimals, so the hook sequences agree exactly.
      assert.deepEqual(gpu.recorder.events, cpu.recorder.events);
      assert.equal(gpu.recorder.losses.length, stopAt ?? 6);
      cpu.recorder.losses.forEach((l, i) => {
        const rel = Math.abs(gpu.recorder.losses[i] - l) / Math.abs(l);
        assert.ok(rel <= TOLERANCE, `loss of step ${i + 1}: ${gpu.recorder.losses[i]} vs ${l}`);
      });
      // Each onTrainBatchEnd sees the weights after its own step, not after the one queued.
      cpu.recorder.seen.forEach((s, i) => {
        const rel = Math.abs(gpu.recorder.seen[i] - s) / Math.max(Math.abs(s), 1e-6);
        assert.ok(rel <= 1e-3, `weights seen at step ${i + 1}: ${gpu.recorder.seen[i]} vs ${s}`);
      });
      cpu.params.forEach((p, i) => {
        const rel = relative(p, gpu.params[i]);
        assert.ok(rel <= TOLERANCE, `parameter ${i}: relative error ${rel}`);
      });
    },
  });
}
