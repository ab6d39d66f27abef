/** The native backend's buffer pool: what it reuses, how much it holds, what it refuses. */
import assert from "node:assert/strict";
import { BufferPool } from "../../src/backend/native/pool.ts";

Deno.test("BufferPool reuses a released buffer of the same length, not of another", () => {
  const pool = new BufferPool(1024);
  const a = pool.take(16);
  pool.release(a);
  assert.equal(pool.heldBytes, 64);
  assert(pool.take(8) !== a);
  assert.strictEqual(pool.take(16), a);
  assert.equal(pool.heldBytes, 0);
});

Deno.test("BufferPool holds up to its working set's peak, beyond its minimum", () => {
  // A step's working set: 4 live buffers of 1 KiB against a minimum of 2 KiB.
  const pool = new BufferPool(2048);
  const step = () => Array.from({ length: 4 }, () => pool.take(256));
  const first = step();
  assert.equal(pool.capBytes, 4096);
  for (const b of first) pool.release(b);
  assert.equal(pool.heldBytes, 4096);
  // The next step gets every buffer back: no fresh allocation.
  const second = step();
  assert.equal(new Set([...first, ...second]).size, 4);
  for (const b of second) pool.release(b);
  // Holding 4 KiB already, a fifth buffer released is dropped: live bytes never exceeded 4 KiB.
  const big = pool.take(1024);
  assert.equal(pool.capBytes, 4096);
  pool.release(big);
  assert.equal(pool.heldBytes, 4096);
  assert(!pool.owns(big));
});

Deno.test("BufferPool never recycles a buffer that escaped", () => {
  const pool = new BufferPool(1024);
  const a = pool.take(16);
  pool.disown(a);
  pool.release(a);
  assert.equal(pool.heldBytes, 0);
  assert(pool.take(16) !== a);
  // A buffer it never made is not taken in either.
  const foreign = new Float32Array(16);
  pool.release(foreign);
  assert.equal(pool.heldBytes, 0);
});

Deno.test("BufferPool buffers start on a 64-byte boundary, each in its own ArrayBuffer", () => {
  const pool = new BufferPool(1 << 20);
  const taken = [1, 3, 16, 1000, 65536].map((n) => pool.take(n));
  for (const b of taken) {
    const address = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
    assert.equal(address % 64, 0, `${b.length} floats at ${address}`);
    b.fill(7);
    assert.equal(b.length * 4 <= b.buffer.byteLength - b.byteOffset, true);
  }
  assert.equal(new Set(taken.map((b) => b.buffer)).size, taken.length);
});

Deno.test("BufferPool adopts a kernel's own output only when it starts on a cache line", () => {
  const pool = new BufferPool(1 << 20);
  // Kernels' own 16 KiB outputs: V8 places such data 16 bytes past a line, or on one by chance.
  let unaligned = 0;
  for (let i = 0; i < 8; i++) {
    const b = new Float32Array(4096);
    const aligned = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b))) % 64 === 0;
    if (!aligned) unaligned++;
    pool.adopt(b);
    pool.release(b);
    const next = pool.take(4096);
    assert.equal(next === b, aligned, `output ${i} (aligned: ${aligned})`);
    pool.release(next);
  }
  assert.ok(unaligned > 0, "no unaligned output to refuse");
});
