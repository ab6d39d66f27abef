/**
 * Paddle `.pdparams` files: a pickle of a dict from parameter name to numpy array, as
 * `paddle.save(layer.state_dict())` and the older `fluid.save_dygraph` write them. Reading goes
 * through the restricted unpickler ({@link parsePickle}), which accepts only the globals numpy
 * arrays are pickled with. Paddle names BatchNorm's moving statistics `_mean` and `_variance`;
 * they are read as, and written from, the exchange names `running_mean` and `running_var`.
 * Writing uses protocol 2 opcodes, which every Paddle version (and Python 3's `pickle`) loads.
 *
 * @example
 * ```ts
 * import { decodePdparams, encodePdparams } from "./pdparams.ts";
 *
 * const bytes = encodePdparams(new Map([
 *   ["bn1.running_mean", { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) }],
 * ]));
 * const back = decodePdparams(bytes, "w.pdparams"); // the file says "bn1._mean"
 * console.log(back.get("bn1.running_mean")?.data); // Float32Array [1, 2]
 * ```
 *
 * @module
 */
import { atomicWriteFile, joinChunks } from "./atomic.ts";
import { FormatError } from "./errors.ts";
import {
  assertHostTensor,
  type HostTensor,
  littleEndianBytes,
  type StoredType,
} from "./host_tensor.ts";
import {
  dictEntries,
  latin1Bytes,
  parsePickle,
  PickleCall,
  PickleGlobal,
  type PickleValue,
} from "./pickle.ts";
import { contiguousStrides, gatherStrided } from "./strided.ts";

/** The globals a pickled dict of numpy arrays names; nothing else is accepted. */
export const NUMPY_GLOBALS: ReadonlySet<string> = new Set([
  "numpy.core.multiarray._reconstruct",
  // numpy 2 moved the module.
  "numpy._core.multiarray._reconstruct",
  "numpy.ndarray",
  "numpy.dtype",
  // Protocol 2 has no bytes opcode: Python 3 writes bytes as _codecs.encode(str, "latin1").
  "_codecs.encode",
  "collections.OrderedDict",
]);

/** The key `paddle.save` adds beside the parameters (structured → internal names); skipped. */
const PADDLE_NAME_TABLE = "StructuredToParameterName@@";

const NUMPY_TYPES: Readonly<Record<string, StoredType>> = {
  f2: "float16",
  f4: "float32",
  f8: "float64",
  i1: "int8",
  i2: "int16",
  i4: "int32",
  i8: "int64",
  u1: "uint8",
  b1: "bool",
};

/** Paddle's BatchNorm statistics suffixes and the exchange names they stand for. */
const PADDLE_SUFFIXES: readonly [string, string][] = [
  ["._mean", ".running_mean"],
  ["._variance", ".running_var"],
];

/**
 * The exchange name of a Paddle parameter name (`bn1._mean` → `bn1.running_mean`).
 *
 * @example
 * ```ts
 * import { fromPaddleName } from "./pdparams.ts";
 * console.log(fromPaddleName("layer1.0.bn1._variance")); // "layer1.0.bn1.running_var"
 * ```
 */
export function fromPaddleName(name: string): string {
  for (const [paddle, ours] of PADDLE_SUFFIXES) {
    if (name.endsWith(paddle)) return name.slice(0, -paddle.length) + ours;
  }
  return name;
}

/**
 * The Paddle name of an exchange name (`bn1.running_var` → `bn1._variance`).
 *
 * @example
 * ```ts
 * import { toPaddleName } from "./pdparams.ts";
 * console.log(toPaddleName("bn1.running_mean")); // "bn1._mean"
 * ```
 */
export function toPaddleName(name: string): string {
  for (const [paddle, ours] of PADDLE_SUFFIXES) {
    if (name.endsWith(ours)) return name.slice(0, -ours.length) + paddle;
  }
  return name;
}

function isCallOf(v: PickleValue, ...names: string[]): v is PickleCall {
  return v instanceof PickleCall && names.includes(v.fn.qualifiedName);
}

/** The bytes a pickled `bytes` value stands for, in any of the ways pickles write them. */
function asBytes(v: PickleValue, bad: (p: string) => FormatError): Uint8Array {
  if (v instanceof Uint8Array) return v;
  // Python 2 `str`, read as Latin-1 text.
  if (typeof v === "string") return latin1Bytes(v);
  if (isCallOf(v, "_codecs.encode")) {
    const [text, encoding] = v.args;
    if (typeof text === "string" && (encoding === "latin1" || encoding === "latin-1")) {
      return latin1Bytes(text);
    }
    throw bad(`_codecs.encode is only accepted as (str, "latin1"), got encoding ${encoding}`);
  }
  throw bad("array data is not bytes");
}

