/**
 * `trainer summary`: the Keras-like layer table and parameter totals of a network.
 *
 * @module
 */
import { selectBackend } from "../src/backend/select.ts";
import { formatSummary } from "../src/nn/summary.ts";
import { buildNetwork, MODEL_FLAGS, modelConfig } from "./common.ts";
import { type FlagSpec, parseFlags } from "./flags.ts";

const FLAGS: FlagSpec[] = [
  ...MODEL_FLAGS,
  { name: "input", type: "integer", min: 17, default: 32, help: "Input side in pixels" },
  { name: "channels", type: "integer", min: 1, default: 3, help: "Input channels" },
];

/** Runs the subcommand; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const v = parseFlags(
    "summary",
    "Print every layer with output shape and parameters.",
    FLAGS,
    args,
  );
  if (!v) return 0;
  // Counting needs no fast kernels; the CPU backend avoids uploading weights to a GPU.
  await selectBackend("cpu");
  const net = buildNetwork(modelConfig(v, Number(v.channels)));
  console.log(formatSummary(net, Number(v.input)));
  net.dispose();
  return 0;
}
