import assert from "node:assert/strict";
import { FormatError } from "../../src/io/errors.ts";
import { crc32, readZip } from "../../src/io/zip.ts";
import { findPython, reportSkip, runPython } from "./python.ts";

const python = await findPython(["zipfile"]);
reportSkip(python, "zip tests against Python's zipfile", "its standard library");

const utf8 = new TextEncoder();

Deno.test("CRC-32 matches the published check values", () => {
  assert.equal(crc32(utf8.encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
  assert.equal(crc32(utf8.encode("The quick brown fox jumps over the lazy dog")), 0x414fa339);
});

Deno.test({
  name: "stored, deflated and zip64 members of Python-made archives read back exactly",
  ignore: python === null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await runPython(
        python!,
        `import sys, zipfile
data = bytes((i * 7919) % 251 for i in range(100000))
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr(zipfile.ZipInfo("a/stored.bin"), data)
    z.writestr("a/deflated.bin", data * 3, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr("empty", b"")
# Lowered limits make zipfile write what a >4 GiB archive has: zip64 sizes, offsets and records.
zipfile.ZIP64_LIMIT = 1000
zipfile.ZIP_FILECOUNT_LIMIT = 0
with zipfile.ZipFile(sys.argv[2], "w") as z:
    z.writestr("pad.bin", data)
    z.writestr("big/x.bin", data)`,
        [`${dir}/a.zip`, `${dir}/z64.zip`],
      );
      const data = Uint8Array.from({ length: 100000 }, (_, i) => (i * 7919) % 251);
      const zip = readZip(await Deno.readFile(`${dir}/a.zip`), "a.zip");
      assert.deepEqual([...zip.keys()], ["a/stored.bin", "a/deflated.bin", "empty"]);
      assert.deepEqual(await zip.get("a/stored.bin")!.data(), data);
      const tripled = new Uint8Array(300000);
      for (let i = 0; i < 3; i++) tripled.set(data, i * 100000);
      assert.deepEqual(await zip.get("a/deflated.bin")!.data(), tripled);
      assert.deepEqual(await zip.get("empty")!.data(), new Uint8Array());
      const z64 = readZip(await Deno.readFile(`${dir}/z64.zip`), "z64.zip");
      assert.deepEqual(await z64.get("big/x.bin")!.data(), data);

      // One flipped byte inside a stored member fails its CRC.
      const damaged = await Deno.readFile(`${dir}/a.zip`);
      damaged[200] ^= 1;
      await assert.rejects(
        readZip(damaged, "a.zip").get("a/stored.bin")!.data(),
        /^FormatError: a\.zip: zip: 'a\/stored\.bin' fails its CRC-32 check/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a truncated archive is a format error naming the file", () => {
  assert.throws(() => readZip(new Uint8Array(100), "cut.pth"), (e: Error) => {
    assert.ok(e instanceof FormatError);
    assert.match(e.message, /^cut\.pth: zip: no end-of-central-directory record/);
    return true;
  });
});
