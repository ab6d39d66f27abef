import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { Conv2d, SeedSequence } from "../../src/nn/layers.ts";
import { RESNET_BLOCKS, type ResNetDepth, resnetFCN } from "../../src/nn/resnet_fcn.ts";
import { countParams, formatSummary } from "../../src/nn/summary.ts";

await tf.setBackend("cpu");

const DEPTHS = [18, 34, 50, 101, 152] as const;

Deno.test("every depth gives logits at 24 and 32 and a 3×3 class map at 64", () => {
  for (const depth of DEPTHS) {
    const net = resnetFCN({ depth, width: 2, numClasses: 7 });
    const before = tf.memory().numTensors;
    for (const [side, shape] of [[24, [2, 7]], [32, [2, 7]], [64, [2, 3, 3, 7]]] as const) {
      const y = tf.tidy(() => net.apply(tf.ones([2, side, side, 3]), side === 24));
      assert.deepEqual(y.shape, shape, `depth ${depth} input ${side}`);
      assert.deepEqual(net.layers(side).at(-1)!.outputShape.slice(1), shape.slice(1));
      y.dispose();
    }
    assert.equal(tf.memory().numTensors, before, `depth ${depth} leaks tensors`);
    net.dispose();
  }
});

Deno.test("parameter counts of ResNet50/101/152-FCN match the recipe", () => {
  const expected: Record<number, [number, number, number]> = {
    50: [31_961_034, 31_907_914, 53_120],
    101: [51_005_386, 50_900_042, 105_344],
    152: [66_695_114, 66_543_690, 151_424],
  };
  for (const depth of [50, 101, 152] as const) {
    const net = resnetFCN({ depth });
    const c = countParams(net);
    assert.deepEqual([c.total, c.trainable, c.nonTrainable], expected[depth], `depth ${depth}`);
    assert.equal(net.layers(32).reduce((n, r) => n + r.params, 0), c.total);
    net.dispose();
  }
});

Deno.test("summary prints the recipe's totals with thousands separators", () => {
  const net = resnetFCN({ depth: 50 });
  const text = formatSummary(net, 32);
  net.dispose();
  const lines = text.split("\n");
  assert.ok(lines.includes("Total params: 31,961,034"));
  assert.ok(lines.includes("Trainable params: 31,907,914"));
  assert.ok(lines.includes("Non-trainable params: 53,120"));
  assert.match(text, /conv1 \(Conv2D\)\s+\(None, 16, 16, 64\)\s+9,408/);
  assert.match(text, /final_conv \(Conv2D\)\s+\(None, 1, 1, 1024\)\s+8,389,632/);
  assert.match(text, /reshape \(Reshape\)\s+\(None, 10\)/);
});

Deno.test("exchange names follow the PyTorch layout, downsample only where needed", () => {
  const net = resnetFCN({ depth: 50, width: 2 });
  const names = net.variables().map((v) => v.name);
  net.dispose();
  assert.deepEqual(names.slice(0, 5), [
    "conv1.weight",
    "bn1.weight",
    "bn1.bias",
    "bn1.running_mean",
    "bn1.running_var",
  ]);
  for (let s = 1; s <= 4; s++) {
    assert.ok(names.includes(`layer${s}.0.downsample.0.weight`), `layer${s}.0 has a shortcut`);
    assert.ok(!names.some((n) => n.startsWith(`layer${s}.1.downsample`)));
  }
  assert.ok(names.includes("layer3.5.conv3.weight") && !names.includes("layer3.6.conv1.weight"));
  assert.deepEqual(names.slice(-4), [
    "final_conv.weight",
    "final_conv.bias",
    "final_conv2.weight",
    "final_conv2.bias",
  ]);
  const basic = resnetFCN({ depth: 18, width: 2 });
  const basicNames = basic.variables().map((v) => v.name);
  basic.dispose();
  assert.ok(!basicNames.includes("layer1.0.downsample.0.weight"), "basic stage 1 keeps identity");
  assert.ok(!basicNames.some((n) => n.includes("conv3")));
  assert.equal(RESNET_BLOCKS[101 as ResNetDepth][2], 23);
});

/** Independent NHWC convolution with symmetric zero padding, plain loops. */
function naiveConv(
  x: Float32Array,
  [n, h, w, c]: number[],
  k: Float32Array,
  [kh, kw, , o]: number[],
  stride: number,
  pad: number,
): { data: Float32Array; shape: number[] } {
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
  const out = new Float32Array(n * oh * ow * o);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let f = 0; f < o; f++) {
          let s = 0;
          for (let di = 0; di < kh; di++) {
            for (let dj = 0; dj < kw; dj++) {
              const y = i * stride - pad + di;
              const xx = j * stride - pad + dj;
              if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
              for (let ch = 0; ch < c; ch++) {
                s += x[((b * h + y) * w + xx) * c + ch] * k[((di * kw + dj) * c + ch) * o + f];
              }
            }
          }
          out[((b * oh + i) * ow + j) * o + f] = s;
        }
      }
    }
  }
  return { data: out, shape: [n, oh, ow, o] };
}

Deno.test("the 7×7 stride-2 stem pads 3 on every side, not TensorFlow's 'same'", async () => {
  const xs = [2, 18, 18, 3];
  const ks = [7, 7, 3, 4];
  const x = Float32Array.from({ length: 2 * 18 * 18 * 3 }, (_, i) => ((i * 37) % 23) - 11);
  const k = Float32Array.from({ length: 7 * 7 * 3 * 4 }, (_, i) => ((i * 13) % 17) / 8 - 1);
  const expected = naiveConv(x, xs, k, ks, 2, 3);
  // The stem exactly as the network builds it (its row in the summary proves the same geometry).
  const stem = new Conv2d({
    name: "conv1",
    inChannels: 3,
    outChannels: 4,
    kernel: 7,
    stride: 2,
    padding: 3,
    init: "kaiming",
    seeds: new SeedSequence(1),
  });
  const net = resnetFCN({ depth: 18, width: 4, blocks: [1, 1, 1, 1] });
  assert.deepEqual(net.layers(18)[0], {
    name: "conv1",
    type: "Conv2D",
    outputShape: [null, ...expected.shape.slice(1)],
    params: 7 * 7 * 3 * 4,
  });
  net.dispose();
  stem.kernel.assign(tf.tensor4d(k, ks as [number, number, number, number]));
  const xt = tf.tensor4d(x, xs as [number, number, number, number]);
  const got = stem.apply(xt);
  const same = tf.conv2d(xt, stem.kernel as tf.Tensor4D, 2, "same");
  assert.deepEqual(got.shape, expected.shape);
  const g = await got.data();
  const sm = await same.data();
  tf.dispose([xt, got, same, stem.kernel]);
  let maxErr = 0;
  let maxSameErr = 0;
  for (let i = 0; i < g.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(g[i] - expected.data[i]));
    maxSameErr = Math.max(maxSameErr, Math.abs(sm[i] - expected.data[i]));
  }
  assert.ok(maxErr < 1e-3, `stem differs from the reference by ${maxErr}`);
  assert.ok(maxSameErr > 1, "'same' padding should differ: it pads stride-2 unevenly");
});
