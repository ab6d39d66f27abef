import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { FormatError } from "../../src/io/errors.ts";
import { PRETRAINED, PretrainedNotFoundError, pretrainedWeights } from "../../src/io/pretrained.ts";

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
/** A made "weights file": 300 kB of varied bytes. */
const FILE = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 2654435761) >>> 24);

/**
 * Serves FILE at /resnet18.pdparams with Range support. With `cutAfter`, the first answer sends
 * that many bytes and then ends the connection short of its Content-Length.
 */
function serve(body: Uint8Array, cutAfter?: number) {
  const requests: { path: string; range: string | null }[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const range = req.headers.get("range");
    requests.push({ path: new URL(req.url).pathname, range });
    if (range) {
      const from = Number(/^bytes=(\d+)-$/.exec(range)![1]);
      return new Response(body.slice(from), {
        status: 206,
        headers: { "content-range": `bytes ${from}-${body.length - 1}/${body.length}` },
      });
    }
    if (cutAfter !== undefined && requests.length === 1) {
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(body.slice(0, cutAfter));
        },
        async pull(c) {
          await new Promise((r) => setTimeout(r, 50));
          c.close();
        },
      });
      return new Response(stream, { headers: { "content-length": String(body.length) } });
    }
    return new Response(body.slice());
  });
  return { server, base: `http://127.0.0.1:${server.addr.port}/models`, requests };
}

Deno.test("the published files are the five depths with their MD5s", () => {
  assert.deepEqual(Object.keys(PRETRAINED), ["18", "34", "50", "101", "152"]);
  assert.equal(PRETRAINED[50].md5, "ca6f485ee1ab0492d38f323885b0ad80");
  assert.equal(PRETRAINED[152].fileName, "resnet152.pdparams");
});

Deno.test("an interrupted download resumes with a range request, then is checked and cached", async () => {
  const cacheDir = await Deno.makeTempDir();
  const { server, base, requests } = serve(FILE, 100_000);
  try {
    const opts = { cacheDir, baseUrl: base, md5: md5(FILE), progress: false };
    await assert.rejects(pretrainedWeights(18, opts), (e: Error) => {
      assert.ok(e instanceof PretrainedNotFoundError);
      assert.match(e.message, /run again to resume/);
      return true;
    });
    const part = (await Deno.stat(`${cacheDir}/resnet18.pdparams.part`)).size;
    assert.ok(part >= 100_000 && part < FILE.length, `partial ${part}`);
    const path = await pretrainedWeights(18, opts);
    assert.equal(path, `${cacheDir}/resnet18.pdparams`);
    assert.deepEqual(requests, [
      { path: "/models/resnet18.pdparams", range: null },
      { path: "/models/resnet18.pdparams", range: `bytes=${part}-` },
    ]);
    assert.deepEqual(await Deno.readFile(path), FILE);
    // Cached: no further request.
    assert.equal(await pretrainedWeights(18, opts), path);
    assert.equal(requests.length, 2);
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a download with the wrong MD5 is refused and deleted; so is a wrong cached file", async () => {
  const cacheDir = await Deno.makeTempDir();
  const { server, base } = serve(FILE);
  try {
    await assert.rejects(
      pretrainedWeights(34, { cacheDir, baseUrl: base, progress: false }),
      (e: Error) => {
        assert.ok(e instanceof FormatError);
        assert.match(e.message, new RegExp(`MD5 ${md5(FILE)}, expected ${PRETRAINED[34].md5}`));
        return true;
      },
    );
    assert.deepEqual([...Deno.readDirSync(cacheDir)], []);
    await Deno.writeFile(`${cacheDir}/resnet50.pdparams`, FILE);
    await assert.rejects(
      pretrainedWeights(50, { cacheDir, baseUrl: base, progress: false }),
      /resnet50\.pdparams: MD5 is [0-9a-f]{32}, expected ca6f485e.*delete it to download it again/,
    );
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("offline, the error names the file, its MD5 and where to put it", async () => {
  const cacheDir = await Deno.makeTempDir();
  // Port 9 on loopback refuses connections: the same failure as being offline.
  const baseUrl = "http://127.0.0.1:9/mirror/";
  try {
    await assert.rejects(pretrainedWeights(101, { cacheDir, baseUrl, progress: false }), (e) => {
      assert.ok(e instanceof PretrainedNotFoundError);
      assert.match(
        e.message,
        new RegExp(
          `^resnet101\\.pdparams is not in ${cacheDir} and downloading it from ` +
            "http://127\\.0\\.0\\.1:9/mirror/resnet101\\.pdparams failed",
        ),
      );
      assert.match(e.message, /MD5 02f35f034ca3858e1e54d4036443c92d/);
      assert.match(e.message, new RegExp(`put it at ${cacheDir}/resnet101\\.pdparams`));
      return true;
    });
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
