/**
 * The few Protocol Buffers wire-format pieces the log encoders need: a writer of varint, fixed
 * 32/64-bit and length-delimited fields, and a reader that lists a message's fields. No schema,
 * no generated code: each format module names its own field numbers.
 *
 * @example
 * ```ts
 * import { ProtoWriter, readFields } from "./protobuf.ts";
 *
 * const bytes = new ProtoWriter().varint(2, 150).string(1, "loss").finish();
 * console.log(readFields(bytes, "<memory>").map((f) => f.field)); // [2, 1]
 * ```
 *
 * @module
 */
import { FormatError } from "./errors.ts";

const utf8 = new TextEncoder();

/** Builds one message field by field, in the order written. */
export class ProtoWriter {
  #out: number[] = [];

  #raw(n: number): void {
    // Varints hold integers up to 2^53 here: division instead of bit shifts, which stop at 32 bits.
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`protobuf: ${n} is not a non-negative safe integer`);
    }
    while (n >= 0x80) {
      this.#out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.#out.push(n);
  }

  #key(field: number, wire: number): void {
    this.#raw(field * 8 + wire);
  }

  /** A varint field (int32, int64, uint64, bool) holding a non-negative integer. */
  varint(field: number, value: number): this {
    this.#key(field, 0);
    this.#raw(value);
    return this;
  }

  /** A `double` field (wire type 1, little-endian). */
  double(field: number, value: number): this {
    this.#key(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.#out.push(...b);
    return this;
  }

  /** A `float` field (wire type 5, little-endian; the value is rounded to float32). */
  float(field: number, value: number): this {
    this.#key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.#out.push(...b);
    return this;
  }

  /** A length-delimited field: `bytes`, or an embedded message's encoding. */
  bytes(field: number, value: Uint8Array): this {
    this.#key(field, 2);
    this.#raw(value.length);
    for (const x of value) this.#out.push(x);
    return this;
  }

  /** A `string` field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** An embedded message field. */
  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** The message's bytes. */
  finish(): Uint8Array {
    return Uint8Array.from(this.#out);
  }
}

/** One field as read: varints as numbers, everything else as its raw bytes. */
export interface ProtoField {
  /** Field number. */
  field: number;
  /** Wire type: 0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit. */
  wire: 0 | 1 | 2 | 5;
  /** The varint's value (wire 0). */
  int: number;
  /** The field's bytes (wires 1, 2, 5); empty for varints. */
  data: Uint8Array;
}

/** Lists the fields of one message in file order; throws {@linkcode FormatError} when malformed. */
export function readFields(bytes: Uint8Array, source: string): ProtoField[] {
  const out: ProtoField[] = [];
  let at = 0;
  const varint = (): number => {
    let n = 0;
    let scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new FormatError(source, "protobuf varint runs past the end");
      const b = bytes[at++];
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
      if (scale > 2 ** 63) throw new FormatError(source, "protobuf varint longer than 10 bytes");
    }
  };
  const take = (n: number): Uint8Array => {
    if (at + n > bytes.length) throw new FormatError(source, "protobuf field runs past the end");
    at += n;
    return bytes.subarray(at - n, at);
  };
  while (at < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) out.push({ field, wire, int: varint(), data: new Uint8Array() });
    else if (wire === 1) out.push({ field, wire, int: 0, data: take(8) });
    else if (wire === 2) out.push({ field, wire, int: 0, data: take(varint()) });
    else if (wire === 5) out.push({ field, wire, int: 0, data: take(4) });
    else throw new FormatError(source, `protobuf wire type ${wire} is not supported`);
  }
  return out;
}
