import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CheckpointError,
  ensureWritableDir,
  latestCheckpoint,
  listCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from "../../src/io/checkpoint.ts";

const bytes = (...v: number[]): Uint8Array<ArrayBuffer> => new Uint8Array(v);

async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("checkpoint round trip: files and meta come back; the manifest holds sizes and SHA-256", async () => {
  const saveDir = await Deno.makeTempDir();
  const dir = join(saveDir, "0");
  const files = { "model.safetensors": bytes(1, 2, 3, 250), "optimizer.bin": bytes() };
  const meta = { epoch: 0, globalStep: 391, scheduler: { lastLr: 0.05 } };
  await writeCheckpoint(dir, files, meta);
  assert.deepEqual(entries(saveDir), ["0"]);
  assert.deepEqual(entries(dir), ["manifest.json", "model.safetensors", "optimizer.bin"]);
  const manifest = JSON.parse(await Deno.readTextFile(join(dir, "manifest.json")));
  assert.equal(manifest.format, 1);
  assert.ok(Math.abs(manifest.created - Date.now()) < 60_000);
  assert.deepEqual(manifest.meta, meta);
  assert.deepEqual(manifest.files, {
    "model.safetensors": { bytes: 4, sha256: await sha256Hex(files["model.safetensors"]) },
    "optimizer.bin": {
      bytes: 0,
      sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
  });
  assert.deepEqual(await readCheckpoint(dir), { files, meta });
  await Deno.remove(saveDir, { recursive: true });
});

Deno.test("writeCheckpoint replaces an existing checkpoint and leaves no hidden folders", async () => {
  const saveDir = await Deno.makeTempDir();
  const dir = join(saveDir, "final");
  await writeCheckpoint(dir, { "a.bin": bytes(1), "old.bin": bytes(9) }, { globalStep: 1 });
  await writeCheckpoint(dir, { "a.bin": bytes(2, 2) }, { globalStep: 2 });
  assert.deepEqual(entries(saveDir), ["final"]);
  assert.deepEqual(entries(dir), ["a.bin", "manifest.json"]);
  assert.deepEqual(await readCheckpoint(dir), {
    files: { "a.bin": bytes(2, 2) },
    meta: { globalStep: 2 },
  });
  await Deno.remove(saveDir, { recursive: true });
});

Deno.test("a flipped byte is refused naming the folder and the file; latest falls back", async () => {
  const saveDir = await Deno.makeTempDir();
  await writeCheckpoint(join(saveDir, "0"), { "w.bin": bytes(1, 2, 3) }, { globalStep: 10 });
  await writeCheckpoint(join(saveDir, "1"), { "w.bin": bytes(4, 5, 6) }, { globalStep: 20 });
  const damaged = join(saveDir, "1");
  const f = join(damaged, "w.bin");
  const content = await Deno.readFile(f);
  content[1] ^= 0x01;
  await Deno.writeFile(f, content);
  await assert.rejects(readCheckpoint(damaged), (err: unknown) => {
    assert.ok(err instanceof CheckpointError);
    assert.equal(err.file, "w.bin");
    assert.equal(
      err.message,
      `checkpoint ${damaged}: file w.bin is damaged (SHA-256 differs from the manifest)`,
    );
    return true;
  });
  const list = await listCheckpoints(saveDir);
  assert.deepEqual(list.map((c) => [c.name, c.intact]), [["0", true], ["1", false]]);
  assert.match(list[1].problem!, /w\.bin is damaged/);
  assert.equal(await latestCheckpoint(saveDir), join(saveDir, "0"));

  await Deno.writeFile(f, bytes(4, 5));
  await assert.rejects(readCheckpoint(damaged), /file w\.bin is 2 bytes, manifest says 3/);
  await Deno.remove(f);
  await assert.rejects(readCheckpoint(damaged), /file w\.bin listed in the manifest is missing/);
  await Deno.remove(saveDir, { recursive: true });
});

Deno.test("latestCheckpoint picks the highest globalStep, not the newest write or the name", async () => {
  const saveDir = await Deno.makeTempDir();
  assert.equal(await latestCheckpoint(saveDir), null);
  assert.equal(await latestCheckpoint(join(saveDir, "absent")), null);
  assert.deepEqual(await listCheckpoints(join(saveDir, "absent")), []);
  await writeCheckpoint(join(saveDir, "9"), { "x": bytes(1) }, { globalStep: 5 });
  await writeCheckpoint(join(saveDir, "b"), { "x": bytes(2) }, { globalStep: 50 });
  await writeCheckpoint(join(saveDir, "c"), { "x": bytes(3) }, { globalStep: 20 });
  assert.equal(await latestCheckpoint(saveDir), join(saveDir, "b"));
  assert.deepEqual((await listCheckpoints(saveDir)).map((c) => c.name), ["9", "c", "b"]);
  await Deno.remove(saveDir, { recursive: true });
});

Deno.test("folders left by a crash mid-write are ignored, then cleaned by the next write", async () => {
  const saveDir = await Deno.makeTempDir();
  await writeCheckpoint(join(saveDir, "0"), { "w.bin": bytes(1) }, { globalStep: 10 });
  // Crash while writing files: a temp folder without manifest.
  const partial = join(saveDir, ".1.tmp-4242-0badcafe");
  await Deno.mkdir(partial);
  await Deno.writeFile(join(partial, "w.bin"), bytes(7, 7));
  // Crash after the manifest but before the rename: complete but never installed.
  const unrenamed = join(saveDir, ".2.tmp-4242-deadbeef");
  await Deno.mkdir(unrenamed);
  await Deno.writeFile(
    join(unrenamed, "manifest.json"),
    new TextEncoder().encode(JSON.stringify({
      format: 1,
      created: Date.now(),
      meta: { globalStep: 999 },
      files: {},
    })),
  );
  // A visible folder with no manifest (e.g. copied by hand, half done).
  await Deno.mkdir(join(saveDir, "3"));
  assert.equal(await latestCheckpoint(saveDir), join(saveDir, "0"));
  const list = await listCheckpoints(saveDir);
  assert.deepEqual(list.map((c) => [c.name, c.intact]), [["3", false], ["0", true]]);
  assert.match(list[0].problem!, /no manifest\.json/);
  await assert.rejects(readCheckpoint(join(saveDir, "3")), /no manifest\.json/);

  await writeCheckpoint(join(saveDir, "4"), { "w.bin": bytes(4) }, { globalStep: 40 });
  assert.deepEqual(entries(saveDir), ["0", "3", "4"]);
  assert.equal(await latestCheckpoint(saveDir), join(saveDir, "4"));
  await Deno.remove(saveDir, { recursive: true });
});

Deno.test("a crash between the two renames of a replacement keeps the old checkpoint usable", async () => {
  const saveDir = await Deno.makeTempDir();
  await writeCheckpoint(join(saveDir, "5"), { "w.bin": bytes(5) }, { globalStep: 50 });
  // Simulate: old "5" renamed aside, new one not yet moved in.
  const aside = join(saveDir, ".5.old-4242-00c0ffee");
  await Deno.rename(join(saveDir, "5"), aside);
  assert.equal(await latestCheckpoint(saveDir), aside);
  assert.deepEqual((await readCheckpoint(aside)).meta, { globalStep: 50 });
  // The next write restores it under its name.
  await writeCheckpoint(join(saveDir, "6"), { "w.bin": bytes(6) }, { globalStep: 60 });
  assert.deepEqual(entries(saveDir), ["5", "6"]);
  assert.deepEqual((await readCheckpoint(join(saveDir, "5"))).files, { "w.bin": bytes(5) });
  await Deno.remove(saveDir, { recursive: true });
});

Deno.test("writeCheckpoint refuses file names that escape or shadow the manifest", async () => {
  const saveDir = await Deno.makeTempDir();
  for (const name of ["../x", "a/b", "manifest.json", ".hidden", ""]) {
    await assert.rejects(
      writeCheckpoint(join(saveDir, "0"), { [name]: bytes(1) }, {}),
      (err: unknown) => err instanceof CheckpointError && err.message.includes(`'${name}'`),
    );
  }
  await assert.rejects(writeCheckpoint(join(saveDir, ".x"), {}, {}), /must not .* start with '\.'/);
  await assert.rejects(
    writeCheckpoint(join(saveDir, "0"), {}, { n: 1n }),
    /meta is not JSON-serialisable/,
  );
  assert.deepEqual(entries(saveDir), []);
  await Deno.remove(saveDir, { recursive: true });
});

Deno.test("ensureWritableDir and writeCheckpoint give a clear error for an unwritable folder", async () => {
  const base = await Deno.makeTempDir();
  await ensureWritableDir(join(base, "a", "b"));
  assert.ok(Deno.statSync(join(base, "a", "b")).isDirectory);
  assert.deepEqual(entries(join(base, "a", "b")), []);

  // A read-only folder blocks everyone but root; root writes anyway, so check which we are.
  const ro = join(base, "ro");
  await Deno.mkdir(ro);
  await Deno.chmod(ro, 0o555);
  let rootBypasses = true;
  try {
    await Deno.writeFile(join(ro, "probe"), bytes(1));
  } catch {
    rootBypasses = false;
  }
  if (rootBypasses) {
    console.log("running as root: chmod 555 does not block writes; testing a path under a file");
  } else {
    await assert.rejects(ensureWritableDir(ro), (err: unknown) => {
      assert.ok(err instanceof CheckpointError);
      assert.match(err.message, new RegExp(`^checkpoint ${ro}: folder is not writable: `));
      return true;
    });
  }
  await Deno.chmod(ro, 0o755);

  // Works for root too: a folder cannot be created under a regular file.
  const file = join(base, "plain.txt");
  await Deno.writeTextFile(file, "x");
  const under = join(file, "save");
  await assert.rejects(ensureWritableDir(under), (err: unknown) => {
    assert.ok(err instanceof CheckpointError);
    assert.match(err.message, new RegExp(`^checkpoint ${under}: cannot create folder: `));
    return true;
  });
  await assert.rejects(
    writeCheckpoint(join(under, "0"), { "w.bin": bytes(1) }, {}),
    new RegExp(`checkpoint ${under}: cannot create folder`),
  );
  await Deno.remove(base, { recursive: true });
});
