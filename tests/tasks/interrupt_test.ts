import assert from "node:assert/strict";
import { MAIN, runCli, show } from "./helpers.ts";

const TINY = [
  "train",
  ...["--dataset", "synthetic", "--model", "resnet18", "--width", "2", "--blocks", "1,1,1,1"],
  ...["--epochs", "8", "--batch-size", "16", "--limit-train", "160", "--limit-eval", "16"],
  ...["--backend", "cpu", "--save-dir", "out", "--log-dir", "logs"],
];

Deno.test("Ctrl-C in train saves the last step, exits 130, and its resume line continues the run", async () => {
  const dir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...TINY],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!/step [3-9]\b/.test(stdout)) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  child.kill("SIGINT");
  for (let r = await reader.read(); !r.done; r = await reader.read()) stdout += r.value;
  const { code } = await child.status;
  const err = await stderr;
  const result = { code, stdout, stderr: err };
  assert.equal(code, 130, show(result));
  const line = `${stdout}\n${err}`.split("\n").find((l) => l.startsWith("interrupted by SIGINT"));
  assert.ok(line, show(result));
  // Mid-epoch the position goes into `interrupted`; at an epoch's end, that epoch's own checkpoint.
  assert.match(line, /checkpoint saved: out\/(interrupted|\d+); resume with: deno task train /);
  const resume = line.split("resume with: deno task ")[1].split(" ");
  assert.deepEqual(resume.slice(-2), ["--resume", "latest"]);
  assert.ok(resume.join(" ").includes("--save-dir out"));
  const stoppedAt = Number(/after step (\d+)/.exec(line)![1]);

  const resumed = await runCli(resume, dir);
  assert.equal(resumed.code, 0, show(resumed));
  assert.match(resumed.stdout, /resume:\s+out\/(interrupted|\d+)/);
  const logs = [...Deno.readDirSync(`${dir}/logs`)].filter((e) => e.name.endsWith(".jsonl"));
  assert.equal(logs.length, 1, "the resumed run appends to the same log");
  const steps = Deno.readTextFileSync(`${dir}/logs/${logs[0].name}`).trim().split("\n")
    .map((l) => JSON.parse(l)).filter((r) => r.tag === "train/loss").map((r) => r.step);
  assert.deepEqual(steps, Array.from({ length: 8 * 10 }, (_, i) => i + 1), "every step once");
  assert.ok(stoppedAt >= 3 && stoppedAt < 80);
  await Deno.remove(dir, { recursive: true });
});
