/**
 * CRC-32C (Castagnoli), the checksum of TFRecord framing, and its "masked" form that TensorFlow
 * stores so that a CRC computed over bytes that themselves hold a CRC stays well distributed.
 *
 * @example
 * ```ts
 * import { crc32c, maskedCrc32c } from "./crc32c.ts";
 *
 * const bytes = new TextEncoder().encode("123456789");
 * console.log(crc32c(bytes).toString(16)); // "e3069283", the standard check value
 * console.log(maskedCrc32c(bytes) >>> 0);
 * ```
 *
 * @module
 */

/** The reflected Castagnoli polynomial. */
const POLY = 0x82f63b78;

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of `bytes`, as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TensorFlow's masked CRC-32C: rotate right by 15 bits, add 0xa282ead8 (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}
