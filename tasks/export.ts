/**
 * `trainer export`: writes a checkpoint's weights (BatchNorm moving statistics included) as one
 * `.safetensors` file under the recipe's PyTorch names, or as a `.pdparams` pickle under Paddle's
 * (`_mean`, `_variance`) that `Layer.set_dict` loads; conv kernels OIHW. The checkpoint is
 * verified against its manifest first. `--weights` converts a weights file in any readable format.
 *
 * @module
 */
import { dirname } from "node:path";
import { writePdparams } from "../src/io/pdparams.ts";
import { writeSafetensors } from "../src/io/safetensors.ts";
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
    name: "output",
    type: "string",
    required: true,
    help: "File to write: .safetensors (PyTorch names) or .pdparams (Paddle's, for set_dict)",
  },
];

/** Runs the subcommand; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const v = parseFlags(
    "export",
    "Export a checkpoint's (or a weights file's) weights as .safetensors or .pdparams.",
    FLAGS,
    args,
  );
  if (!v) return 0;
  const f = new Flags(v);
  const output = f.string("output");
  if (!output.endsWith(".safetensors") && !output.endsWith(".pdparams")) {
    throw new UsageError(`--output must name a .safetensors or .pdparams file, got "${output}"`);
  }
  const weights = f.optionalString("weights");
  if ((weights === undefined) === (f.optionalString("checkpoint") === undefined)) {
    throw new UsageError("give exactly one of --checkpoint DIR or --weights FILE");
  }
  try {
    if (!(await Deno.stat(dirname(output))).isDirectory) throw new Error();
  } catch {
    throw new UsageError(`--output ${output}: folder ${dirname(output)} does not exist`);
  }
  const dir = weights ?? await resolveCheckpoint(f.string("checkpoint"));
  const { tensors, arch, network } = await readNetworkWeights(dir);
  const runFile = weights !== undefined ? null : await runFileOf(dir);
  const metadata: Record<string, string> = {
    format: "pt",
    network: network ?? `ResNet${arch.depth}-FCN`,
    architecture: JSON.stringify(arch),
    source: dir,
  };
  if (runFile) metadata.classes = JSON.stringify(runFile.classNames);
  if (output.endsWith(".pdparams")) await writePdparams(output, tensors);
  else await writeSafetensors(output, tensors, metadata);
  const count = [...tensors.values()].reduce((s, t) => s + t.data.length, 0);
  console.log(
    `wrote ${output}: ${tensors.size} tensors, ${count.toLocaleString("en-US")} values ` +
      `(${metadata.network}, from ${dir})`,
  );
  return 0;
}
