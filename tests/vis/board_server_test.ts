import assert from "node:assert/strict";
import { serveBoard } from "../../src/vis/board_server.ts";

const LINE = '{"tag":"train/loss","step":1,"value":2,"wall_time":1}\n';

/** A log folder with one run (log + run folder with run.json), a secret beside it, a symlink out. */
async function fixture() {
  const base = await Deno.makeTempDir();
  const logDir = `${base}/vis_logs`;
  await Deno.mkdir(`${logDir}/runA.logs`, { recursive: true });
  await Deno.writeTextFile(`${logDir}/runA.jsonl`, LINE);
  await Deno.writeTextFile(
    `${logDir}/runA.logs/run.json`,
    JSON.stringify({ settings: { lr: 0.1 } }),
  );
  await Deno.writeTextFile(`${base}/secret.txt`, "SECRET");
  await Deno.symlink(`${base}/secret.txt`, `${logDir}/link.txt`);
  await Deno.symlink(base, `${logDir}/up`);
  return { base, logDir };
}

/** Sends one request line exactly as given (no client-side normalisation of `..`). */
async function rawGet(port: number, target: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
  );
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  conn.close();
  const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  return { status: Number(text.split(" ")[1]), body: text.split("\r\n\r\n").slice(1).join("") };
}

Deno.test("the board serves runs, logs from an offset and uPlot, binding 127.0.0.1 by default", async () => {
  const { logDir } = await fixture();
  const stop = new AbortController();
  let addr: Deno.NetAddr | null = null;
  const server = serveBoard({ logDir, port: 0, signal: stop.signal, onListen: (a) => addr = a });
  try {
    assert.equal(addr!.hostname, "127.0.0.1");
    const url = `http://127.0.0.1:${addr!.port}`;
    const runs = await (await fetch(`${url}/api/runs`)).json();
    assert.deepEqual(runs, [{
      name: "runA",
      log: "runA.jsonl",
      size: LINE.length,
      settings: { settings: { lr: 0.1 } },
    }]);
    const tail = await fetch(`${url}/logs/runA.jsonl?from=10`);
    assert.equal(tail.headers.get("x-file-size"), String(LINE.length));
    assert.equal(
      await tail.text(),
      '{"tag":"train/loss","step":1,"value":2,"wall_time":1}\n'.slice(10),
    );
    const js = await (await fetch(`${url}/uplot.js`)).text();
    assert.match(js, /uPlot/);
    assert.ok(js.length > 30000);
    const page = await (await fetch(`${url}/`)).text();
    assert.match(page, /<script src="\/uplot\.js">/);
    assert.doesNotMatch(page, /https?:\/\//); // nothing from outside: works offline
  } finally {
    stop.abort();
    await server.finished;
  }
});

Deno.test("a request for ../, an absolute path or a link out of the log folder gets 404", async () => {
  const { base, logDir } = await fixture();
  const stop = new AbortController();
  let port = 0;
  const server = serveBoard({
    logDir,
    port: 0,
    signal: stop.signal,
    onListen: (a) => port = a.port,
  });
  try {
    const ok = await rawGet(port, "/logs/runA.jsonl");
    assert.equal(ok.status, 200);
    for (
      const target of [
        "/logs/../secret.txt",
        "/logs/runA.logs/../../secret.txt",
        "/logs/%2e%2e/secret.txt",
        "/logs/..%2fsecret.txt",
        "/logs/%2E%2E%2Fsecret.txt",
        `/logs/${base}/secret.txt`,
        `/logs/%2F${base.slice(1)}/secret.txt`,
        "/logs//etc/passwd",
        "/logs/%2Fetc%2Fpasswd",
        "/logs/link.txt",
        "/logs/up/secret.txt",
        "/logs/..\\secret.txt",
        "/logs/runA.logs/.%2E/.%2E/secret.txt",
        "/logs/%ZZ",
        "/logs/runA.logs", // a folder, not a file
        "/../secret.txt",
      ]
    ) {
      const r = await rawGet(port, target);
      assert.equal(r.status, 404, `${target}: ${r.status}`);
      assert.doesNotMatch(r.body, /SECRET|root:/, target);
    }
  } finally {
    stop.abort();
    await server.finished;
  }
});
