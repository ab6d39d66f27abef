import assert from "node:assert/strict";
import { MAIN, runCli, show } from "./helpers.ts";

Deno.test("board and --log-format refuse bad input with one line and exit 2, before any work", async () => {
  const cwd = await Deno.makeTempDir();
  const missing = await runCli(["board", "--log-dir", "nope"], cwd);
  assert.equal(missing.code, 2, show(missing));
  assert.equal(
    missing.stderr.trim(),
    "error: --log-dir nope: no such folder (train first, or name the folder)",
  );
  const port = await runCli(["board", "--log-dir", ".", "--port", "70000"], cwd);
  assert.equal(port.code, 2, show(port));
  assert.match(port.stderr, /--port must be at most 65535/);
  const format = await runCli(
    ["train", "--dataset", "synthetic", "--log-format", "jsonl,wandb"],
    cwd,
  );
  assert.equal(format.code, 2, show(format));
  assert.equal(
    format.stderr.trim(),
    "error: --log-format: unknown format wandb (choose from jsonl, tensorboard, visualdl)",
  );
  assert.deepEqual([...Deno.readDirSync(cwd)], []);
});

Deno.test("board says where it listens and that it is bound to 127.0.0.1 only", async () => {
  const cwd = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "board",
      "--port",
      "0",
      "--log-dir",
      ".",
    ],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("Ctrl-C")) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
  }
  const port = Number(text.match(/http:\/\/127\.0\.0\.1:(\d+)\//)?.[1]);
  assert.ok(port > 0, text);
  assert.match(text, /bound to 127\.0\.0\.1: only this machine can open it/);
  const res = await fetch(`http://127.0.0.1:${port}/api/runs`);
  assert.deepEqual(await res.json(), []);
  child.kill("SIGINT");
  assert.equal((await child.status).code, 0);
  await reader.cancel();
  await child.stderr.cancel();
});
