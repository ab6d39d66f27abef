/**
 * `trainer predict`: runs a trained network in inference mode (BatchNorm on its moving
 * statistics) over an NHWC float32 `.npy` batch and writes the logits — or, for inputs larger
 * than the network's receptive field, the class heatmaps — as float32 `.npy`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { readNpy, writeNpy } from "../src/io/npy.ts";
import { loadNetworkTensors } from "../src/io/weights.ts";
import { resnetFCN } from "../src/nn/resnet_fcn.ts";
import { BACKEND_FLAG, MODEL_NAMES, startBackend } from "./common.ts";
import { Flags, type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import { readNetworkWeights } from "./run_file.ts";

const FLAGS: FlagSpec[] = [
  {
    name: "weights",
    type: "string",
    existingPath: true,
    help: "Weights: .safetensors, PyTorch .pth/.pt or Paddle .pdparams (told apart by " +
      "content), or a checkpoint folder",
  },
  {
    name: "checkpoint",
    type: "string",
    existingPath: true,
    help: "Checkpoint folder written by train (alternative to --weights)",
  },
  {
    name: "input",
    type: "string",
    required: true,
    existingPath: true,
    help: "Input .npy (N,H,W,C)",
  },
  { name: "output", type: "string", required: true, help: "Output .npy for logits or heatmaps" },
  {
    name: "model",
    type: "string",
    choices: MODEL_NAMES,
    help: "Expected network; checked against the weights (the weights define it)",
  },
  { name: "batch-size", type: "integer", min: 1, default: 64, help: "Images per forward pass" },
  BACKEND_FLAG,
];

/** Runs the subcommand; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const v = parseFlags("predict", "Run a trained network on a .npy batch.", FLAGS, args);
  if (!v) return 0;
  if ((v.weights === undefined) === (v.checkpoint === undefined)) {
    throw new UsageError("give exactly one of --weights FILE or --checkpoint DIR");
  }
  const f = new Flags(v);
  // A checkpoint folder is verified against its manifest; a file's format is told by content.
  const { tensors, arch, source: weightsPath } = await readNetworkWeights(
    f.optionalString("weights") ?? f.string("checkpoint"),
  );
  if (v.model && `resnet${arch.depth}` !== v.model) {
    throw new UsageError(
      `--model ${v.model} does not match ${weightsPath}: it holds a resnet${arch.depth}`,
    );
  }
  const input = await readNpy(f.string("input"));
  if (input.shape.length !== 4 || input.shape[3] !== arch.inChannels) {
    throw new UsageError(
      `${v.input}: expected an NHWC batch with ${arch.inChannels} channels, got shape (${input.shape})`,
    );
  }
  await startBackend(v);
  const net = resnetFCN(arch);
  loadNetworkTensors(net, tensors, { source: weightsPath });
  const [n, h, w, c] = input.shape;
  const batch = f.number("batch-size");
  const chunks: Float32Array[] = [];
  let outShape: number[] = [];
  for (let start = 0; start < n; start += batch) {
    const size = Math.min(batch, n - start);
    const part = input.data.subarray(start * h * w * c, (start + size) * h * w * c);
    const y = tf.tidy(() =>
      net.apply(tf.tensor4d(Float32Array.from(part), [size, h, w, c]), false)
    );
    outShape = y.shape.slice(1);
    chunks.push((await y.data()) as Float32Array);
    y.dispose();
  }
  net.dispose();
  const data = new Float32Array(chunks.reduce((s, ch) => s + ch.length, 0));
  let offset = 0;
  for (const ch of chunks) {
    data.set(ch, offset);
    offset += ch.length;
  }
  await writeNpy(f.string("output"), { dtype: "float32", shape: [n, ...outShape], data });
  console.error(`wrote ${v.output}: float32 (${[n, ...outShape].join(", ")})`);
  return 0;
}