function isIntList(v: PickleValue): v is number[] {
  return Array.isArray(v) &&
    v.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0);
}

/**
 * Interprets a recorded `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b"b")` with
 * its `BUILD` state `(version, shape, dtype, fortran_order, data)` as a tensor.
 */
function numpyArray(v: PickleValue, source: string, label: string): HostTensor {
  const bad = (problem: string) => new FormatError(source, `${label}: ${problem}`);
  if (!isCallOf(v, "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct")) {
    throw bad("is not a numpy array");
  }
  const cls = v.args[0];
  if (!(cls instanceof PickleGlobal) || cls.qualifiedName !== "numpy.ndarray") {
    throw bad("_reconstruct of something other than numpy.ndarray");
  }
  const state = v.state;
  if (!Array.isArray(state) || state.length !== 5) throw bad("numpy array without its state");
  const [, shape, dtype, fortran, raw] = state;
  if (!isIntList(shape)) throw bad("numpy array shape is not a tuple of integers");
  if (!isCallOf(dtype, "numpy.dtype") || typeof dtype.args[0] !== "string") {
    throw bad("numpy array without a dtype");
  }
  const code = dtype.args[0].replace(/^[<>|=]/, "");
  const stored = NUMPY_TYPES[code];
  if (stored === undefined) {
    throw bad(`numpy dtype '${dtype.args[0]}' is not readable (${Object.keys(NUMPY_TYPES)})`);
  }
  const dstate = dtype.state;
  const order = Array.isArray(dstate) && typeof dstate[1] === "string" ? dstate[1] : "<";
  const bytes = asBytes(raw, bad);
  const strides = contiguousStrides(shape);
  if (fortran === true) {
    for (let d = 0, step = 1; d < shape.length; d++) {
      strides[d] = step;
      step *= shape[d];
    }
  }
  const expected = shape.reduce((n, d) => n * d, 1) * Number(code.slice(1));
  if (bytes.length !== expected) {
    throw bad(
      `numpy array of shape (${shape}) ${code} holds ${bytes.length} bytes, not ${expected}`,
    );
  }
  return gatherStrided(bytes, {
    stored,
    littleEndian: order === ">" ? false : order === "=" ? isLittleEndianHost() : true,
    shape,
    strides,
    offset: 0,
    source,
    label,
  });
}

function isLittleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/**
 * Decodes a `.pdparams` pickle into tensors under the exchange names (`_mean`/`_variance` become
 * `running_mean`/`running_var`); `StructuredToParameterName@@` is skipped.
 *
 * @throws {PickleRefusedError} for any global besides numpy's array globals (nothing is run).
 * @throws {FormatError} for anything but a dict of numpy arrays, naming the entry.
 */
export function decodePdparams(bytes: Uint8Array, source = "<memory>"): Map<string, HostTensor> {
  const { value } = parsePickle(bytes, { globals: NUMPY_GLOBALS, source });
  const out = new Map<string, HostTensor>();
  for (const [key, v] of dictEntries(value, source, "the pickle")) {
    if (typeof key !== "string") throw new FormatError(source, `a key is not a string: ${key}`);
    if (key === PADDLE_NAME_TABLE) continue;
    const name = fromPaddleName(key);
    if (out.has(name)) throw new FormatError(source, `'${key}' appears twice as ${name}`);
    out.set(name, numpyArray(v, source, `'${key}'`));
  }
  return out;
}

/** Protocol-2 opcodes, written by hand; no memo, since nothing is shared. */
class Protocol2Writer {
  private chunks: Uint8Array[] = [];
  private small: number[] = [];
  private readonly utf8 = new TextEncoder();

