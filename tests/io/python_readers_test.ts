/**
 * Our event files and VisualDL logs read by third-party code: Python's protobuf library with the
 * formats' schemas, TensorBoard's `EventAccumulator`, VisualDL's `LogReader`. Each is skipped,
 * with the reason printed, where its Python package is not installed.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ScalarLog, type ScalarRecord } from "../../plugins/scalar_log.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { quadrantDataset, tinyNet, useCpu } from "../train/helpers.ts";
import { onlyFile } from "./log_decoders.ts";

const SCRIPT = fileURLToPath(new URL("./read_logs.py", import.meta.url));

/** The first Python that imports `module`: Debian's, then whichever `python3` is on PATH. */
async function pythonWith(module: string): Promise<string | null> {
  for (const py of ["/usr/bin/python3", "python3"]) {
    try {
      const r = await new Deno.Command(py, { args: ["-c", `import ${module}`], stderr: "null" })
        .output();
      if (r.success) return py;
    } catch {
      // Not installed under that name: try the next.
    }
  }
  return null;
}

const readers = {
  protobuf: ["google.protobuf", "python3-protobuf"],
  tensorboard: ["tensorboard", "no Debian package in this release; pip install tensorboard"],
  visualdl: ["visualdl", "no Debian package; pip install visualdl"],
} as const;
const found: Record<string, string | null> = {};
for (const [name, [module, how]] of Object.entries(readers)) {
  found[name] = await pythonWith(module);
  if (found[name] === null) {
    console.log(`${name} reader test skipped: no python3 with ${module} (${how})`);
  }
}

/** A short training run's logs, written once for every reader. */
let run: Promise<{ runDir: string; expected: Record<string, [number, number][]> }> | null = null;
function trainedRun() {
  run ??= (async () => {
    await useCpu();
    const dir = await Deno.makeTempDir();
    const model = new Model(tinyNet({ seed: 3 }));
    model.prepare({ optimizer: new MomentumSGD({ lr: 0.05 }) });
    const log = new ScalarLog({ file: `${dir}/run.jsonl` });
    await model.fit(quadrantDataset(5), quadrantDataset(4, 1), {
      epochs: 2,
      batchSize: 3,
      verbose: 0,
      callbacks: [log],
    });
    model.dispose();
    const expected: Record<string, [number, number][]> = {};
    for (const line of (await Deno.readTextFile(log.path!)).trimEnd().split("\n")) {
      const r: ScalarRecord = JSON.parse(line);
      (expected[r.tag] ??= []).push([r.step, Math.fround(r.value)]);
    }
    return { runDir: log.runDir!, expected };
  })();
  return run;
}

async function read(py: string, args: string[]) {
  const r = await new Deno.Command(py, { args: [SCRIPT, ...args] }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert.ok(r.success, `read_logs.py ${args[0]} failed:\n${err}`);
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

Deno.test({
  name: "Python's protobuf library parses our event file and VisualDL log to the JSONL's values",
  ignore: found.protobuf === null,
  fn: async () => {
    const { runDir, expected } = await trainedRun();
    const out = await read(found.protobuf!, [
      "protobuf",
      await onlyFile(runDir, "events.out."),
      await onlyFile(runDir, "vdlrecords."),
    ]);
    assert.deepEqual(out.tensorboard, expected);
    assert.deepEqual(out.visualdl, expected);
  },
});

Deno.test({
  name: "TensorBoard's EventAccumulator lists the JSONL's tags, steps and values",
  ignore: found.tensorboard === null,
  fn: async () => {
    const { runDir, expected } = await trainedRun();
    assert.deepEqual(
      (await read(found.tensorboard!, ["tensorboard", runDir])).tensorboard,
      expected,
    );
  },
});

Deno.test({
  name: "VisualDL's LogReader lists the JSONL's tags, steps and values",
  ignore: found.visualdl === null,
  fn: async () => {
    const { runDir, expected } = await trainedRun();
    const out = await read(found.visualdl!, ["visualdl", await onlyFile(runDir, "vdlrecords.")]);
    assert.deepEqual(out.visualdl, expected);
  },
});
