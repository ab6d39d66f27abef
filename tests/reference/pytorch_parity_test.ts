import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { readNpy, writeNpy } from "../../src/io/npy.ts";
import { saveWeights } from "../../src/io/weights.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";
import { findTorchPython, runTorchReference, TORCH_SCRIPT } from "../../tasks/reference/torch.ts";
import { runCli, show } from "../tasks/helpers.ts";

tf.env().set("IS_NODE", false);
await tf.setBackend("cpu");

const python = await findTorchPython();

Deno.test({
  name: "ResNet-FCN outputs equal PyTorch's on the same safetensors weights",
  ignore: python === null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const net = resnetFCN({ depth: 50, width: 4, blocks: [1, 2, 1, 1], numClasses: 7, seed: 5 });
    let seed = 11;
    for (const v of net.variables()) {
      // Non-trivial BN statistics and affine terms, so that a mix-up of names shows.
      if (v.name.includes("bn") || v.name.includes("downsample.1")) {
        const positive = v.name.endsWith("running_var") || v.name.endsWith("weight");
        v.variable.assign(tf.tidy(() => {
          const r = tf.randomUniform(v.variable.shape, 0.5, 1.5, "float32", seed++);
          return positive ? r : tf.sub(r, 1);
        }));
      }
    }
    await saveWeights(net, `${dir}/w.safetensors`);
    for (const [side, train] of [[32, false], [40, false], [32, true]] as const) {
      const n = 3;
      const data = Float32Array.from(
        { length: n * side * side * 3 },
        (_, i) => Math.sin(i * 0.731),
      );
      await writeNpy(`${dir}/x.npy`, { dtype: "float32", shape: [n, side, side, 3], data });
      const args = ["predict", `${dir}/w.safetensors`, `${dir}/x.npy`, `${dir}/y.npy`];
      await runTorchReference(python!, train ? [...args, "--train"] : args);
      const want = await readNpy(`${dir}/y.npy`);
      const y = tf.tidy(() => net.apply(tf.tensor4d(data, [n, side, side, 3]), train));
      assert.deepEqual(y.shape, want.shape, `input ${side}`);
      const got = await y.data();
      y.dispose();
      let err = 0;
      let scale = 0;
      for (let i = 0; i < got.length; i++) {
        err = Math.max(err, Math.abs(got[i] - want.data[i]));
        scale = Math.max(scale, Math.abs(want.data[i]));
      }
      console.log(
        `input ${side}${train ? " (batch statistics)" : ""}: max relative ${err / scale}`,
      );
      assert.ok(err / scale < 1e-4, `input ${side}: differs from PyTorch by ${err / scale}`);
    }
    net.dispose();
    await Deno.remove(dir, { recursive: true });
  },
});

if (python === null) {
  console.log(
    "pytorch parity test skipped: no python3 with torch (Debian: apt-get install python3-torch)",
  );
}

Deno.test({
  name: "predict on PyTorch-made .pth weights (zip and legacy) equals PyTorch's outputs",
  ignore: python === null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const [n, side] = [3, 36];
      const data = Float32Array.from(
        { length: n * side * side * 3 },
        (_, i) => Math.cos(i * 0.377),
      );
      await writeNpy(`${dir}/x.npy`, { dtype: "float32", shape: [n, side, side, 3], data });
      await new Deno.Command(python!, {
        args: ["-c", SAVE_AND_PREDICT, TORCH_SCRIPT, dir],
        stderr: "inherit",
      }).output().then((o) => assert.ok(o.success, "the PyTorch side failed"));
      const want = await readNpy(`${dir}/want.npy`);
      for (const file of ["w.pth", "w_legacy.pth"]) {
        const r = await runCli([
          "predict",
          "--weights",
          file,
          "--input",
          "x.npy",
          "--output",
          `${file}.npy`,
          "--backend",
          "cpu",
        ], dir);
        assert.equal(r.code, 0, show(r));
        const got = await readNpy(`${dir}/${file}.npy`);
        assert.deepEqual(got.shape, want.shape);
        let err = 0;
        let scale = 0;
        for (let i = 0; i < got.data.length; i++) {
          err = Math.max(err, Math.abs(got.data[i] - want.data[i]));
          scale = Math.max(scale, Math.abs(want.data[i]));
        }
        console.log(`${file}: max relative ${err / scale}`);
        assert.ok(err / scale < 1e-4, `${file}: differs from PyTorch by ${err / scale}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Builds the reference network, gives BatchNorm non-trivial statistics, saves it both ways, runs it. */
const SAVE_AND_PREDICT = `import os, sys, numpy as np, torch
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from resnet_fcn_torch import ResNetFCN
d = sys.argv[2]
torch.manual_seed(3)
net = ResNetFCN(50, 7, 4, 3, [1, 2, 1, 1])
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.5, 0.5)
            m.running_mean.uniform_(-0.5, 0.5); m.running_var.uniform_(0.5, 1.5)
torch.save(net.state_dict(), f"{d}/w.pth")
torch.save(net.state_dict(), f"{d}/w_legacy.pth", _use_new_zipfile_serialization=False)
net.eval()
x = torch.from_numpy(np.load(f"{d}/x.npy")).permute(0, 3, 1, 2).contiguous()
with torch.no_grad():
    y = net(x)
np.save(f"{d}/want.npy", (y.permute(0, 2, 3, 1) if y.dim() == 4 else y).contiguous().numpy())
`;
