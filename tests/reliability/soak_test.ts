import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const FIXTURE = fileURLToPath(new URL("./soak_fixture.ts", import.meta.url));
/**
 * Resident memory after warm-up (steps 100–200, after a full GC) may rise once, by up to
 * `RSS_STEP`: V8 and the allocator reserve memory late (seen: 32 MiB between steps 100 and 120
 * under load; V8's reserved heap 47 → 79 MiB between steps 140 and 160 while its used heap stayed
 * at 12 MiB). So a leak is looked for where it would live, apart from V8's reservations: the
 * memory outside V8's heap (resident minus V8's reserved heap: native buffers, array buffers) must
 * stay within `NATIVE_FLAT` from step 140 on, and V8's used heap after the collection (live
 * JavaScript objects) within `HEAP_FLAT` over all samples. A native leak of ~100 kB per step, or
 * of ~20 kB of objects per step, would exceed them. The exact check is the tensor count.
 */
const RSS_STEP = 48 << 20;
const NATIVE_FLAT = 3 << 20;
const HEAP_FLAT = 2 << 20;

interface Sample {
  step: number;
  tensors: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
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
      samples.map((s) =>
        `  step ${s.step}: ${s.tensors} tensors, rss ${mib(s.rss)} MiB, V8 heap ` +
        `${mib(s.heapUsed)} of ${mib(s.heapTotal)} MiB`
      )
        .join("\n"),
  );
  const tensors = samples.map((s) => s.tensors);
  assert.equal(samples.length, 6);
  assert.deepEqual(tensors, tensors.map(() => tensors[0]), "live tensors changed after warm-up");
  const growth = (values: number[]) => Math.max(...values) - values[0];
  const rssGrowth = growth(samples.map((s) => s.rss));
  const nativeGrowth = growth(samples.slice(2).map((s) => s.rss - s.heapTotal));
  const heapGrowth = Math.max(...samples.map((s) => s.heapUsed)) -
    Math.min(...samples.map((s) => s.heapUsed));
  console.log(
    `soak: ${tensors[0]} live tensors at every sample; steps 100–200: rss growth ` +
      `${mib(rssGrowth)} MiB (bound ${mib(RSS_STEP)}), V8's used heap ${mib(heapGrowth)} MiB ` +
      `(bound ${mib(HEAP_FLAT)}); steps 140–200: outside V8's heap ${mib(nativeGrowth)} MiB ` +
      `(bound ${mib(NATIVE_FLAT)})`,
  );
  assert.ok(rssGrowth <= RSS_STEP, `resident memory grew ${mib(rssGrowth)} MiB after warm-up`);
  assert.ok(heapGrowth <= HEAP_FLAT, `V8's used heap grew ${mib(heapGrowth)} MiB after warm-up`);
  assert.ok(
    nativeGrowth <= NATIVE_FLAT,
    `memory outside V8's heap grew ${mib(nativeGrowth)} MiB from step 140`,
  );
  assert.equal(report.tensorsAfterDispose, report.tensorsBefore, "the model frees everything");
});
