/**
 * A restricted reader of Python pickles, enough for weights files (PyTorch `.pth`, Paddle
 * `.pdparams`) and nothing more: it never runs anything. Parsing turns the opcode stream into
 * plain data in which every call the pickle asks for (`REDUCE`), every `BUILD` and every
 * persistent id is only recorded ({@link PickleCall}, {@link PicklePersistent}); the format
 * readers then interpret the few calls they know. Only the opcodes of protocols 2–4 that build
 * data are accepted, and a global outside the caller's allowlist stops parsing with a
 * {@link PickleRefusedError} the moment it is named, before any recorded call is interpreted.
 *
 * Opcodes that would construct arbitrary objects (`INST`, `OBJ`, `NEWOBJ`, `NEWOBJ_EX`, the
 * extension registry `EXT*`), the text opcodes of protocols 0–1 and the buffers of protocol 5
 * are refused: no weights file uses them.
 *
 * @example
 * ```ts
 * import { parsePickle } from "./pickle.ts";
 *
 * // pickle.dumps({"a": 1}, protocol=2)
 * const bytes = new Uint8Array([0x80, 2, 0x7d, 0x71, 0, 0x58, 1, 0, 0, 0, 0x61, 0x71, 1, 0x4b, 1, 0x73, 0x2e]);
 * const { value } = parsePickle(bytes, { globals: new Set() });
 * console.log(value); // Map(1) { "a" => 1 }
 * ```
 *
 * @module
 */
import { FormatError } from "./errors.ts";

/** A Python global (`module.name`) the pickle refers to; only allowlisted ones are created. */
export class PickleGlobal {
  /**
   * Creates the reference.
   *
   * @param module The module, e.g. `collections`. @param name The name in it, e.g. `OrderedDict`.
   */
  constructor(readonly module: string, readonly name: string) {}

  /** `module.name`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * A call the pickle asks for (`REDUCE`: `fn(*args)`), recorded rather than made, with what later
 * opcodes added to its result: `BUILD` state, `SETITEM(S)` pairs and `APPEND(S)` items.
 */
export class PickleCall {
  /** `BUILD` state, when there was one. */
  state?: PickleValue;
  /** Key/value pairs set on the result, in order. */
  readonly dictItems: [PickleValue, PickleValue][] = [];
  /** Items appended to the result, in order. */
  readonly listItems: PickleValue[] = [];

