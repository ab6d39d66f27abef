import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { variableGradsFreeing } from "../../src/train/backprop.ts";
import { resnetFCN } from "../../src/nn/resnet_fcn.ts";
import { softmaxCrossEntropy } from "../../src/train/losses.ts";
import "../../src/train/gradients.ts";
import { useCpu } from "./helpers.ts";

await useCpu();

function setUp() {
  const net = resnetFCN({ depth: 18, width: 4, blocks: [1, 1, 1, 1], numClasses: 5, seed: 7 });
  const x = tf.tensor4d(Float32Array.from({ length: 6 * 24 * 24 * 3 }, (_, i) => Math.sin(i)), [
    6,
    24,
    24,
    3,
  ]);
  const y = tf.tensor1d([0, 1, 2, 3, 4, 0], "int32");
  const vars = net.variables().filter((v) => v.trainable).map((v) => v.variable);
  const loss = () => softmaxCrossEntropy(net.apply(x, true) as tf.Tensor2D, y);
  return { net, x, y, vars, loss };
}

Deno.test("variableGradsFreeing gives tf.variableGrads' numbers bit for bit and leaves nothing over", async () => {
  const a = setUp();
  const before = tf.memory().numTensors;
  let theirs: { value: tf.Scalar; grads: tf.NamedTensorMap } | null = null;
  const stock = await tf.profile(() => {
    theirs = tf.variableGrads(a.loss, a.vars);
  });
  const afterStock = tf.memory().numTensors;
  let ours: { value: tf.Scalar; grads: tf.NamedTensorMap } | null = null;
  const freeing = await tf.profile(() => {
    ours = variableGradsFreeing(a.loss, a.vars);
  });
  // Each leaves the same tensors behind: the value and one gradient per variable.
  assert.equal(tf.memory().numTensors - afterStock, afterStock - before);
  const [t, o] = [theirs!, ours!];
  assert.deepEqual(o.value.dataSync(), t.value.dataSync());
  for (const v of a.vars) {
    assert.deepEqual(o.grads[v.name].dataSync(), t.grads[v.name].dataSync(), v.name);
  }
  // The forward pass peaks here (the CPU backend's BatchNorm is many small ops), so no less.
  assert.ok(freeing.peakBytes <= stock.peakBytes, `${freeing.peakBytes} > ${stock.peakBytes}`);
  tf.dispose([t.value, o.value, ...Object.values(t.grads), ...Object.values(o.grads)]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([a.x, a.y]);
  a.net.dispose();
});

Deno.test("variableGradsFreeing names a variable the loss does not reach", () => {
  const w = tf.variable(tf.scalar(2));
  const unused = tf.variable(tf.scalar(3));
  assert.throws(
    () => variableGradsFreeing(() => tf.mul(w, w) as tf.Scalar, [w, unused]),
    new RegExp(`does not depend on variable ${unused.name}`),
  );
  tf.dispose([w, unused]);
});

Deno.test("variableGradsFreeing frees activations and their gradients as backpropagation passes", () => {
  // A deep chain whose forward tensors are all saved for the backward pass. A probe after the
  // first layer reads the bytes held when backpropagation reaches it, that is once every later
  // layer is done: the stock walk still holds every activation and every gradient there.
  const depth = 8;
  const ws = Array.from(
    { length: depth },
    (_, i) => tf.variable(tf.randomNormal([3, 3, 16, 16], 0, 0.12, "float32", i)),
  );
  const x = tf.randomNormal([4, 8, 8, 16], 0, 1, "float32", 99) as tf.Tensor4D;
  let held = 0;
  const probe = tf.customGrad(
    ((h: tf.Tensor, save: tf.GradSaveFunc) => {
      save([]);
      return {
        value: tf.clone(h),
        gradFunc: (dy: tf.Tensor) => {
          held = tf.memory().numBytes;
          return [dy];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  const layer = (h: tf.Tensor4D, w: tf.Variable) =>
    tf.relu(tf.conv2d(h, w as tf.Tensor4D, 1, "same")) as tf.Tensor4D;
  const loss = () =>
    tf.tidy(() => {
      const first = probe(layer(x, ws[0])) as tf.Tensor4D;
      return tf.sum(ws.slice(1).reduce(layer, first));
    }) as tf.Scalar;
  const bytesAtProbe = (grads: typeof variableGradsFreeing) => {
    const base = tf.memory().numBytes;
    const r = grads(loss, ws);
    tf.dispose([r.value, ...Object.values(r.grads)]);
    return held - base;
  };
  const stock = bytesAtProbe(tf.variableGrads);
  const freeing = bytesAtProbe(variableGradsFreeing);
  const activation = 4 * 8 * 8 * 16 * 4;
  console.log(
    `held when backpropagation reaches layer 1: tf.variableGrads ${stock} bytes, ` +
      `freeing ${freeing} (one activation: ${activation})`,
  );
  // Stock: two saved activations and two gradients per layer; freeing: a handful in all.
  assert.ok(stock > 3 * depth * activation, `stock ${stock}`);
  assert.ok(freeing < 8 * activation, `freeing ${freeing}`);
  tf.dispose([x, ...ws]);
});

Deno.test("variableGradsFreeing keeps tensors for gradients without a clone kernel each", () => {
  const a = setUp();
  const identity = tf.getKernel("Identity", "cpu")!;
  let clones = 0;
  tf.unregisterKernel("Identity", "cpu");
  tf.registerKernel({
    ...identity,
    kernelFunc: (args) => {
      clones++;
      return identity.kernelFunc(args);
    },
  });
  try {
    const count = (f: () => { value: tf.Scalar; grads: tf.NamedTensorMap }) => {
      clones = 0;
      const { value, grads } = f();
      tf.dispose([value, ...Object.values(grads)]);
      return clones;
    };
    // TensorFlow.js's own saving clones each kept tensor (about 400 a step for ResNet18-FCN).
    const stock = count(() => tf.variableGrads(a.loss, a.vars));
    const ours = count(() => variableGradsFreeing(a.loss, a.vars));
    assert.ok(stock > 50, `stock saving ran ${stock} Identity kernels`);
    console.log(`Identity kernels: stock ${stock}, ours ${ours}`);
    // What is left are the tape's own clones of a gradient passed on unchanged (Add's).
    assert.ok(ours < stock / 4, `${ours} Identity kernels against ${stock}`);
  } finally {
    tf.unregisterKernel("Identity", "cpu");
    tf.registerKernel(identity);
    tf.dispose([a.x, a.y]);
    a.net.dispose();
  }
});
