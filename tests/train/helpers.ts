/**
 * Test helpers: a tiny seeded network with BatchNorm and an in-memory dataset, so training tests
 * run in milliseconds on the tfjs cpu backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { Dataset, RawBatch } from "../../src/data/dataset.ts";
import type { LayerInfo, NamedVariable, Network } from "../../src/nn/network.ts";
import { seededRandom } from "../../src/data/random.ts";
import { Callback, type Logs } from "../../src/train/callback.ts";

/** Selects the cpu backend (idempotent). */
export async function useCpu(): Promise<void> {
  await tf.setBackend("cpu");
  await tf.ready();
}

/**
 * conv1 (3×3, pad 1, no bias) → bn1 → ReLU → final_conv (side×side, valid, with bias): logits
 * (N, 1, 1, classes). Names follow the recipe, so the io layer treats it like ResNet-FCN.
 */
export function tinyNet(
  opts: { side?: number; channels?: number; hidden?: number; classes?: number; seed?: number } = {},
): Network {
  const { side = 4, channels = 1, hidden = 4, classes = 3, seed = 0 } = opts;
  const rand = seededRandom(seed);
  const init = (shape: number[], scale: number) =>
    tf.variable(
      tf.tensor(
        Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () =>
          (rand() * 2 - 1) * scale),
        shape,
      ),
    );
  // Variables survive tidy; the initial values they were made from do not.
  const vars: NamedVariable[] = tf.tidy(() => [
    { name: "conv1.weight", variable: init([3, 3, channels, hidden], 0.5), trainable: true },
    { name: "bn1.weight", variable: tf.variable(tf.ones([hidden])), trainable: true },
    { name: "bn1.bias", variable: tf.variable(tf.zeros([hidden])), trainable: true },
    {
      name: "bn1.running_mean",
      variable: tf.variable(tf.zeros([hidden]), false),
      trainable: false,
    },
    { name: "bn1.running_var", variable: tf.variable(tf.ones([hidden]), false), trainable: false },
    {
      name: "final_conv.weight",
      variable: init([side, side, hidden, classes], 0.3),
      trainable: true,
    },
    { name: "final_conv.bias", variable: tf.variable(tf.zeros([classes])), trainable: true },
  ]);
  const v = Object.fromEntries(vars.map((x) => [x.name, x.variable]));
  return {
    name: "TinyNet",
    apply(x: tf.Tensor4D, training: boolean): tf.Tensor {
      return tf.tidy(() => {
        const h = tf.conv2d(x, v["conv1.weight"] as tf.Tensor4D, 1, [[0, 0], [1, 1], [1, 1], [
          0,
          0,
        ]]);
        let mean: tf.Tensor, variance: tf.Tensor;
        if (training) {
          const m = tf.moments(h, [0, 1, 2]);
          mean = m.mean;
          variance = m.variance;
          v["bn1.running_mean"].assign(
            tf.add(tf.mul(v["bn1.running_mean"], 0.9), tf.mul(mean, 0.1)),
          );
          v["bn1.running_var"].assign(
            tf.add(tf.mul(v["bn1.running_var"], 0.9), tf.mul(variance, 0.1)),
          );
        } else {
          mean = v["bn1.running_mean"];
          variance = v["bn1.running_var"];
        }
        const n = tf.batchNorm(h, mean, variance, v["bn1.bias"], v["bn1.weight"], 1e-5);
        const out = tf.conv2d(
          tf.relu(n) as tf.Tensor4D,
          v["final_conv.weight"] as tf.Tensor4D,
          1,
          "valid",
        );
        return tf.add(out, v["final_conv.bias"]);
      });
    },
    variables: () => vars,
    layers(_inputSize: number): LayerInfo[] {
      return [{
        name: "conv1",
        type: "Conv2D",
        outputShape: [null, side, side, hidden],
        params: 9 * channels * hidden,
      }];
    },
    dispose: () => vars.forEach((x) => x.variable.dispose()),
  };
}

/** An in-memory dataset over float32 images. */
export class ArrayDataset implements Dataset {
  readonly length: number;
  constructor(
    readonly images: Float32Array | Uint8Array,
    readonly labels: Int32Array,
    readonly imageShape: readonly [number, number, number],
    readonly classNames: readonly string[],
  ) {
    this.length = labels.length;
  }
  getBatch(indices: readonly number[]): RawBatch {
    const per = this.imageShape[0] * this.imageShape[1] * this.imageShape[2];
    const images = this.images instanceof Uint8Array
      ? new Uint8Array(indices.length * per)
      : new Float32Array(indices.length * per);
    indices.forEach((idx, i) =>
      images.set(this.images.subarray(idx * per, (idx + 1) * per), i * per)
    );
    return { images, labels: Int32Array.from(indices, (i) => this.labels[i]) };
  }
}

/**
 * A learnable set: class c of 3 lights up quadrant c of a side×side single-channel image, plus
 * noise. Chance accuracy is 1/3.
 */
export function quadrantDataset(n: number, seed = 0, side = 4): ArrayDataset {
  const rand = seededRandom(seed, 1);
  const per = side * side;
  const images = new Float32Array(n * per);
  const labels = new Int32Array(n);
  const half = side / 2;
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const q = (y < half ? 0 : 2) + (x < half ? 0 : 1);
        images[i * per + y * side + x] = (q === c ? 1 : 0) + (rand() - 0.5) * 0.6;
      }
    }
  }
  return new ArrayDataset(images, labels, [side, side, 1], ["a", "b", "c"]);
}

/** Records every hook call as a string, and the logs of chosen hooks. */
export class Recorder extends Callback {
  readonly calls: string[] = [];
  readonly batchLogs: Logs[] = [];
  readonly epochLogs: Logs[] = [];
  readonly evalLogs: Logs[] = [];
  override onTrainBegin() {
    this.calls.push("trainBegin");
  }
  override onTrainEnd() {
    this.calls.push("trainEnd");
  }
  override onEpochBegin(e: number) {
    this.calls.push(`epochBegin ${e}`);
  }
  override onEpochEnd(e: number, logs: Logs) {
    this.calls.push(`epochEnd ${e}`);
    this.epochLogs.push({ ...logs });
  }
  override onTrainBatchBegin(b: number) {
    this.calls.push(`batchBegin ${b}`);
  }
  override onTrainBatchEnd(b: number, logs: Logs) {
    this.calls.push(`batchEnd ${b}`);
    this.batchLogs.push({ ...logs });
  }
  override onEvalBegin() {
    this.calls.push("evalBegin");
  }
  override onEvalEnd(logs: Logs) {
    this.calls.push("evalEnd");
    this.evalLogs.push({ ...logs });
  }
  override onEvalBatchBegin(b: number) {
    this.calls.push(`evalBatchBegin ${b}`);
  }
  override onEvalBatchEnd(b: number) {
    this.calls.push(`evalBatchEnd ${b}`);
  }
  override onPredictBegin() {
    this.calls.push("predictBegin");
  }
  override onPredictEnd() {
    this.calls.push("predictEnd");
  }
}
