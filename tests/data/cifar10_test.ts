import assert from "node:assert/strict";
import {
  CIFAR10_ARCHIVE,
  CIFAR10_CLASS_NAMES,
  DatasetNotFoundError,
  decodeCifarRecords,
  downloadCifar10,
  loadCifar10,
  readCifar10Archive,
} from "../../src/data/cifar10.ts";
import type { ImageDataset } from "../../src/data/image_dataset.ts";
import { FormatError } from "../../src/io/errors.ts";
import {
  cifarFile,
  concat,
  encodeTar,
  FIXTURE_FILES,
  fixtureArchive,
  gzip,
  md5,
  pixelAt,
  writeFixtureFolder,
} from "./fixtures.ts";

const TRAIN = [
  "data_batch_1.bin",
  "data_batch_2.bin",
  "data_batch_3.bin",
  "data_batch_4.bin",
  "data_batch_5.bin",
];

/** Checks a split holds the fixture files' records, in file order, with NHWC pixels. */
function assertSplit(ds: ImageDataset, files: string[]): void {
  let i = 0;
  for (const name of files) {
    const { salt, labels } = FIXTURE_FILES[name];
    labels.forEach((label, r) => {
      assert.equal(ds.labels[i], label, `label of ${name} record ${r}`);
      const base = i * 32 * 32 * 3;
      for (const [y, x] of [[0, 0], [0, 31], [17, 5], [31, 31]]) {
        for (let c = 0; c < 3; c++) {
          assert.equal(
            ds.images[base + (y * 32 + x) * 3 + c],
            pixelAt(salt, r, y, x, c),
            `${name} record ${r} pixel (${y}, ${x}) channel ${c}`,
          );
        }
      }
      i++;
    });
  }
  assert.equal(ds.length, i);
  assert.deepEqual(ds.imageShape, [32, 32, 3]);
  assert.deepEqual(ds.classNames, CIFAR10_CLASS_NAMES);
}

Deno.test("CIFAR records decode label and RGB planes into NHWC pixels", () => {
  const bytes = cifarFile(9, [4, 7]);
  const { images, labels } = decodeCifarRecords(bytes, "x.bin");
  assert.deepEqual([...labels], [4, 7]);
  for (let r = 0; r < 2; r++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          assert.equal(images[((r * 32 + y) * 32 + x) * 3 + c], pixelAt(9, r, y, x, c));
        }
      }
    }
  }
});

Deno.test("CIFAR class names are the recipe's ten, in label order", () => {
  assert.deepEqual(CIFAR10_CLASS_NAMES, [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
  ]);
});

