/**
 * `--precision`: f32 runs anywhere; bf16 only on native; f16 is refused with one line off webgpu and on adapters
 * without `shader-f16` (llvmpipe has none), and, while its kernels are not built, everywhere —
 * on the command line with exit code 2 before any work.
 */
import assert from "node:assert/strict";
import { precisionProblem } from "../../src/backend/precision.ts";
import type { AdapterReport } from "../../src/backend/webgpu.ts";
import { findAdapter } from "../../src/backend/webgpu.ts";
import { runCli, show } from "../tasks/helpers.ts";

function adapter(features: string[]): AdapterReport {
  return {
    vendor: "v",
    architecture: "",
    device: "",
    description: "Test GPU",
    software: false,
    limits: {},
    features,
  };
}

Deno.test("f32 is always possible", () => {
  assert.equal(precisionProblem("f32", { backend: "cpu" }), null);
  assert.equal(precisionProblem("f32", { backend: "webgpu", adapter: adapter([]) }), null);
});

Deno.test("bf16 is refused off native (the CPU is checked when native sets it)", () => {
  assert.equal(precisionProblem("bf16", { backend: "native" }), null);
  for (const backend of ["cpu", "webgpu"] as const) {
    assert.match(
      precisionProblem("bf16", { backend, adapter: adapter([]) })!,
      new RegExp(`--precision bf16 runs only on --backend native \\(this run is on ${backend}\\)`),
    );
  }
});

Deno.test("f16 is refused off webgpu, without shader-f16, and while its kernels are missing", () => {
  assert.match(precisionProblem("f16", { backend: "native" })!, /runs only on --backend webgpu/);
  assert.match(
    precisionProblem("f16", { backend: "webgpu", adapter: adapter(["timestamp-query"]) })!,
    /needs a WebGPU adapter with the shader-f16 feature; "Test GPU" has none/,
  );
  assert.match(
    precisionProblem("f16", { backend: "webgpu", adapter: adapter(["shader-f16"]) })!,
    /f16 training kernels are not built yet/,
  );
});

const gpu = await findAdapter();
const hasF16 = gpu?.features.has("shader-f16") ?? false;
Deno.test({
  name: "train --precision f16 on an adapter without shader-f16 stops with one line, exit 2",
  ignore: gpu === null || hasF16,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const r = await runCli(["train", "--backend", "webgpu", "--precision", "f16"], dir);
    assert.equal(r.code, 2, show(r));
    const errors = r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
    assert.equal(errors.length, 1, show(r));
    assert.match(errors[0], /shader-f16/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no output written");
    await Deno.remove(dir, { recursive: true });
  },
});
if (gpu === null) console.log("precision CLI test skipped: no WebGPU adapter");
if (hasF16) console.log("precision CLI test skipped: this adapter has shader-f16");

Deno.test("train --precision bf16 on the cpu backend stops with one line, exit 2", async () => {
  const dir = await Deno.makeTempDir();
  const r = await runCli(["train", "--backend", "cpu", "--precision", "bf16"], dir);
  assert.equal(r.code, 2, show(r));
  const errors = r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, show(r));
  assert.match(errors[0], /--precision bf16 runs only on --backend native/);
  assert.deepEqual([...Deno.readDirSync(dir)], [], "no output written");
  await Deno.remove(dir, { recursive: true });
});
