import assert from "node:assert/strict";
import { join } from "node:path";
import {
  decodeSafetensors,
  encodeSafetensors,
  FormatError,
  type HostTensor,
  readSafetensors,
  writeSafetensors,
} from "../../src/io/safetensors.ts";

const enc = new TextEncoder();

/** A safetensors file from a header text (padded by the caller or not) and raw data bytes. */
function build(header: string | Uint8Array, data: number[] | Uint8Array = []): Uint8Array {
  const h = typeof header === "string" ? enc.encode(header) : header;
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function bytesOf(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function f32(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

Deno.test("encodeSafetensors reproduces the reference serializer's bytes for one F32 tensor", () => {
  // Expected bytes are the Rust crate's own test vector (test_serialization).
  const out = encodeSafetensors(
    new Map([["attn.0", {
      dtype: "float32",
      shape: [1, 2, 3],
      data: new Float32Array([0, 1, 2, 3, 4, 5]),
    }]]),
  );
  const expected = [
    64,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    123,
    34,
    97,
    116,
    116,
    110,
    46,
    48,
    34,
    58,
    123,
    34,
    100,
    116,
    121,
    112,
    101,
    34,
    58,
    34,
    70,
    51,
    50,
    34,
    44,
    34,
    115,
    104,
    97,
    112,
    101,
    34,
    58,
    91,
    49,
    44,
    50,
    44,
    51,
    93,
    44,
    34,
    100,
    97,
    116,
    97,
    95,
    111,
    102,
    102,
    115,
    101,
    116,
    115,
    34,
    58,
    91,
    48,
    44,
    50,
    52,
    93,
    125,
    125,
    0,
    0,
    0,
    0,
    0,
    0,
    128,
    63,
    0,
    0,
    0,
    64,
    0,
    0,
    64,
    64,
    0,
    0,
    128,
    64,
    0,
    0,
    160,
    64,
  ];
  assert.deepEqual([...out], expected);
});

Deno.test("encodeSafetensors pads the header with spaces to 8 bytes like the reference", () => {
  // Reference vectors test_empty and test_serialization_forced_alignement.
  assert.deepEqual([...encodeSafetensors(new Map())], [
    8,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    123,
    125,
    32,
    32,
    32,
    32,
    32,
    32,
  ]);
  assert.deepEqual([...encodeSafetensors(new Map(), { framework: "pt" })], [
    40,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    123,
    34,
    95,
    95,
    109,
    101,
    116,
    97,
    100,
    97,
    116,
    97,
    95,
    95,
    34,
    58,
    123,
    34,
    102,
    114,
    97,
    109,
    101,
    119,
    111,
    114,
    107,
    34,
    58,
    34,
    112,
    116,
    34,
    125,
    125,
    32,
    32,
    32,
    32,
    32,
  ]);
  const aligned = encodeSafetensors(
    new Map([["attn0", {
      dtype: "float32",
      shape: [1, 1, 2, 3],
      data: new Float32Array([0, 1, 2, 3, 4, 5]),
    }]]),
  );
  assert.equal(new DataView(aligned.buffer).getBigUint64(0, true), 72n);
  assert.equal(
    new TextDecoder().decode(aligned.subarray(8, 80)),
    '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ',
  );
});

Deno.test("encodeSafetensors orders tensors by dtype alignment then name, metadata first", () => {
  const out = encodeSafetensors(
    new Map<string, HostTensor>([
      ["b", { dtype: "uint8", shape: [3], data: new Uint8Array([1, 2, 3]) }],
      ["a", { dtype: "int32", shape: [1], data: new Int32Array([-2]) }],
      ["z", { dtype: "float32", shape: [], data: new Float32Array([0.5]) }],
      ["10", { dtype: "float32", shape: [1], data: new Float32Array([2]) }],
    ]),
    { zeta: "1", alpha: "2" },
  );
  const header = '{"__metadata__":{"alpha":"2","zeta":"1"},' +
    '"10":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
    '"z":{"dtype":"F32","shape":[],"data_offsets":[4,8]},' +
    '"a":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},' +
    '"b":{"dtype":"U8","shape":[3],"data_offsets":[12,15]}}';
  const padded = header.padEnd(Math.ceil(header.length / 8) * 8, " ");
  const data = [0, 0, 0, 64, 0, 0, 0, 63, 254, 255, 255, 255, 1, 2, 3];
  assert.deepEqual([...out], [...build(padded, data)]);
});

Deno.test("safetensors round trip is bit-exact: NaN payloads, -0, odd and scalar shapes", async () => {
  const bits = new Uint32Array([
    0x7fc00001,
    0xffa5a5a5,
    0x7f800001,
    0x80000000,
    0x00000001,
    0x7f800000,
  ]);
  const tensors = new Map<string, HostTensor>([
    ["nan.payloads", { dtype: "float32", shape: [2, 3], data: new Float32Array(bits.buffer) }],
    ["odd", {
      dtype: "float32",
      shape: [3, 1, 5],
      data: Float32Array.from({ length: 15 }, (_, i) => i / 7 - 1),
    }],
    ["scalar", { dtype: "float32", shape: [], data: new Float32Array([-0]) }],
    ["empty", { dtype: "float32", shape: [2, 0, 3], data: new Float32Array(0) }],
    ["ints", {
      dtype: "int32",
      shape: [4],
      data: new Int32Array([-2147483648, 2147483647, -1, 0]),
    }],
    ["bytes", { dtype: "uint8", shape: [1, 3], data: new Uint8Array([0, 128, 255]) }],
  ]);
  const dir = await Deno.makeTempDir();
  const path = join(dir, "rt.safetensors");
  await writeSafetensors(path, tensors, { note: "ünïcode ✓" });
  const back = await readSafetensors(path);
  assert.deepEqual(back.metadata, { note: "ünïcode ✓" });
  assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
  for (const [name, t] of tensors) {
    const b = back.tensors.get(name)!;
    assert.equal(b.dtype, t.dtype, name);
    assert.deepEqual(b.shape, t.shape, name);
    assert.deepEqual([...bytesOf(b)], [...bytesOf(t)], name);
  }
  assert.ok(Object.is(back.tensors.get("scalar")!.data[0], -0));
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["rt.safetensors"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeSafetensors replaces an existing file and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "w.safetensors");
  await Deno.writeTextFile(path, "old content");
  const t: HostTensor = { dtype: "int32", shape: [2], data: new Int32Array([5, 6]) };
  await writeSafetensors(path, new Map([["x", t]]));
  assert.deepEqual([...(await readSafetensors(path)).tensors.get("x")!.data], [5, 6]);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["w.safetensors"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("decodeSafetensors reads a hand-built file in any header order, converting F64 and I64", () => {
  const f64 = new Uint8Array(new Float64Array([1.5, -2.25]).buffer);
  const i64 = new Uint8Array(new BigInt64Array([7n, -3n]).buffer);
  const header = '{"w":{"data_offsets":[16,32],"shape":[2],"dtype":"F64"},' +
    '"__metadata__":{"format":"pt"},' +
    '"n":{"dtype":"I64","shape":[2,1],"data_offsets":[0,16]},' +
    '"u":{"dtype":"U8","shape":[],"data_offsets":[32,33]}}';
  const { tensors, metadata } = decodeSafetensors(build(header, [...i64, ...f64, 9]), "h.st");
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual([...tensors.keys()], ["n", "w", "u"]);
  assert.deepEqual(tensors.get("w"), {
    dtype: "float32",
    shape: [2],
    data: new Float32Array([1.5, -2.25]),
  });
  assert.deepEqual(tensors.get("n"), {
    dtype: "int32",
    shape: [2, 1],
    data: new Int32Array([7, -3]),
  });
  assert.deepEqual(tensors.get("u"), { dtype: "uint8", shape: [], data: new Uint8Array([9]) });
});

function assertFormatError(fn: () => unknown, source: string, problem: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FormatError, `expected FormatError, got ${err}`);
    assert.ok(err.message.startsWith(`${source}: `), err.message);
    assert.match(err.message, problem);
    return true;
  });
}

Deno.test("decodeSafetensors names the source and the problem for each malformed file", () => {
  const S = "bad.safetensors";
  const ok = '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(5), /5 bytes is too short/],
    [
      build(ok, f32([1, 2])).subarray(0, 20),
      /header length 54 runs past the end of the file \(12 bytes follow/,
    ],
    [build('{"t":{"dtype":"F32",'), /not valid JSON/],
    [build("[1,2]"), /not a JSON object/],
    [build(new Uint8Array([0x7b, 0xff, 0x7d])), /header is not valid UTF-8/],
    [
      build('{"t":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}', f32([1])),
      /unknown dtype 'Q7'/,
    ],
    [
      build('{"t":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}', [0, 0]),
      /unsupported dtype 'F16'/,
    ],
    [
      build('{"t":{"dtype":"F32","shape":[1,-2],"data_offsets":[0,4]}}', f32([1])),
      /shape \[1,-2\]/,
    ],
    [build('{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', f32([1, 2])), /data_offsets/],
    [
      build('{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', f32([1, 2])),
      /tensor 't': data_offsets \[0, 8\] span 8 bytes but shape \[3\] of F32 needs 12/,
    ],
    [
      build(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
          '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        f32([1, 2]),
      ),
      /overlaps tensor 'a'/,
    ],
    [
      build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32([1, 2])),
      /gap of 4 bytes before tensor 'a'/,
    ],
    [build(ok, f32([1])), /truncated: the header describes 8 data bytes but only 4 follow/],
    [build(ok, [...f32([1, 2]), 0]), /1 unexpected bytes after the last tensor/],
    [build('{"__metadata__":{"epoch":3}}'), /__metadata__ value 'epoch' is number/],
    [
      build(
        '{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}',
        new Uint8Array(new BigInt64Array([1n << 40n]).buffer),
      ),
      /tensor 'n': int64 value 1099511627776 at index 0 does not fit int32/,
    ],
  ];
  for (const [bytes, problem] of cases) {
    assertFormatError(() => decodeSafetensors(bytes, S), S, problem);
  }
});

Deno.test("readSafetensors of a truncated file names the file and says truncated", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "cut.safetensors");
  const bytes = encodeSafetensors(
    new Map([["w", { dtype: "float32", shape: [4], data: new Float32Array(4) }]]),
  );
  await Deno.writeFile(path, bytes.subarray(0, bytes.length - 3));
  await assert.rejects(readSafetensors(path), (err: unknown) => {
    assert.ok(err instanceof FormatError);
    assert.equal(err.source, path);
    assert.match(err.message, /truncated: the header describes 16 data bytes but only 13 follow/);
    return true;
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("encodeSafetensors refuses a tensor whose data does not fit its shape or dtype", () => {
  assert.throws(
    () =>
      encodeSafetensors(
        new Map([["w", { dtype: "float32", shape: [2, 2], data: new Float32Array(3) }]]),
      ),
    /tensor 'w': data has 3 elements but shape \[2,2\] needs 4/,
  );
  assert.throws(
    () =>
      encodeSafetensors(
        new Map([["w", { dtype: "int32", shape: [1], data: new Float32Array(1) }]] as [
          string,
          HostTensor,
        ][]),
      ),
    /tensor 'w': dtype int32 needs a Int32Array/,
  );
});
