/**
 * The trainer's one entry point: `trainer <command> [flags]`. `deno task <command>` and the
 * compiled binary both come through here.
 *
 * @module
 */
import * as bench from "./bench.ts";
import * as board from "./board.ts";
import * as demo from "./demo.ts";
import * as doctor from "./doctor.ts";
import * as evaluate from "./evaluate.ts";
import * as exporter from "./export.ts";
import * as predict from "./predict.ts";
import * as summary from "./summary.ts";
import * as train from "./train.ts";
import { UsageError } from "./flags.ts";
import { endDistributed } from "./distributed.ts";
import { describeFailure } from "../src/train/errors.ts";

interface Command {
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, [Command, string]> = {
  train: [train, "Train a ResNet-FCN (defaults: the recipe, ResNet50-FCN on CIFAR-10)"],
  demo: [demo, "Train a small ResNet-FCN on the embedded digits, offline, in minutes"],
  evaluate: [
    evaluate,
    "Loss, top-1/top-5 and per-class accuracy of a checkpoint on the test split",
  ],
  predict: [predict, "Run a trained network on a .npy batch and write logits or heatmaps"],
  export: [exporter, "Write a checkpoint's weights as .safetensors (PyTorch names) or .pdparams"],
  bench: [bench, "Training and evaluation images per second; --compare runs several backends"],
  doctor: [doctor, "Show versions, WebGPU adapters, the chosen backend and kernel checks"],
  summary: [summary, "Print a network's layers and parameter counts"],
  board: [board, "Serve live training curves of the runs in a log folder (127.0.0.1:6006)"],
};

function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return [
    "Usage: trainer <command> [flags]   (trainer <command> --help for its flags)",
    "",
    "Commands:",
    ...Object.entries(COMMANDS).map(([name, [, help]]) => `  ${name.padEnd(w)}${help}`),
  ].join("\n");
}

/** Runs one command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === "__adapter") return await doctor.probeAdapter();
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`error: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command[0].run(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    // Storage, memory and device failures get their exit code and advice; anything else is
    // reported as it was raised.
    const failure = describeFailure(e);
    const plain = e instanceof Error ? e.message : String(e);
    console.error(`error: ${failure.kind === "other" ? plain : failure.message}`);
    if (Deno.env.get("TRAINER_DEBUG")) console.error(e);
    return failure.exitCode;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  endDistributed(code);
  Deno.exit(code);
}
