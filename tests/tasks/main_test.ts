import assert from "node:assert/strict";
import { denortProblem } from "../../tasks/compile.ts";
import { runCli, show } from "./helpers.ts";

const COMMANDS = ["train", "demo", "evaluate", "predict", "export", "bench", "doctor", "summary"];

Deno.test("the entry module runs every subcommand's --help from another folder", async () => {
  const cwd = await Deno.makeTempDir();
  const results = await Promise.all(COMMANDS.map((c) => runCli([c, "--help"], cwd)));
  results.forEach((r, i) => {
    assert.equal(r.code, 0, `${COMMANDS[i]}: ${show(r)}`);
    assert.match(r.stdout, new RegExp(`^Usage: trainer ${COMMANDS[i]} \\[flags\\]`), COMMANDS[i]);
  });
  const usage = await runCli(["--help"], cwd);
  assert.equal(usage.code, 0, show(usage));
  for (const c of COMMANDS) assert.match(usage.stdout, new RegExp(`^  ${c} `, "m"), c);
});

Deno.test("the entry module runs summary and doctor from another folder", async () => {
  const cwd = await Deno.makeTempDir();
  const s = await runCli(
    ["summary", "--model", "resnet18", "--width", "2", "--blocks", "1,1,1,1"],
    cwd,
  );
  assert.equal(s.code, 0, show(s));
  assert.match(s.stdout, /final_conv2/);
  const d = await runCli(["doctor", "--backend", "cpu"], cwd);
  assert.equal(d.code, 0, show(d));
  assert.match(d.stdout, /Checks on cpu against the JavaScript CPU backend/);
});

const problem = await denortProblem();
if (problem !== null) console.log(`packaging test skipped: ${problem}`);

Deno.test({
  name: "deno task compile packages every subcommand into dist/trainer",
  ignore: problem !== null,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile"],
      cwd: new URL("../../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const binary = new URL("../../dist/trainer", import.meta.url).pathname;
    const cwd = await Deno.makeTempDir();
    for (const c of COMMANDS) {
      const r = await new Deno.Command(binary, { args: [c, "--help"], cwd, stdout: "piped" })
        .output();
      assert.equal(r.code, 0, c);
      assert.match(new TextDecoder().decode(r.stdout), new RegExp(`^Usage: trainer ${c} `));
    }
  },
});
