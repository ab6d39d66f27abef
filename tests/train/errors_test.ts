import assert from "node:assert/strict";
import { CheckpointError } from "../../src/io/checkpoint.ts";
import { classifyError, describeFailure, ExitCode } from "../../src/train/errors.ts";
import { Model } from "../../src/train/model.ts";
import { tinyNet, useCpu } from "./helpers.ts";

await useCpu();

Deno.test("failures are classified by the messages tfjs, WebGPU and the OS give", () => {
  const cases: [unknown, string][] = [
    [new RangeError("Array buffer allocation failed"), "out_of_memory"],
    [new RangeError("Invalid typed array length: 4294967296"), "out_of_memory"],
    [new Error("GPUOutOfMemoryError: Not enough memory left"), "out_of_memory"],
    [new Error("Failed to allocate a buffer"), "out_of_memory"],
    [new Error("OperationError: Device is lost"), "device_lost"],
    [new Error("wgpu: VK_ERROR_DEVICE_LOST"), "device_lost"],
    [new Error("write failed", { cause: new Error("GPU device was lost") }), "device_lost"],
    [new Error("No space left on device (os error 28): writefile 'x'"), "disk_full"],
    [new CheckpointError("out/3", "write failed: Disk quota exceeded (os error 122)"), "disk_full"],
    [new Error("Read-only file system (os error 30): mkdir 'out'"), "unwritable"],
    [
      new CheckpointError("out", "folder is not writable: Permission denied (os error 13)"),
      "unwritable",
    ],
    [new CheckpointError("out/3", "file model.safetensors is damaged"), "checkpoint"],
    [new TypeError("x is undefined"), "other"],
    ["a thrown string", "other"],
  ];
  for (const [err, kind] of cases) assert.equal(classifyError(err), kind, String(err));
});

Deno.test("the exit code follows the kind of failure", () => {
  const code = (e: unknown) => describeFailure(e).exitCode;
  assert.equal(code(new RangeError("Array buffer allocation failed")), ExitCode.resources);
  assert.equal(code(new Error("Device is lost")), ExitCode.resources);
  assert.equal(code(new Error("No space left on device")), ExitCode.storage);
  assert.equal(code(new CheckpointError("d", "file a is damaged")), ExitCode.storage);
  assert.equal(code(new Error("boom")), ExitCode.error);
  assert.deepEqual(
    [ExitCode.nonFinite, ExitCode.interrupted, ExitCode.terminated],
    [3, 130, 143],
  );
});

Deno.test("the message names where training stood and the last complete checkpoint", async () => {
  const model = new Model(tinyNet());
  const err = new RangeError("Array buffer allocation failed");
  assert.equal(
    describeFailure(err, { model, resumeCommand: "again" }).message,
    "out of memory: RangeError: Array buffer allocation failed; 0 steps done (next: epoch 0, " +
      "batch 0); no checkpoint was saved in this run (try a smaller --batch-size)",
  );
  const dir = await Deno.makeTempDir();
  model.globalStep = 7;
  await model.save(`${dir}/1`);
  assert.equal(
    describeFailure(err, { model, resumeCommand: "again" }).message,
    "out of memory: RangeError: Array buffer allocation failed; 7 steps done (next: epoch 0, " +
      `batch 0); last complete checkpoint: ${dir}/1 (step 7); resume with: again ` +
      "(try a smaller --batch-size)",
  );
  model.dispose();
});