  byte(...b: number[]): void {
    this.small.push(...b);
  }
  raw(bytes: Uint8Array): void {
    this.flush();
    this.chunks.push(bytes);
  }
  private flush(): void {
    if (this.small.length) this.chunks.push(new Uint8Array(this.small));
    this.small = [];
  }
  int(n: number): void {
    if (n >= 0 && n < 256) this.byte(0x4b, n);
    else if (n >= 0 && n < 65536) this.byte(0x4d, n & 0xff, n >> 8);
    else if (n >= -(2 ** 31) && n < 2 ** 31) {
      this.byte(0x4a, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff);
    } else throw new RangeError(`integer ${n} does not fit a protocol-2 BININT`);
  }
  unicodeBytes(encoded: Uint8Array): void {
    const n = encoded.length;
    if (n >= 2 ** 32) throw new RangeError("string too long for protocol 2");
    this.byte(0x58, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff);
    this.raw(encoded);
  }
  str(s: string): void {
    this.unicodeBytes(this.utf8.encode(s));
  }
  global(module: string, name: string): void {
    this.byte(0x63);
    this.raw(this.utf8.encode(`${module}\n${name}\n`));
  }
  /** `bytes` as protocol 2 has them: `_codecs.encode(<latin-1 text>, "latin1")`. */
  bytes(b: Uint8Array): void {
    this.global("_codecs", "encode");
    // The Latin-1 text, UTF-8 encoded: bytes from 0x80 take two.
    let n = b.length;
    for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) n++;
    const out = new Uint8Array(n);
    for (let i = 0, j = 0; i < b.length; i++) {
      const c = b[i];
      if (c < 0x80) out[j++] = c;
      else {
        out[j++] = 0xc0 | (c >> 6);
        out[j++] = 0x80 | (c & 0x3f);
      }
    }
    this.unicodeBytes(out);
    this.str("latin1");
    this.byte(0x86, 0x52); // TUPLE2 REDUCE
  }
  tuple(write: () => void, count: number): void {
    if (count === 0) return this.byte(0x29);
    if (count > 3) this.byte(0x28);
    write();
    this.byte(count > 3 ? 0x74 : [0, 0x85, 0x86, 0x87][count]);
  }
  done(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }
}

const NUMPY_CODE: Readonly<Record<HostTensor["dtype"], string>> = {
  float32: "f4",
  int32: "i4",
  uint8: "u1",
};

function writeArray(w: Protocol2Writer, t: HostTensor): void {
  w.global("numpy.core.multiarray", "_reconstruct");
  w.global("numpy", "ndarray");
  w.tuple(() => w.int(0), 1);
  w.bytes(new Uint8Array([0x62])); // b"b"
  w.byte(0x87, 0x52); // TUPLE3 REDUCE
  w.tuple(() => {
    w.int(1);
    w.tuple(() => t.shape.forEach((d) => w.int(d)), t.shape.length);
    w.global("numpy", "dtype");
    w.tuple(() => {
      w.str(NUMPY_CODE[t.dtype]);
      w.byte(0x89, 0x88); // False, True
    }, 3);
    w.byte(0x52); // REDUCE
    w.tuple(() => {
      w.int(3);
      w.str(t.dtype === "uint8" ? "|" : "<");
      w.byte(0x4e, 0x4e, 0x4e); // None ×3
      w.int(-1);
      w.int(-1);
      w.int(0);
    }, 8);
    w.byte(0x62); // BUILD
    w.byte(0x89); // not Fortran order
    w.bytes(littleEndianBytes(t));
  }, 5);
  w.byte(0x62); // BUILD
}

function encodeChunks(tensors: Map<string, HostTensor>): Uint8Array[] {
  const w = new Protocol2Writer();
  w.byte(0x80, 2, 0x7d); // PROTO 2, EMPTY_DICT
  for (const [name, t] of tensors) {
    assertHostTensor(name, t);
    w.byte(0x28); // MARK
    w.str(toPaddleName(name));
    writeArray(w, t);
    w.byte(0x75); // SETITEMS
  }
  w.byte(0x2e); // STOP
  return w.done();
}

/**
 * Encodes tensors (exchange names, conv kernels OIHW) as a `.pdparams` pickle: protocol 2, a
 * dict of Paddle names (`running_mean` → `_mean`, `running_var` → `_variance`) to numpy arrays,
 * which `paddle.load` reads and `Layer.set_dict` accepts.
 *
 * @example
 * ```ts
 * import { encodePdparams } from "./pdparams.ts";
 * const bytes = encodePdparams(new Map());
 * console.log(bytes); // Uint8Array [128, 2, 125, 46]: {}
 * ```
 */
export function encodePdparams(tensors: Map<string, HostTensor>): Uint8Array {
  return joinChunks(encodeChunks(tensors));
}

/**
 * Writes a `.pdparams` file ({@link encodePdparams}) atomically.
 *
 * @example
 * ```ts ignore
 * import { writePdparams } from "./pdparams.ts";
 * await writePdparams("resnet50_fcn.pdparams", tensors);
 * ```
 */
export async function writePdparams(path: string, tensors: Map<string, HostTensor>): Promise<void> {
  await atomicWriteFile(path, encodeChunks(tensors));
}
