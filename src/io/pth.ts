/**
 * PyTorch `.pth`/`.pt` state dicts, as `torch.save(model.state_dict(), path)` writes them: the
 * zip format (default since PyTorch 1.6: `<name>/data.pkl` plus one member `<name>/data/<key>`
 * per storage) and the legacy format (`_use_new_zipfile_serialization=False`: a magic number,
 * protocol and system-info pickles, the state-dict pickle, the list of storage keys, then each
 * storage as an 8-byte element count and its bytes). The pickles go through the restricted
 * unpickler ({@link parsePickle}): only `collections.OrderedDict`, torch's typed storages and
 * `torch._utils._rebuild_tensor_v2` (and `_rebuild_parameter`, for saved parameters) are
 * accepted; anything else is refused before any of it is interpreted.
 *
 * @example
 * ```ts ignore
 * import { decodePth } from "./pth.ts";
 * const tensors = await decodePth(await Deno.readFile("resnet50.pth"), "resnet50.pth");
 * console.log(tensors.get("conv1.weight")?.shape); // [64, 3, 7, 7]
 * ```
 *
 * @module
 */
import { FormatError } from "./errors.ts";
import { type HostTensor, STORED_SIZE, type StoredType } from "./host_tensor.ts";
import {
  dictEntries,
  parsePickle,
  PickleCall,
  PickleGlobal,
  PicklePersistent,
  type PickleValue,
} from "./pickle.ts";
import { gatherStrided } from "./strided.ts";
import { readZip } from "./zip.ts";

/** Element type of each torch storage class. */
const STORAGES: Readonly<Record<string, StoredType>> = {
  FloatStorage: "float32",
  DoubleStorage: "float64",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

/** The globals a state-dict pickle names; nothing else is accepted. */
export const TORCH_GLOBALS: ReadonlySet<string> = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
]);

/** The first pickle of a legacy file: torch's magic number. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** Legacy format version torch writes and reads. */
const LEGACY_PROTOCOL = 1001;

/** A storage a tensor refers to, from its persistent id. */
interface StorageRef {
  key: string;
  stored: StoredType;
  numel: number;
}

function storageRef(p: PicklePersistent, bad: (problem: string) => FormatError): StorageRef {
  const id = p.id;
  if (!Array.isArray(id) || id[0] !== "storage" || id.length < 5) {
    throw bad("persistent id is not a torch storage");
  }
  const [, type, key, , numel] = id;
  const stored = type instanceof PickleGlobal && type.module === "torch"
    ? STORAGES[type.name]
    : undefined;
  if (stored === undefined || typeof key !== "string" || typeof numel !== "number") {
    throw bad("malformed torch storage reference");
  }
  if (id.length > 5 && id[5] !== null) {
    throw bad("storage views of the pre-1.0 format are not supported");
  }
  return { key, stored, numel };
}

/** Every storage the graph refers to, by key. */
function collectStorages(
  v: PickleValue,
  bad: (problem: string) => FormatError,
  out = new Map<string, StorageRef>(),
  seen = new Set<object>(),
): Map<string, StorageRef> {
  if (v === null || typeof v !== "object" || v instanceof Uint8Array || seen.has(v)) return out;
  seen.add(v);
  if (v instanceof PicklePersistent) {
    const ref = storageRef(v, bad);
    const known = out.get(ref.key);
    if (known && known.stored !== ref.stored) {
      throw bad(`storage ${ref.key} is referred to as both ${known.stored} and ${ref.stored}`);
    }
    if (!known || ref.numel > known.numel) out.set(ref.key, ref);
  } else if (Array.isArray(v)) v.forEach((x) => collectStorages(x, bad, out, seen));
  else if (v instanceof Map) {
    for (const [k, x] of v) {
      collectStorages(k, bad, out, seen);
      collectStorages(x, bad, out, seen);
    }
  } else if (v instanceof PickleCall) {
    v.args.forEach((x) => collectStorages(x, bad, out, seen));
    v.dictItems.forEach(([, x]) => collectStorages(x, bad, out, seen));
    v.listItems.forEach((x) => collectStorages(x, bad, out, seen));
  }
  return out;
}

function isIntList(v: PickleValue): v is number[] {
  return Array.isArray(v) && v.every((d) => typeof d === "number" && Number.isSafeInteger(d));
}

/** Interprets `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`. */
function rebuildTensor(
  v: PickleValue,
  storages: Map<string, Uint8Array>,
  littleEndian: boolean,
  source: string,
  label: string,
): HostTensor {
  const bad = (problem: string) => new FormatError(source, `${label}: ${problem}`);
  if (v instanceof PickleCall && v.fn.qualifiedName === "torch._utils._rebuild_parameter") {
    return rebuildTensor(v.args[0], storages, littleEndian, source, label);
  }
  if (!(v instanceof PickleCall) || v.fn.qualifiedName !== "torch._utils._rebuild_tensor_v2") {
    throw bad(
      "is not a tensor; a .pth must hold a state dict (torch.save(model.state_dict(), path))",
    );
  }
  const [storage, offset, shape, strides, , hooks] = v.args;
  if (
    !(storage instanceof PicklePersistent) || typeof offset !== "number" || !isIntList(shape) ||
    !isIntList(strides)
  ) {
    throw bad("malformed _rebuild_tensor_v2 arguments");
  }
  if (hooks !== undefined && hooks !== null && dictEntries(hooks, source, label).length) {
    throw bad("has backward hooks, which a state dict never holds");
  }
  const ref = storageRef(storage, bad);
  const bytes = storages.get(ref.key);
  if (bytes === undefined) throw bad(`storage ${ref.key} is missing from the file`);
  return gatherStrided(bytes, {
    stored: ref.stored,
    littleEndian,
    shape,
    strides,
    offset,
    source,
    label,
  });
}

