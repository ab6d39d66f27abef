import assert from "node:assert/strict";
import { join } from "node:path";
import {
  decodeNpy,
  encodeNpy,
  FormatError,
  type HostTensor,
  readNpy,
  writeNpy,
} from "../../src/io/npy.ts";

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** A .npy file as NumPy lays it out: magic, version, header length, header text, data. */
function npyFile(
  header: string,
  data: Uint8Array | number[],
  version: 1 | 2 | 3 = 1,
): Uint8Array {
  const lenBytes = version === 1 ? 2 : 4;
  const text = version === 3 ? new TextEncoder().encode(header) : latin1(header);
  const out = new Uint8Array(8 + lenBytes + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, 8 + lenBytes);
  out.set(data, 8 + lenBytes + text.length);
  return out;
}

/** Pads a header dict with spaces and a newline so magic + length + header is `total` bytes. */
function pad(dict: string, total: number, lenBytes = 2): string {
  return dict.padEnd(total - 8 - lenBytes - 1, " ") + "\n";
}

function bytesOf(t: HostTensor): number[] {
  return [...new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)];
}

Deno.test("encodeNpy writes exactly what numpy.save writes for a (2, 3) float32 array", () => {
  const values = [1, 2, 3, 4, 5, -0.5];
  const out = encodeNpy({ dtype: "float32", shape: [2, 3], data: new Float32Array(values) });
  const header = pad("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 128);
  assert.equal(header.length, 118);
  const expected = npyFile(header, new Uint8Array(new Float32Array(values).buffer));
  assert.deepEqual([...out], [...expected]);
  assert.deepEqual([...out.subarray(0, 10)], [0x93, 78, 85, 77, 80, 89, 1, 0, 118, 0]);
});

Deno.test("encodeNpy header forms: '<i4' 1-d, '|u1' scalar, all data at a 64-byte multiple", () => {
  const i = encodeNpy({ dtype: "int32", shape: [3], data: new Int32Array([1, -1, 7]) });
  assert.deepEqual(
    [...i],
    [
      ...npyFile(pad("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 128), [
        1,
        0,
        0,
        0,
        255,
        255,
        255,
        255,
        7,
        0,
        0,
        0,
      ]),
    ],
  );
  const u = encodeNpy({ dtype: "uint8", shape: [], data: new Uint8Array([200]) });
  assert.deepEqual(
    [...u],
    [...npyFile(pad("{'descr': '|u1', 'fortran_order': False, 'shape': (), }", 128), [200])],
  );
});

Deno.test("encodeNpy keeps NumPy's 21-digit growth-axis spare space in the header", () => {
  // 15 dimensions: the dict alone fits a 128-byte prefix, but with NumPy's spare space for the
  // first axis (21 - len("1") = 20 spaces) it spills into 192.
  const shape = new Array(15).fill(1);
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}), }`;
  assert.ok(8 + 2 + dict.length + 1 <= 128 && 8 + 2 + dict.length + 20 + 1 > 128);
  const out = encodeNpy({ dtype: "float32", shape, data: new Float32Array([3]) });
  assert.deepEqual([...out], [...npyFile(pad(dict, 192), [0, 0, 64, 64])]);
});

Deno.test("npy round trip through a file is bit-exact: NaN payloads, -0, odd and empty shapes", async () => {
  const dir = await Deno.makeTempDir();
  const bits = new Uint32Array([
    0x7fc00001,
    0xffa5a5a5,
    0x7f800001,
    0x80000000,
    0x00000001,
    0xff800000,
  ]);
  const cases: HostTensor[] = [
    { dtype: "float32", shape: [3, 1, 2], data: new Float32Array(bits.buffer) },
    { dtype: "float32", shape: [], data: new Float32Array([-0]) },
    { dtype: "float32", shape: [0, 4], data: new Float32Array(0) },
    { dtype: "int32", shape: [2, 2], data: new Int32Array([-2147483648, 2147483647, 0, -5]) },
    { dtype: "uint8", shape: [5, 1, 1], data: new Uint8Array([0, 1, 127, 128, 255]) },
  ];
  for (const [k, t] of cases.entries()) {
    const path = join(dir, `a${k}.npy`);
    await writeNpy(path, t);
    const bytes = await Deno.readFile(path);
    const dataStart = bytes.length - t.data.byteLength;
    assert.equal(dataStart % 64, 0, `case ${k}: data starts at ${dataStart}`);
    const back = await readNpy(path);
    assert.equal(back.dtype, t.dtype);
    assert.deepEqual(back.shape, t.shape);
    assert.deepEqual(bytesOf(back), bytesOf(t), `case ${k}`);
  }
  assert.ok(Object.is((await readNpy(join(dir, "a1.npy"))).data[0], -0));
  assert.equal([...Deno.readDirSync(dir)].length, cases.length);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("decodeNpy reads versions 2.0 and 3.0, other key orders, and old-style long ints", () => {
  const data = new Uint8Array(new Float32Array([1.5, 2.5]).buffer);
  const v2 = npyFile(
    pad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 128, 4),
    data,
    2,
  );
  assert.deepEqual(decodeNpy(v2, "v2.npy"), {
    dtype: "float32",
    shape: [2],
    data: new Float32Array([1.5, 2.5]),
  });
  const v3 = npyFile(
    pad('{"shape": (1, 2), "descr": "<f4", "fortran_order": False}', 64, 4),
    data,
    3,
  );
  assert.deepEqual(decodeNpy(v3, "v3.npy").shape, [1, 2]);
  const py2 = npyFile(pad("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", 64), data);
  assert.deepEqual(decodeNpy(py2, "py2.npy").shape, [2]);
});

Deno.test("decodeNpy converts '<f8', '<i8' and big-endian '>f4', '>i4' arrays", () => {
  const h = (descr: string, shape: string) =>
    pad(`{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`, 128);
  const f8 = decodeNpy(
    npyFile(h("<f8", "(2,)"), new Uint8Array(new Float64Array([0.1, -3]).buffer)),
  );
  assert.deepEqual(f8, { dtype: "float32", shape: [2], data: new Float32Array([0.1, -3]) });
  const i8 = decodeNpy(
    npyFile(h("<i8", "(2,)"), new Uint8Array(new BigInt64Array([-9n, 4n]).buffer)),
  );
  assert.deepEqual(i8, { dtype: "int32", shape: [2], data: new Int32Array([-9, 4]) });
  // 1.0f big-endian is 3f 80 00 00; -2 as big-endian int32 is ff ff ff fe.
  const bf = decodeNpy(npyFile(h(">f4", "(1,)"), [0x3f, 0x80, 0, 0]));
  assert.deepEqual(bf.data, new Float32Array([1]));
  const bi = decodeNpy(npyFile(h(">i4", "(1,)"), [0xff, 0xff, 0xff, 0xfe]));
  assert.deepEqual(bi.data, new Int32Array([-2]));
  // One-dimensional Fortran order is the same layout as C order.
  const f1 = decodeNpy(
    npyFile(pad("{'descr': '|u1', 'fortran_order': True, 'shape': (2,), }", 128), [4, 5]),
  );
  assert.deepEqual(f1.data, new Uint8Array([4, 5]));
});

Deno.test("decodeNpy names the file and the problem for each malformed input", () => {
  const S = "bad.npy";
  const h = (descr: string, shape: string, fortran = "False") =>
    pad(`{'descr': ${descr}, 'fortran_order': ${fortran}, 'shape': ${shape}, }`, 128);
  const good = npyFile(h("'<f4'", "(2,)"), new Uint8Array(8));
  const bumpVersion = good.slice();
  bumpVersion[6] = 4;
  const cases: [Uint8Array, RegExp][] = [
    [latin1("PK\x03\x04 not numpy at all"), /not a \.npy file/],
    [good.subarray(0, 6), /not a \.npy file/],
    [bumpVersion, /unsupported \.npy format version 4\.0/],
    [good.subarray(0, 60), /header length 118 runs past the end of the file \(60 bytes\)/],
    [npyFile(pad("{'descr': '<f4', 'shape': (2,), ", 64), []), /malformed \.npy header/],
    [npyFile(pad("{'descr': '<f4', 'shape': (2,)}", 64), []), /keys are \{descr,shape\}/],
    [npyFile(h("'<f2'", "(2,)"), new Uint8Array(4)), /unsupported \.npy dtype '<f2'/],
    [npyFile(h("'<c8'", "(2,)"), new Uint8Array(16)), /unsupported \.npy dtype '<c8'/],
    [npyFile(h("[('a', '<f4')]", "(2,)"), new Uint8Array(8)), /structured arrays/],
    [npyFile(h("'f4'", "(2,)"), new Uint8Array(8)), /no explicit byte order/],
    [npyFile(h("'<f4'", "(2, -1)"), []), /shape \[2,-1\] is not a tuple/],
    [
      npyFile(h("'<f4'", "(2, 3)", "True"), new Uint8Array(24)),
      /Fortran-order arrays are not supported/,
    ],
    [
      good.subarray(0, good.length - 1),
      /truncated: shape \(2,\) of '<f4' needs 8 data bytes, found 7/,
    ],
    [npyFile(h("'<f4'", "(2,)"), new Uint8Array(9)), /1 unexpected bytes after the array data/],
    [
      npyFile(h("'<i8'", "(1,)"), new Uint8Array(new BigInt64Array([1n << 33n]).buffer)),
      /int64 value 8589934592 at index 0 does not fit int32/,
    ],
  ];
  for (const [bytes, problem] of cases) {
    assert.throws(() => decodeNpy(bytes, S), (err: unknown) => {
      assert.ok(err instanceof FormatError, `expected FormatError, got ${err}`);
      assert.ok(err.message.startsWith(`${S}: `), err.message);
      assert.match(err.message, problem);
      return true;
    });
  }
});

Deno.test("readNpy of a truncated file on disk names the path", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "labels.npy");
  const bytes = encodeNpy({ dtype: "int32", shape: [4], data: new Int32Array([1, 2, 3, 4]) });
  await Deno.writeFile(path, bytes.subarray(0, bytes.length - 4));
  await assert.rejects(readNpy(path), (err: unknown) => {
    assert.ok(err instanceof FormatError);
    assert.equal(err.source, path);
    assert.match(err.message, /truncated: shape \(4,\) of '<i4' needs 16 data bytes, found 12/);
    return true;
  });
  await Deno.remove(dir, { recursive: true });
});
