/**
 * `trainer evaluate`: a checkpoint's loss, top-1 and top-5 accuracy on the test split, and a
 * per-class accuracy table. The architecture comes from the weights; the dataset from the run's
 * `run.json` beside the checkpoint, unless `--dataset` names another.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { loadNetworkTensors } from "../src/io/weights.ts";
import { resnetFCN } from "../src/nn/resnet_fcn.ts";
import { DataLoader } from "../src/train/loader.ts";
import { Model } from "../src/train/model.ts";
import { resolveLoss } from "../src/train/losses.ts";
import { METRICS } from "../src/train/metrics.ts";
import { BACKEND_FLAG, PRECISION_FLAG, startBackend } from "./common.ts";

import { checkDataRequest, DATASET_NAMES, loadData } from "./data.ts";
import { Flags, type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import {
  CHECKPOINT_OR_WEIGHTS_FLAGS,
  readNetworkWeights,
  resolveCheckpoint,
  runFileOf,
} from "./run_file.ts";

const FLAGS: FlagSpec[] = [
  ...CHECKPOINT_OR_WEIGHTS_FLAGS,
  {
    name: "dataset",
    type: "string",
    choices: DATASET_NAMES,
    help: "Data to evaluate on (default: the one the checkpoint was trained on, from run.json)",
  },
  { name: "data", type: "string", existingPath: true, help: "Where the data lives (as for train)" },
  { name: "batch-size", type: "integer", min: 1, default: 256, help: "Images per forward pass" },
  { name: "limit-eval", type: "integer", min: 1, help: "Use only N test examples (spread evenly)" },
  BACKEND_FLAG,
  PRECISION_FLAG,
];

/** Loss, accuracies and per-class counts from logits `(N, C)` and labels `(N)`. */
export async function scoreLogits(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
): Promise<
  { loss: number; top1: number; top5: number; perClass: { total: number; correct: number }[] }
> {
  const n = labels.shape[0];
  const classes = logits.shape[1];
  const packed = tf.tidy(() =>
    tf.stack([
      resolveLoss("softmax_cross_entropy")(logits, labels),
      METRICS.acc_top1.correct(logits, labels),
      METRICS.acc_top5.correct(logits, labels),
    ])
  );
  const [loss, c1, c5] = await packed.data();
  packed.dispose();
  const predicted = tf.argMax(logits, 1);
  const [pred, truth] = [await predicted.data(), await labels.data()];
  predicted.dispose();
  const perClass = Array.from({ length: classes }, () => ({ total: 0, correct: 0 }));
  for (let i = 0; i < n; i++) {
    perClass[truth[i]].total++;
    if (pred[i] === truth[i]) perClass[truth[i]].correct++;
  }
  return { loss, top1: c1 / n, top5: c5 / n, perClass };
}

/** Runs the subcommand; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const v = parseFlags("evaluate", "Evaluate a checkpoint on the test split.", FLAGS, args);
  if (!v) return 0;
  const f = new Flags(v);
  const weights = f.optionalString("weights");
  if ((weights === undefined) === (f.optionalString("checkpoint") === undefined)) {
    throw new UsageError("give exactly one of --checkpoint DIR or --weights FILE");
  }
  const dir = weights ?? await resolveCheckpoint(f.string("checkpoint"));
  const runFile = weights !== undefined ? null : await runFileOf(dir);
  const given = f.optionalString("dataset");
  const dataset = given === undefined ? runFile?.dataset : f.choice("dataset", DATASET_NAMES);
  if (dataset === undefined) {
    throw new UsageError(
      weights !== undefined
        ? "--weights needs --dataset: a weights file does not say what it was trained on"
        : `${dir} has no run.json beside it to name its dataset: pass --dataset`,
    );
  }
  const request = {
    dataset,
    data: f.optionalString("data") ?? (given === undefined ? runFile?.data : undefined),
    limitEval: f.optionalNumber("limit-eval"),
  };
  checkDataRequest(request);
  const { tensors, arch, source } = await readNetworkWeights(dir);
  await startBackend(v);
  const data = await loadData(request);
  if (data.imageShape[2] !== arch.inChannels || data.classNames.length !== arch.numClasses) {
    throw new Error(
      `${dir}: the network takes ${arch.inChannels} channels and has ${arch.numClasses} classes, ` +
        `but ${data.description}`,
    );
  }
  const model = new Model(resnetFCN(arch));
  try {
    loadNetworkTensors(model.net, tensors, { source });
    const loader = new DataLoader(data.test, {
      batchSize: f.number("batch-size"),
      shuffle: false,
      transform: data.evalTransform,
      training: false,
    });
    const out = await model.predict(loader, { batchSize: loader.batchSize });
    if (out.rank === 4 && (out.shape[1] !== 1 || out.shape[2] !== 1)) {
      out.dispose();
      throw new Error(
        `${data.description}: the network gives ${out.shape[1]}×${out.shape[2]} score maps, ` +
          "not one score per class; evaluation needs inputs whose output map is 1×1",
      );
    }
    const all = data.test.getBatch(Array.from({ length: data.test.length }, (_, i) => i)).labels;
    const labels = tf.tensor1d(all, "int32");
    const logits = tf.reshape(out, [out.shape[0], -1]) as tf.Tensor2D;
    const r = await scoreLogits(logits, labels);
    tf.dispose([out, labels, logits]);

    console.log(`evaluate: ${model.net.name} from ${dir}`);
    console.log(`  ${data.description}`);
    console.log(`  loss      ${r.loss.toFixed(4)}`);
    console.log(`  acc_top1  ${(100 * r.top1).toFixed(2)}%`);
    console.log(`  acc_top5  ${(100 * r.top5).toFixed(2)}%`);
    const names = runFile?.classNames ?? data.classNames;
    const w = Math.max(5, ...names.map((s) => s.length)) + 2;
    console.log(
      `\n  ${"class".padEnd(w)}${"images".padStart(8)}${"correct".padStart(9)}${
        "accuracy".padStart(10)
      }`,
    );
    r.perClass.forEach(({ total, correct }, k) => {
      const acc = total === 0 ? "—" : `${(100 * correct / total).toFixed(2)}%`;
      console.log(
        `  ${String(names[k]).padEnd(w)}${String(total).padStart(8)}${String(correct).padStart(9)}${
          acc.padStart(10)
        }`,
      );
    });
    return 0;
  } finally {
    model.dispose();
  }
}
