import assert from "node:assert/strict";
import { arrayDataset, loadNpyDataset } from "../../src/data/array_dataset.ts";
import { encodeNpy } from "../../src/io/npy.ts";

/** A `.npy` version 1.0 file written by hand, independent of the encoder under test. */
function npy(descr: string, shape: number[], body: Uint8Array): Uint8Array {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  while ((10 + header.length + 1) % 64 !== 0) header += " ";
  header += "\n";
  const out = new Uint8Array(10 + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}

Deno.test(".npy images (N, H, W, C) uint8 with int64 labels load as a dataset", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pixels = Uint8Array.from({ length: 3 * 2 * 4 * 3 }, (_, i) => (i * 7) % 256);
    await Deno.writeFile(`${dir}/x.npy`, npy("|u1", [3, 2, 4, 3], pixels));
    const labels = new BigInt64Array([2n, 0n, 5n]);
    await Deno.writeFile(`${dir}/y.npy`, npy("<i8", [3], new Uint8Array(labels.buffer)));
    const ds = await loadNpyDataset(`${dir}/x.npy`, `${dir}/y.npy`);
    assert.equal(ds.length, 3);
    assert.deepEqual(ds.imageShape, [2, 4, 3]);
    assert.deepEqual(ds.classNames, ["0", "1", "2", "3", "4", "5"]);
    const b = ds.getBatch([2, 0]);
    assert.deepEqual([...b.labels], [5, 2]);
    assert.deepEqual([...b.images.subarray(0, 24)], [...pixels.subarray(48, 72)]);
    assert.ok(b.images instanceof Uint8Array);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(".npy float32 images keep their values and (N, H, W) means one channel", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pixels = Float32Array.from({ length: 2 * 3 * 3 }, (_, i) => i / 17);
    await Deno.writeFile(
      `${dir}/x.npy`,
      encodeNpy({ dtype: "float32", shape: [2, 3, 3], data: pixels }),
    );
    await Deno.writeFile(
      `${dir}/y.npy`,
      encodeNpy({ dtype: "uint8", shape: [2], data: Uint8Array.of(1, 0) }),
    );
    const ds = await loadNpyDataset(`${dir}/x.npy`, `${dir}/y.npy`, { classNames: ["cat", "dog"] });
    assert.deepEqual(ds.imageShape, [3, 3, 1]);
    assert.deepEqual(ds.classNames, ["cat", "dog"]);
    const b = ds.getBatch([1]);
    assert.ok(b.images instanceof Float32Array);
    assert.deepEqual([...b.images], [...pixels.subarray(9)]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("array datasets reject mismatched or ill-typed arrays with the source named", () => {
  const img = { dtype: "uint8" as const, shape: [2, 2, 2, 1], data: new Uint8Array(8) };
  assert.throws(
    () =>
      arrayDataset(img, { dtype: "int32", shape: [3], data: new Int32Array(3) }, { source: "s" }),
    /^RangeError: s: labels must have shape \(2\) to match 2 images, got \(3\)/,
  );
  assert.throws(
    () =>
      arrayDataset(img, { dtype: "float32", shape: [2], data: new Float32Array(2) }, {
        source: "s",
      }),
    /s: labels must be integers/,
  );
  assert.throws(
    () =>
      arrayDataset({ ...img, dtype: "int32", data: new Int32Array(8) }, {
        dtype: "int32",
        shape: [2],
        data: new Int32Array(2),
      }),
    /images must be uint8 \(0–255\) or float32/,
  );
  assert.throws(
    () =>
      arrayDataset(img, { dtype: "int32", shape: [2], data: Int32Array.of(0, 3) }, {
        classNames: ["a", "b"],
      }),
    /label 3 of example 1 is outside 0–1/,
  );
  assert.throws(
    () => arrayDataset(img, { dtype: "int32", shape: [2], data: Int32Array.of(0, -1) }),
    /label -1 of example 1 is negative/,
  );
});
