import assert from "node:assert/strict";
import type { HostTensor } from "../../src/io/host_tensor.ts";
import {
  decodePdparams,
  encodePdparams,
  fromPaddleName,
  toPaddleName,
  writePdparams,
} from "../../src/io/pdparams.ts";
import { findPython, findPythons, reportSkip, runPython } from "./python.ts";

const python = await findPython(["numpy"]);
const pythons = await findPythons(["numpy"]);
reportSkip(python, ".pdparams tests against numpy", "numpy (apt-get install python3-numpy)");

function hex(t: HostTensor): string {
  const b = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Tensors with awkward values: signed zeros, NaN payloads, denormals, shapes of rank 0 to 5. */
function sampleTensors(): Map<string, HostTensor> {
  const f = (shape: number[], seed: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from(
      { length: n },
      (_, i) => Math.sin(seed + i * 1.37) * 10 ** (i % 7 - 3),
    );
    if (n > 3) {
      data[0] = -0;
      data[1] = 1e-45;
      new Uint32Array(data.buffer)[2] = 0x7fc12345;
    }
    return { dtype: "float32" as const, shape, data };
  };
  return new Map<string, HostTensor>([
    ["conv1.weight", f([4, 3, 2, 2], 1)],
    ["bn1.running_mean", f([4], 2)],
    ["bn1.running_var", f([4], 3)],
    ["scalar", f([], 4)],
    ["empty", f([0, 3], 5)],
    ["rank5", f([1, 2, 1, 3, 2], 6)],
    ["big.dims", f([300, 70000].map((d, i) => i ? 1 : d), 7)],
    ["ints", { dtype: "int32", shape: [3], data: new Int32Array([-1, 2 ** 31 - 1, -(2 ** 31)]) }],
    ["bytes", { dtype: "uint8", shape: [2, 2], data: new Uint8Array([0, 127, 128, 255]) }],
  ]);
}

Deno.test("Paddle names of BatchNorm statistics map both ways", () => {
  assert.equal(fromPaddleName("layer1.0.bn1._mean"), "layer1.0.bn1.running_mean");
  assert.equal(fromPaddleName("bn1._variance"), "bn1.running_var");
  assert.equal(fromPaddleName("conv1.weight"), "conv1.weight");
  assert.equal(
    toPaddleName("layer4.2.downsample.1.running_var"),
    "layer4.2.downsample.1._variance",
  );
  assert.equal(toPaddleName("bn1.running_mean"), "bn1._mean");
});

Deno.test("encoded .pdparams decode to the same tensors, bit for bit", () => {
  const tensors = sampleTensors();
  const bytes = encodePdparams(tensors);
  const text = new TextDecoder("latin1").decode(bytes);
  assert.ok(text.includes("bn1._mean") && !text.includes("running_mean"), "Paddle names in file");
  const back = decodePdparams(bytes, "x.pdparams");
  assert.deepEqual([...back.keys()], [...tensors.keys()]);
  for (const [name, t] of tensors) {
    const got = back.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.equal(hex(got), hex(t), name);
  }
});

Deno.test({
  name: "numpy-made .pdparams (protocols 2-4, any dtype, order and byte order) load bit-exactly",
  ignore: python === null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      for (const py of pythons) {
        const out = await runPython(
          py,
          `import json, pickle, sys, numpy as np
rng = np.random.default_rng(3)
w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
w.flat[0] = -0.0
d = {
    "conv1.weight": w,
    "bn1._mean": rng.standard_normal(4).astype(np.float32),
    "bn1._variance": rng.random(4).astype(np.float32) + 0.5,
    "fortran": np.asfortranarray(rng.standard_normal((3, 5)).astype(np.float32)),
    "big_endian": rng.standard_normal(6).astype(">f4"),
    "double": rng.standard_normal((2, 3)),
    "half": rng.standard_normal(5).astype(np.float16),
    "long": np.array([1, -2, 2**31 - 1], np.int64),
    "byte": np.array([0, 200, 255], np.uint8),
    "flag": np.array([True, False]),
    "scalar": np.array(2.5, np.float32),
    "StructuredToParameterName@@": {"conv1.weight": "conv2d_0.w_0"},
}
for protocol in (2, 3, 4):
    with open(f"{sys.argv[1]}/p{protocol}.pdparams", "wb") as f:
        pickle.dump(d, f, protocol=protocol)
want = {}
for k, v in d.items():
    if k.startswith("Structured"):
        continue
    t = v.astype(np.float32) if v.dtype.kind == "f" else v.astype(np.int32) if v.dtype.kind == "i" else v.astype(np.uint8)
    t = t.astype(t.dtype.newbyteorder("<"), order="C")
    want[k.replace("._mean", ".running_mean").replace("._variance", ".running_var")] = [
        {"f": "float32", "i": "int32", "u": "uint8"}[t.dtype.kind], list(t.shape), t.tobytes().hex()]
print(json.dumps(want))`,
          [dir],
        );
        const want = JSON.parse(out) as Record<string, [string, number[], string]>;
        for (const protocol of [2, 3, 4]) {
          const path = `${dir}/p${protocol}.pdparams`;
          const got = decodePdparams(await Deno.readFile(path), path);
          const what = `${py}, protocol ${protocol}`;
          assert.deepEqual([...got.keys()].sort(), Object.keys(want).sort(), what);
          for (const [name, [dtype, shape, bytes]] of Object.entries(want)) {
            const t = got.get(name)!;
            assert.equal(t.dtype, dtype, `${name}, ${what}`);
            assert.deepEqual(t.shape, shape, `${name}, ${what}`);
            assert.equal(hex(t), bytes, `${name}, ${what}`);
          }
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "written .pdparams load with Python's pickle as the same numpy arrays, Paddle names",
  ignore: python === null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const tensors = sampleTensors();
      await writePdparams(`${dir}/w.pdparams`, tensors);
      const out = await runPython(
        python!,
        `import json, pickle, sys, numpy as np
d = pickle.load(open(sys.argv[1], "rb"))
assert type(d) is dict, type(d)
print(json.dumps({k: [str(v.dtype), list(v.shape), v.flags.c_contiguous,
                      np.ascontiguousarray(v).tobytes().hex()] for k, v in d.items()}))`,
        [`${dir}/w.pdparams`],
      );
      const got = JSON.parse(out) as Record<string, [string, number[], boolean, string]>;
      assert.deepEqual(Object.keys(got), [...tensors.keys()].map(toPaddleName));
      for (const [name, t] of tensors) {
        const [dtype, shape, contiguous, bytes] = got[toPaddleName(name)];
        assert.equal(dtype, t.dtype, name);
        assert.deepEqual(shape, t.shape, name);
        assert.ok(contiguous, name);
        assert.equal(bytes, hex(t), name);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a .pdparams entry that is not an array is an error naming it", () => {
  // {"conv1.weight": 3}
  const bytes = Uint8Array.from(
    "\x80\x02}X\x0c\x00\x00\x00conv1.weightK\x03s.",
    (c) => c.charCodeAt(0),
  );
  assert.throws(
    () => decodePdparams(bytes, "w.pdparams"),
    /^FormatError: w\.pdparams: 'conv1\.weight': is not a numpy array$/,
  );
});
