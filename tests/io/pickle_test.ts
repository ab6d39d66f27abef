import assert from "node:assert/strict";
import { FormatError } from "../../src/io/errors.ts";
import { decodePdparams } from "../../src/io/pdparams.ts";
import {
  parsePickle,
  PickleCall,
  PickleGlobal,
  PickleRefusedError,
  type PickleValue,
} from "../../src/io/pickle.ts";
import { findPython, reportSkip, runPython } from "./python.ts";

const python = await findPython(["numpy"]);
reportSkip(python, "pickle tests against Python's pickle", "numpy (apt-get install python3-numpy)");

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const none = new Set<string>();

Deno.test("protocol-2 data opcodes build the values Python pickled", () => {
  // pickle.dumps({"a": [1, -2, 70000, 2**70, 1.5, None, True, b"xy", ("t", 3)]}, protocol=2),
  // bytes written out by hand from pickletools' listing.
  const bytes = latin1(
    "\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffJp\x11\x01\x00" +
      "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00@G?\xf8\x00\x00\x00\x00\x00\x00N\x88" +
      "C\x02xyX\x01\x00\x00\x00tK\x03\x86es.",
  );
  const { value, end } = parsePickle(bytes, { globals: none });
  assert.equal(end, bytes.length);
  assert.deepEqual(
    value,
    new Map<PickleValue, PickleValue>([[
      "a",
      [1, -2, 70000, 2n ** 70n, 1.5, null, true, new Uint8Array([0x78, 0x79]), ["t", 3]],
    ]]),
  );
});

Deno.test("a global outside the allowlist is refused by name, GLOBAL or STACK_GLOBAL", () => {
  // cposix\nsystem + ("touch x",) + REDUCE: what pickling os.system("touch x") gives.
  const classic = latin1("\x80\x02cposix\nsystem\nX\x07\x00\x00\x00touch x\x85R.");
  assert.throws(() => parsePickle(classic, { globals: none, source: "evil.pth" }), (e: Error) => {
    assert.ok(e instanceof PickleRefusedError && e instanceof FormatError);
    assert.match(e.message, /^evil\.pth: refused: the pickle names posix\.system/);
    assert.match(e.message, /nothing in it was run/);
    return true;
  });
  const stacked = latin1(
    "\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x011\x85R.",
  );
  assert.throws(
    () => parsePickle(stacked, { globals: new Set(["numpy.dtype"]) }),
    /names builtins\.eval, .*allowed: numpy\.dtype/,
  );
  // An allowed global is recorded, not called.
  const ok = parsePickle(latin1("\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f4\x85R."), {
    globals: new Set(["numpy.dtype"]),
  }).value;
  assert.ok(ok instanceof PickleCall);
  assert.ok(ok.fn instanceof PickleGlobal && ok.fn.qualifiedName === "numpy.dtype");
  assert.deepEqual(ok.args, ["f4"]);
});

Deno.test("opcodes that build arbitrary objects, and protocols 0, 1 and 5, are refused", () => {
  const cases: [string, RegExp][] = [
    ["\x80\x02(X\x01\x00\x00\x00xiposix\nsystem\n.", /opcode INST/],
    ["\x80\x02)\x81.", /opcode NEWOBJ/],
    ["\x80\x02\x82\x01.", /opcode EXT1/],
    ["\x80\x05N.", /protocol 5/],
    ["(lp0\n.", /protocol 0\/1 pickle/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parsePickle(latin1(text), { globals: none }), (e: Error) => {
      assert.ok(e instanceof PickleRefusedError, text);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("truncated and malformed pickles are format errors naming the file", () => {
  const cases: [string, RegExp][] = [
    ["\x80\x02X\xff\x00\x00\x00ab", /truncated/],
    ["\x80\x02h\x05.", /memo entry 5 was never stored/],
    ["\x80\x02K\x01K\x02.", /STOP with 2 items/],
    ["\x80\x02]K\x01K\x02s.", /SETITEM on something that is not a dict/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parsePickle(latin1(text), { globals: none, source: "w.pdparams" }), (e) => {
      assert.ok(e instanceof FormatError && !(e instanceof PickleRefusedError), text);
      assert.match(e.message, /^w\.pdparams: pickle at byte \d+: /);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test({
  name: "Python's pickles, protocols 2 to 4, parse to the same values",
  ignore: python === null,
  fn: async () => {
    for (const protocol of [2, 3, 4]) {
      const hex = await runPython(
        python!,
        `import pickle, sys, collections
v = {"s": "ünï", "i": [0, 255, 256, 65535, 65536, -1, 2**31 - 1, -2**31, 2**40, -2**70],
     "f": 0.1, "t": (), "t1": (1,), "t4": (1, 2, 3, 4), "b": b"\\x00\\xff" * 200, "n": None,
     "x": [True, False], "o": collections.OrderedDict([("k", 1)])}
v["again"] = v["t4"]
sys.stdout.write(pickle.dumps(v, protocol=int(sys.argv[1])).hex())`,
        [String(protocol)],
      );
      const bytes = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
      const { value } = parsePickle(bytes, {
        globals: new Set(["collections.OrderedDict", "_codecs.encode"]),
      });
      assert.ok(value instanceof Map);
      assert.equal(value.get("s"), "ünï");
      assert.deepEqual(value.get("i"), [
        0,
        255,
        256,
        65535,
        65536,
        -1,
        2 ** 31 - 1,
        -(2 ** 31),
        2 ** 40,
        -(2n ** 70n),
      ]);
      assert.equal(value.get("f"), 0.1);
      assert.deepEqual(value.get("t"), []);
      assert.deepEqual(value.get("t4"), [1, 2, 3, 4]);
      assert.equal(value.get("again"), value.get("t4"), "memo keeps the shared object");
      const b = value.get("b");
      const want = new Uint8Array(400).map((_, i) => i % 2 ? 255 : 0);
      if (protocol >= 3) assert.deepEqual(b, want);
      else {
        // Protocol 2 has no bytes opcode: Python writes _codecs.encode(latin-1 text, "latin1").
        assert.ok(b instanceof PickleCall && b.fn.qualifiedName === "_codecs.encode");
        assert.deepEqual(b.args, [String.fromCharCode(...want), "latin1"]);
      }
      assert.equal(value.get("n"), null);
      assert.deepEqual(value.get("x"), [true, false]);
      const o = value.get("o");
      assert.ok(o instanceof PickleCall && o.fn.qualifiedName === "collections.OrderedDict");
      assert.deepEqual(o.dictItems, [["k", 1]]);
    }
  },
});

Deno.test({
  name: "a pickle that Python would let run os.system is refused before anything runs",
  ignore: python === null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const evil = `${dir}/evil.pdparams`;
      // A genuine array first, then an entry whose unpickling calls os.system.
      await runPython(
        python!,
        `import os, pickle, sys, numpy as np
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
with open(sys.argv[1], "wb") as f:
    pickle.dump({"conv1.weight": np.ones((2, 2), np.float32), "x": Evil()}, f, protocol=2)`,
        [evil, `${dir}/ran-in-python`],
      );
      // The file is real: Python's own unpickler runs the command.
      await runPython(python!, "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))", [evil]);
      assert.ok((await Deno.stat(`${dir}/ran-in-python`)).isFile);
      await Deno.remove(`${dir}/ran-in-python`);
      assert.throws(() => decodePdparams(Deno.readFileSync(evil), evil), (e: Error) => {
        assert.ok(e instanceof PickleRefusedError);
        assert.match(e.message, /names posix\.system/);
        return true;
      });
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["evil.pdparams"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