function stateDict(
  value: PickleValue,
  storages: Map<string, Uint8Array>,
  littleEndian: boolean,
  source: string,
): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [key, v] of dictEntries(value, source, "the pickled object")) {
    if (typeof key !== "string") throw new FormatError(source, `a key is not a string: ${key}`);
    out.set(key, rebuildTensor(v, storages, littleEndian, source, `'${key}'`));
  }
  return out;
}

async function decodeZipPth(bytes: Uint8Array, source: string): Promise<Map<string, HostTensor>> {
  const zip = readZip(bytes, source);
  const pickles = [...zip.keys()].filter((n) => n.endsWith("/data.pkl") || n === "data.pkl");
  if (pickles.length !== 1) {
    throw new FormatError(
      source,
      `a PyTorch zip file holds one data.pkl, this one ${pickles.length} (not a torch.save file?)`,
    );
  }
  const prefix = pickles[0].slice(0, -"data.pkl".length);
  const { value } = parsePickle(await zip.get(pickles[0])!.data(), {
    globals: TORCH_GLOBALS,
    source: `${source}:${pickles[0]}`,
  });
  const order = zip.get(`${prefix}byteorder`);
  const littleEndian = order ? new TextDecoder().decode(await order.data()) !== "big" : true;
  const bad = (problem: string) => new FormatError(source, problem);
  const storages = new Map<string, Uint8Array>();
  for (const ref of collectStorages(value, bad).values()) {
    const name = `${prefix}data/${ref.key}`;
    const entry = zip.get(name);
    if (!entry) throw bad(`storage member ${name} is missing`);
    const data = await entry.data();
    if (data.length < ref.numel * STORED_SIZE[ref.stored]) {
      throw bad(`${name} holds ${data.length} bytes, fewer than its ${ref.numel} elements need`);
    }
    storages.set(ref.key, data);
  }
  return stateDict(value, storages, littleEndian, source);
}

function decodeLegacyPth(bytes: Uint8Array, source: string): Map<string, HostTensor> {
  const none = new Set<string>();
  const magic = parsePickle(bytes, { globals: none, source });
  if (magic.value !== LEGACY_MAGIC) {
    throw new FormatError(source, "not a legacy torch.save file (no magic number)");
  }
  const version = parsePickle(bytes, { globals: none, source, offset: magic.end });
  if (version.value !== LEGACY_PROTOCOL) {
    throw new FormatError(source, `legacy torch format version ${version.value} (readable: 1001)`);
  }
  const info = parsePickle(bytes, { globals: none, source, offset: version.end });
  const infoMap = new Map(dictEntries(info.value, source, "the system-info pickle"));
  const littleEndian = infoMap.get("little_endian") !== false;
  const main = parsePickle(bytes, { globals: TORCH_GLOBALS, source, offset: info.end });
  const keys = parsePickle(bytes, { globals: none, source, offset: main.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === "string")) {
    throw new FormatError(source, "the storage key list is not a list of strings");
  }
  const bad = (problem: string) => new FormatError(source, problem);
  const refs = collectStorages(main.value, bad);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const storages = new Map<string, Uint8Array>();
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const ref = refs.get(key);
    if (!ref) throw bad(`storage ${key} is stored but never used`);
    if (at + 8 > bytes.length) throw bad(`truncated before storage ${key}`);
    const numel = Number(view.getBigInt64(at, littleEndian));
    const length = numel * STORED_SIZE[ref.stored];
    at += 8;
    if (numel < 0 || at + length > bytes.length) {
      throw bad(`storage ${key} (${numel} elements) runs past the end of the file`);
    }
    storages.set(key, bytes.subarray(at, at + length));
    at += length;
  }
  if (at !== bytes.length) {
    throw bad(`${bytes.length - at} unexpected bytes after the last storage`);
  }
  return stateDict(main.value, storages, littleEndian, source);
}

/** True when `bytes` start like a zip archive (PyTorch's default format). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 &&
    bytes[3] === 4;
}

/**
 * True when `bytes` start with a pickle of torch's legacy magic number (any protocol 2–4).
 */
export function isLegacyPth(bytes: Uint8Array): boolean {
  if (bytes[0] !== 0x80) return false;
  try {
    // The magic-number pickle is a few dozen bytes; a longer first pickle is something else.
    return parsePickle(bytes.subarray(0, 64), { globals: new Set() }).value === LEGACY_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Decodes a PyTorch state dict, zip or legacy format, into `name → tensor` (strided and
 * offset tensors are copied out in C order; half, bfloat16, double and integer storages are
 * converted as {@link StoredType} says).
 *
 * @throws {PickleRefusedError} for any global a state dict does not need (nothing is run).
 * @throws {FormatError} for a damaged file or anything but a dict of tensors.
 */
export async function decodePth(
  bytes: Uint8Array,
  source = "<memory>",
): Promise<Map<string, HostTensor>> {
  if (isZip(bytes)) return await decodeZipPth(bytes, source);
  return decodeLegacyPth(bytes, source);
}
