import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const FIXTURE = fileURLToPath(new URL("./soak_fixture.ts", import.meta.url));
/**
 * Resident memory after warm-up (steps 100–200, after a full GC) may rise once, by up to
 * `RSS_STEP`: V8 and the allocator reserve memory late when the machine is busy (seen: 32 MiB
 * between steps 100 and 120 under load, then flat to 0.2 MiB). From step 140 on it must stay
 * within `RSS_FLAT`: a leak of ~100 kB per step would exceed it. The exact check is the tensor
 * count.
 */
const RSS_STEP = 48 << 20;
const RSS_FLAT = 4 << 20;

interface Sample {
  step: number;
  tensors: number;
  rss: number;
}

Deno.test("soak: 200 steps with every plugin on keep tf.memory() and resident memory flat", async () => {
  // A process of its own: resident memory is per process, and `deno test` shares one.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--v8-flags=--expose-gc", FIXTURE],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const report = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  assert.equal(report.steps, 200);
  assert.equal(report.stopReason, null);
  assert.equal(report.logLines, 200 * 4 + 20 * 3, "every step and evaluation logged");
  assert.ok(report.progressChars > 0);

  const samples: Sample[] = report.samples;
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(
    "soak samples (after a full GC):\n" +
      samples.map((s) => `  step ${s.step}: ${s.tensors} tensors, rss ${mib(s.rss)} MiB`)
        .join("\n"),
  );
  const tensors = samples.map((s) => s.tensors);
  assert.equal(samples.length, 6);
  assert.deepEqual(tensors, tensors.map(() => tensors[0]), "live tensors changed after warm-up");
  const rss = samples.map((s) => s.rss);
  const growth = Math.max(...rss) - rss[0];
  const late = rss.slice(2);
  const lateGrowth = Math.max(...late) - late[0];
  console.log(
    `soak: ${tensors[0]} live tensors at every sample; rss growth steps 100–200: ` +
      `${mib(growth)} MiB (bound ${mib(RSS_STEP)}), steps 140–200: ${mib(lateGrowth)} MiB ` +
      `(bound ${mib(RSS_FLAT)})`,
  );
  assert.ok(growth <= RSS_STEP, `resident memory grew ${mib(growth)} MiB after warm-up`);
  assert.ok(lateGrowth <= RSS_FLAT, `resident memory grew ${mib(lateGrowth)} MiB from step 140`);
  assert.equal(report.tensorsAfterDispose, report.tensorsBefore, "the model frees everything");
});