Deno.test("CIFAR folder loads from cifar-10-batches-bin itself and from its parent", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeFixtureFolder(`${root}/cifar-10-batches-bin`);
    for (const path of [`${root}/cifar-10-batches-bin`, root]) {
      const { train, test } = await loadCifar10({ path });
      assertSplit(train, TRAIN);
      assertSplit(test, ["test_batch.bin"]);
    }
    // The cache folder is searched the same way, and nothing is downloaded.
    const { train } = await loadCifar10({ cacheDir: root, url: "http://127.0.0.1:9/none" });
    assert.equal(train.length, 9);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a truncated CIFAR batch file fails naming the file and the byte offset", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeFixtureFolder(dir);
    const path = `${dir}/data_batch_3.bin`;
    await Deno.writeFile(path, concat([cifarFile(3, [1, 2]), new Uint8Array(100)]));
    await assert.rejects(loadCifar10({ path: dir }), (e: Error) => {
      assert.ok(e instanceof FormatError, String(e));
      assert.match(e.message, new RegExp(`^${path}: `));
      assert.match(e.message, /byte offset 6146 is truncated \(100 of 3073 bytes\)/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a CIFAR label byte above 9 fails naming the record's byte offset", () => {
  const bytes = cifarFile(1, [3, 10, 2]);
  assert.throws(() => decodeCifarRecords(bytes, "bad.bin"), (e: Error) => {
    assert.ok(e instanceof FormatError);
    assert.equal(
      e.message,
      "bad.bin: record 1 at byte offset 3073 has label byte 10; CIFAR-10 labels are 0–9",
    );
    return true;
  });
  assert.throws(
    () => decodeCifarRecords(new Uint8Array(0), "empty.bin"),
    /empty\.bin: file is empty/,
  );
});

Deno.test("a missing CIFAR batch file is named in the error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeFixtureFolder(dir);
    await Deno.remove(`${dir}/data_batch_4.bin`);
    await assert.rejects(
      loadCifar10({ path: dir }),
      (e: Error) =>
        e instanceof DatasetNotFoundError && e.message.includes("data_batch_4.bin is missing"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CIFAR archive is read directly from .tar.gz after its MD5 is checked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = await fixtureArchive();
    const path = `${dir}/${CIFAR10_ARCHIVE.fileName}`;
    await Deno.writeFile(path, bytes);
    const { train, test } = await readCifar10Archive(path, { md5: md5(bytes) });
    assertSplit(train, TRAIN);
    assertSplit(test, ["test_batch.bin"]);
    // The default MD5 is the published archive's, which this small one does not match.
    await assert.rejects(readCifar10Archive(path), (e: Error) => {
      assert.ok(e instanceof FormatError);
      assert.ok(
        e.message.startsWith(`${path}: MD5 is ${md5(bytes)}, expected ${CIFAR10_ARCHIVE.md5}`),
      );
      return true;
    });
    // Found as the archive inside a folder too.
    const viaFolder = await loadCifar10({ path: dir, md5: md5(bytes) });
    assert.equal(viaFolder.test.length, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("damaged CIFAR archives fail naming the file (and member and offset)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = await fixtureArchive();
    // Cut short inside the gzip stream.
    const cut = `${dir}/cut.tar.gz`;
    await Deno.writeFile(cut, good.subarray(0, Math.floor(good.length / 2)));
    await assert.rejects(readCifar10Archive(cut, { md5: null }), (e: Error) => {
      assert.ok(e instanceof FormatError, String(e));
      assert.ok(e.message.startsWith(`${cut}: `), e.message);
      return true;
    });
    // A valid gzip of a tar whose member data stops early.
    const tar = encodeTar([{
      name: "cifar-10-batches-bin/data_batch_1.bin",
      data: cifarFile(1, [0, 1]),
    }]);
    const short = `${dir}/short.tar.gz`;
    await Deno.writeFile(short, await gzip(tar.subarray(0, 512 + 4000)));
    await assert.rejects(readCifar10Archive(short, { md5: null }), (e: Error) => {
      assert.ok(e instanceof FormatError);
      assert.equal(
        e.message,
        `${short}: tar member "cifar-10-batches-bin/data_batch_1.bin" (header at byte offset 0) ` +
          `needs 6146 bytes of data from byte offset 512, but the archive ends at byte offset 4512`,
      );
      return true;
    });
    // A tar header with a wrong checksum.
    const bad = tar.slice();
    bad[0] ^= 1;
    const badSum = `${dir}/badsum.tar.gz`;
    await Deno.writeFile(badSum, await gzip(bad));
    await assert.rejects(
      readCifar10Archive(badSum, { md5: null }),
      new RegExp(`^FormatError: ${badSum}: tar header at byte offset 0 has a bad checksum`),
    );
    // A member that is not a whole number of records is named as archive:member.
    const members = Object.entries(FIXTURE_FILES).map(([name, f]) => ({
      name: `cifar-10-batches-bin/${name}`,
      data: name === "data_batch_2.bin"
        ? cifarFile(f.salt, f.labels).subarray(0, 3073 + 10)
        : cifarFile(f.salt, f.labels),
    }));
    const partial = `${dir}/partial.tar.gz`;
    await Deno.writeFile(partial, await gzip(encodeTar(members)));
    await assert.rejects(readCifar10Archive(partial, { md5: null }), (e: Error) => {
      assert.match(
        e.message,
        new RegExp(
          `^${partial}:cifar-10-batches-bin/data_batch_2\\.bin: .*byte offset 3073 is truncated`,
        ),
      );
      return true;
    });
    // A member missing from the archive.
    const missing = `${dir}/missing.tar.gz`;
    await Deno.writeFile(
      missing,
      await gzip(encodeTar(
        Object.entries(FIXTURE_FILES).filter(([name]) => name !== "test_batch.bin").map((
          [name, f],
        ) => ({ name: `cifar-10-batches-bin/${name}`, data: cifarFile(f.salt, f.labels) })),
      )),
    );
    await assert.rejects(
      readCifar10Archive(missing, { md5: null }),
      /archive has no member cifar-10-batches-bin\/test_batch\.bin/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const hasTar = await new Deno.Command("tar", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "CIFAR archive written by the system tar (GNU format) reads the same",
  ignore: !hasTar,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await writeFixtureFolder(`${dir}/cifar-10-batches-bin`);
      const out = await new Deno.Command("tar", {
        args: ["czf", "archive.tar.gz", "cifar-10-batches-bin"],
        cwd: dir,
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const { train, test } = await readCifar10Archive(`${dir}/archive.tar.gz`, { md5: null });
      assertSplit(train, TRAIN);
      assertSplit(test, ["test_batch.bin"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Serves `bytes` with Range support; the first `failFirstAfter` bytes are sent and then the body errors. */
function serveArchive(bytes: Uint8Array, failFirstAfter?: number) {
  const ranges: (string | null)[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const range = req.headers.get("range");
    ranges.push(range);
    if (range) {
      const from = Number(/^bytes=(\d+)-$/.exec(range)![1]);
      return new Response(bytes.slice(from), {
        status: 206,
        headers: { "content-range": `bytes ${from}-${bytes.length - 1}/${bytes.length}` },
      });
    }
    if (failFirstAfter !== undefined && ranges.length === 1) {
      const head = bytes.slice(0, failFirstAfter);
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(head);
        },
        async pull(c) {
          await new Promise((r) => setTimeout(r, 50));
          c.close();
        },
      });
      return new Response(body, { headers: { "content-length": String(bytes.length) } });
    }
    return new Response(bytes.slice());
  });
  const url = `http://127.0.0.1:${server.addr.port}/cifar-10-binary.tar.gz`;
  return { server, url, ranges };
}

Deno.test("CIFAR download resumes a broken transfer with a range request, then checks MD5", async () => {
  const dir = await Deno.makeTempDir();
  const bytes = await fixtureArchive();
  const { server, url, ranges } = serveArchive(bytes, 1000);
  try {
    await assert.rejects(
      downloadCifar10({ cacheDir: dir, url, md5: md5(bytes), progress: false }),
      /run again to resume/,
    );
    const partSize = (await Deno.stat(`${dir}/${CIFAR10_ARCHIVE.fileName}.part`)).size;
    assert.ok(partSize > 0 && partSize < bytes.length, `partial size ${partSize}`);
    const { train, test } = await loadCifar10({
      cacheDir: dir,
      url,
      md5: md5(bytes),
      progress: false,
    });
    assert.deepEqual(ranges, [null, `bytes=${partSize}-`]);
    assertSplit(train, TRAIN);
    assertSplit(test, ["test_batch.bin"]);
    assert.equal(md5(await Deno.readFile(`${dir}/${CIFAR10_ARCHIVE.fileName}`)), md5(bytes));
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a CIFAR download with the wrong MD5 is rejected and deleted", async () => {
  const dir = await Deno.makeTempDir();
  const bytes = await fixtureArchive();
  const { server, url } = serveArchive(bytes);
  try {
    await assert.rejects(downloadCifar10({ cacheDir: dir, url, progress: false }), (e: Error) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, new RegExp(`MD5 ${md5(bytes)}, expected ${CIFAR10_ARCHIVE.md5}`));
      return true;
    });
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without files or network, CIFAR loading says where files go and how to get them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Port 9 on loopback refuses connections: the same failure as being offline.
    await assert.rejects(
      loadCifar10({
        cacheDir: dir,
        url: "http://127.0.0.1:9/cifar-10-binary.tar.gz",
        progress: false,
      }),
      (e: Error) => {
        assert.ok(e instanceof DatasetNotFoundError, String(e));
        assert.ok(e.message.includes(`CIFAR-10 not found in ${dir}`), e.message);
        assert.ok(e.message.includes("http://127.0.0.1:9/cifar-10-binary.tar.gz"));
        assert.ok(e.message.includes(CIFAR10_ARCHIVE.url));
        assert.ok(e.message.includes(CIFAR10_ARCHIVE.md5));
        return true;
      },
    );
    await assert.rejects(
      loadCifar10({ cacheDir: dir, download: false }),
      (e: Error) => e instanceof DatasetNotFoundError && e.message.includes("downloading is off"),
    );
    await assert.rejects(
      loadCifar10({ path: `${dir}/nowhere` }),
      (e: Error) => e instanceof DatasetNotFoundError && e.message.includes(`${dir}/nowhere`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
