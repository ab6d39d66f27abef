/**
 * `trainer export`: writes a checkpoint's weights (BatchNorm moving statistics included) as one
 * `.safetensors` file under the recipe's PyTorch names, conv kernels OIHW — what PyTorch, Paddle
 * and `trainer predict --weights` read. The checkpoint is verified against its manifest first.
 *
 * @module
 */
import { dirname } from "node:path";
import { writeSafetensors } from "../src/io/safetensors.ts";
import { Flags, type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import { CHECKPOINT_FLAG, readNetworkWeights, resolveCheckpoint, runFileOf } from "./run_file.ts";

const FLAGS: FlagSpec[] = [
  CHECKPOINT_FLAG,
  { name: "output", type: "string", required: true, help: "File to write, ending in .safetensors" },
];

/** Runs the subcommand; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const v = parseFlags("export", "Export a checkpoint's weights as .safetensors.", FLAGS, args);
  if (!v) return 0;
  const f = new Flags(v);
  const output = f.string("output");
  if (!output.endsWith(".safetensors")) {
    throw new UsageError(`--output must name a .safetensors file, got "${output}"`);
  }
  try {
    if (!(await Deno.stat(dirname(output))).isDirectory) throw new Error();
  } catch {
    throw new UsageError(`--output ${output}: folder ${dirname(output)} does not exist`);
  }
  const dir = await resolveCheckpoint(f.string("checkpoint"));
  const { tensors, arch, network } = await readNetworkWeights(dir);
  const runFile = await runFileOf(dir);
  const metadata: Record<string, string> = {
    format: "pt",
    network: network ?? `ResNet${arch.depth}-FCN`,
    architecture: JSON.stringify(arch),
    source: dir,
  };
  if (runFile) metadata.classes = JSON.stringify(runFile.classNames);
  await writeSafetensors(output, tensors, metadata);
  const count = [...tensors.values()].reduce((s, t) => s + t.data.length, 0);
  console.log(
    `wrote ${output}: ${tensors.size} tensors, ${count.toLocaleString("en-US")} values ` +
      `(${metadata.network}, from ${dir})`,
  );
  return 0;
}