  /**
   * Records the call.
   *
   * @param fn The allowlisted callable. @param args Its positional arguments.
   */
  constructor(readonly fn: PickleGlobal, readonly args: PickleValue[]) {}
}

/** An object the pickle refers to by persistent id (`BINPERSID`), e.g. a torch storage. */
export class PicklePersistent {
  /**
   * Records the reference.
   *
   * @param id The persistent id, e.g. `["storage", <torch.FloatStorage>, "0", "cpu", 108]`.
   */
  constructor(readonly id: PickleValue) {}
}

/**
 * What a parsed pickle holds: Python `None` → `null`, bool, int (`bigint` beyond 2⁵³), float,
 * str (protocol-0 byte strings decoded as Latin-1, as Python's `encoding="latin1"` does),
 * bytes → `Uint8Array` (a view into the parsed buffer, not a copy), list and tuple → array, dict → `Map`, and the recorded
 * {@link PickleGlobal}, {@link PickleCall} and {@link PicklePersistent}.
 */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | PickleGlobal
  | PickleCall
  | PicklePersistent;

/** The pickle names a global outside the allowlist, or uses an opcode weights never need. */
export class PickleRefusedError extends FormatError {
  /**
   * Creates the error.
   *
   * @param source The file. @param problem What was refused and why.
   */
  constructor(source: string, problem: string) {
    super(source, problem);
    this.name = "PickleRefusedError";
  }
}

/** Options of {@link parsePickle}. */
export interface ParsePickleOptions {
  /** Globals (`module.name`) the pickle may name; any other is refused. */
  globals: ReadonlySet<string>;
  /** Named in errors. Default `"<memory>"`. */
  source?: string;
  /** Byte offset where the pickle starts (files may hold several back to back). Default 0. */
  offset?: number;
}

/** A parsed pickle and where it ended. */
export interface ParsedPickle {
  /** The value `STOP` returned. */
  value: PickleValue;
  /** Offset of the first byte after `STOP`. */
  end: number;
}

/** Marks the stack position of `MARK`. */
const MARK = Symbol("mark");
type StackItem = PickleValue | typeof MARK;

/** Opcodes refused by name, so the error says what the file tried to do. */
const REFUSED: Readonly<Record<number, string>> = {
  0x69: "INST (creates an instance of any class)",
  0x6f: "OBJ (creates an instance of any class)",
  0x81: "NEWOBJ (creates an instance of any class)",
  0x92: "NEWOBJ_EX (creates an instance of any class)",
  0x82: "EXT1 (a global from the extension registry)",
  0x83: "EXT2 (a global from the extension registry)",
  0x84: "EXT4 (a global from the extension registry)",
  0x50: "PERSID (protocol 0)",
  0x96: "BYTEARRAY8 (protocol 5)",
  0x97: "NEXT_BUFFER (protocol 5)",
  0x98: "READONLY_BUFFER (protocol 5)",
};

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses one pickle (protocol 2–4 data opcodes) starting at `opts.offset`. Nothing is called:
 * `REDUCE` yields a {@link PickleCall}, `BINPERSID` a {@link PicklePersistent}.
 *
 * @throws {PickleRefusedError} for a global outside `opts.globals` (naming it) or an opcode that
 *   weights files never use, as soon as it is reached.
 * @throws {FormatError} for a truncated or malformed pickle.
 *
 * @example
 * ```ts
 * import { parsePickle, PickleRefusedError } from "./pickle.ts";
 * // pickle.dumps(os.system, protocol=2)
 * const bytes = new TextEncoder().encode("\x80\x02cposix\nsystem\nq\x00.");
 * try {
 *   parsePickle(bytes, { globals: new Set(), source: "evil.pth" });
 * } catch (e) {
 *   console.log(e instanceof PickleRefusedError); // true
 * }
 * ```
 */
export function parsePickle(bytes: Uint8Array, opts: ParsePickleOptions): ParsedPickle {
  const source = opts.source ?? "<memory>";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = opts.offset ?? 0;
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  const bad = (problem: string) => new FormatError(source, `pickle at byte ${at}: ${problem}`);

  const need = (n: number) => {
    if (n < 0 || at + n > bytes.length) {
      throw bad(`truncated: ${n} bytes needed, ${bytes.length - at} left`);
    }
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  const u8 = () => take(1)[0];
  const u16 = () => (need(2), at += 2, view.getUint16(at - 2, true));
  const u32 = () => (need(4), at += 4, view.getUint32(at - 4, true));
  const u64 = () => {
    need(8);
    const n = view.getBigUint64(at, true);
    at += 8;
    if (n > BigInt(bytes.length)) throw bad(`length ${n} runs past the end of the file`);
    return Number(n);
  };
  const line = () => {
    const nl = bytes.indexOf(0x0a, at);
    if (nl < 0) throw bad("truncated: a GLOBAL name has no end of line");
    const text = latin1.decode(bytes.subarray(at, nl));
    at = nl + 1;
    return text;
  };
  const text = (n: number) => {
    const raw = take(n);
    try {
      return utf8.decode(raw);
    } catch {
      throw bad("string is not valid UTF-8");
    }
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined) throw bad("stack underflow");
    if (v === MARK) throw bad("a MARK where a value was expected");
    return v;
  };
  const top = (): PickleValue => {
    const v = stack.at(-1);
    if (v === undefined || v === MARK) throw bad("no value on the stack");
    return v;
  };
  const popMark = (): PickleValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw bad("no MARK on the stack");
    const items = stack.splice(i) as PickleValue[];
    items.shift();
    return items;
  };
  const global = (module: string, name: string): PickleGlobal => {
    const g = new PickleGlobal(module, name);
    if (!opts.globals.has(g.qualifiedName)) {
      throw new PickleRefusedError(
        source,
        `refused: the pickle names ${g.qualifiedName}, which a weights file never needs ` +
          `(allowed: ${[...opts.globals].join(", ") || "none"}); nothing in it was run`,
      );
    }
    return g;
  };
  const setItems = (target: PickleValue, pairs: PickleValue[]) => {
    if (pairs.length % 2) throw bad("SETITEMS with an odd number of values");
    for (let i = 0; i < pairs.length; i += 2) {
      if (target instanceof Map) target.set(pairs[i], pairs[i + 1]);
      else if (target instanceof PickleCall) target.dictItems.push([pairs[i], pairs[i + 1]]);
      else throw bad("SETITEM on something that is not a dict");
    }
  };
  const appendItems = (target: PickleValue, items: PickleValue[]) => {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PickleCall) target.listItems.push(...items);
    else throw bad("APPEND on something that is not a list");
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw bad(`memo entry ${i} was never stored`);
    return memo.get(i)!;
  };

  if (at >= bytes.length) throw bad("empty: no pickle here");
  if (bytes[at] !== 0x80) {
    throw new PickleRefusedError(
      source,
      `refused: a protocol 0/1 pickle (first byte 0x${bytes[at].toString(16)}); weights files ` +
        "are written with protocol 2 or later",
    );
  }
  for (;;) {
    const start = at;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const p = u8();
        if (p < 2 || p > 4) {
          throw new PickleRefusedError(
            source,
            `refused: pickle protocol ${p}; weights files use protocols 2 to 4`,
          );
        }
        break;
      }
      case 0x95: // FRAME: a hint for buffered readers; the data follows inline.
        need(8);
        at += 8;
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw bad(`STOP with ${stack.length} items on the stack`);
        return { value: pop(), end: at };
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(at, true));
        at += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: { // LONG1: little-endian two's complement
        const raw = take(u8());
        let n = 0n;
        for (let i = raw.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(raw[i]);
        if (raw.length && raw[raw.length - 1] & 0x80) n -= 1n << BigInt(8 * raw.length);
        const small = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);
        stack.push(small ? Number(n) : n);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x47: // BINFLOAT: big-endian
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()));
        break;
      case 0x54: // BINSTRING (Python 2 str)
        stack.push(latin1.decode(take(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          throw bad("STACK_GLOBAL needs two strings");
        }
        stack.push(global(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PickleGlobal)) throw bad("REDUCE of something that is not a global");
        if (!Array.isArray(args)) {
          throw bad(`REDUCE of ${fn.qualifiedName} without an argument tuple`);
        }
        stack.push(new PickleCall(fn, args));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const target = top();
        if (!(target instanceof PickleCall) || target.state !== undefined) {
          throw bad("BUILD on something that is not a fresh object");
        }
        target.state = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(new PicklePersistent(pop()));
        break;
      default: {
        at = start;
        const name = REFUSED[op];
        throw new PickleRefusedError(
          source,
          `refused: opcode ${name ?? `0x${op.toString(16).padStart(2, "0")}`} at byte ${start}; ` +
            "weights files never need it; nothing in the pickle was run",
        );
      }
    }
  }
}

/** A `str` that protocol-2 pickles stand in for `bytes` with, back to its bytes (Latin-1). */
export function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`character U+${c.toString(16)} is not Latin-1`);
    out[i] = c;
  }
  return out;
}

/**
 * The key/value pairs of a pickled `dict` or `collections.OrderedDict()` (whose items the pickle
 * sets after the recorded call).
 *
 * @throws {FormatError} naming `source` and `what` for anything else.
 */
export function dictEntries(
  v: PickleValue,
  source: string,
  what: string,
): [PickleValue, PickleValue][] {
  if (v instanceof Map) return [...v];
  if (
    v instanceof PickleCall && v.fn.qualifiedName === "collections.OrderedDict" &&
    v.args.length === 0
  ) {
    return v.dictItems;
  }
  throw new FormatError(source, `${what} is not a dict`);
}
