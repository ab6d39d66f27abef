import assert from "node:assert/strict";
import { roundSizes, takeTurns, type TurnChild } from "../../tasks/bench_interleave.ts";

/** A child speaking the protocol that logs each round it runs; `failAt` makes it die there. */
function fakeChild(name: string, log: string, failAt = -1): TurnChild {
  const code = `
    const enc = new TextEncoder();
    const out = (o) => Deno.stdout.writeSync(enc.encode(JSON.stringify(o) + "\\n"));
    console.log("not a protocol line");
    out({ ready: true });
    let round = 0, buf = "";
    for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\\n")) >= 0) {
        const cmd = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (cmd.finish) { Deno.writeTextFileSync(${
    JSON.stringify(log)
  }, "${name} finish\\n", { append: true }); out({ result: "${name}" }); Deno.exit(0); }
        if (round++ === ${failAt}) { console.error("error: ${name} broke"); Deno.exit(3); }
        Deno.writeTextFileSync(${
    JSON.stringify(log)
  }, "${name} " + cmd.train + "\\n", { append: true });
        out({ seconds: cmd.train / 1000 });
      }
    }`;
  return { name, command: Deno.execPath(), args: ["eval", code] };
}

Deno.test("round sizes add up to the steps, none above the round", () => {
  assert.deepEqual(roundSizes(25, 10), [10, 10, 5]);
  assert.deepEqual(roundSizes(4, 1), [1, 1, 1, 1]);
  assert.deepEqual(roundSizes(60, 10), [10, 10, 10, 10, 10, 10]);
});

Deno.test("children take turns round by round, finish one at a time, and a failure is named", async () => {
  const log = await Deno.makeTempFile();
  const outcomes = await takeTurns(
    [
      fakeChild("a", log),
      fakeChild("b", log, 1),
      {
        name: "d",
        command: Deno.execPath(),
        args: ["eval", 'console.error("error: d cannot start"); Deno.exit(2)'],
      },
      fakeChild("c", log),
    ],
    roundSizes(5, 2),
  );
  assert.deepEqual(outcomes, [
    { result: { result: "a" } },
    { error: "b broke" },
    { error: "d cannot start" },
    { result: { result: "c" } },
  ]);
  const lines = (await Deno.readTextFile(log)).trim().split("\n");
  assert.deepEqual(lines, [
    "a 2",
    "b 2",
    "c 2",
    "a 2",
    "c 2",
    "a 1",
    "c 1",
    "a finish",
    "c finish",
  ]);
});
