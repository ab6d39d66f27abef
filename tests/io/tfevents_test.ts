import assert from "node:assert/strict";
import { crc32c, maskedCrc32c } from "../../src/io/crc32c.ts";
import { FormatError } from "../../src/io/errors.ts";
import { RecordLog } from "../../src/io/record_log.ts";
import { frameTFRecord, TFEVENTS, unframeTFRecords } from "../../src/io/tfevents.ts";
import { crc32cBitwise, decodeEvents, mask, onlyFile } from "./log_decoders.ts";

Deno.test("crc32c gives the standard check value and agrees with a bitwise CRC on random bytes", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  // RFC 3720 B.4: 32 bytes of zeros, of 0xff.
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  const bytes = crypto.getRandomValues(new Uint8Array(1000));
  for (const n of [0, 1, 7, 8, 999, 1000]) {
    assert.equal(crc32c(bytes.subarray(0, n)), crc32cBitwise(bytes.subarray(0, n)), `${n} bytes`);
    assert.equal(maskedCrc32c(bytes.subarray(0, n)), mask(crc32cBitwise(bytes.subarray(0, n))));
  }
});

Deno.test("an event file decodes independently: file version first, then every scalar with its step", async () => {
  const dir = await Deno.makeTempDir();
  const log = await RecordLog.open(dir, TFEVENTS, { wallTime: 1700000000.5 });
  assert.match(log.path, /\/events\.out\.tfevents\.1700000000\.[^/]+$/);
  const rows: [string, number, number][] = [
    ["train/loss", 1, 2.302585],
    ["train/lr", 1, 1e-4],
    ["train/loss", 2, 1.5],
    ["eval/acc_top1", 0, 0.125],
    ["train/loss", 2 ** 40, -3.25], // a step past 32 bits
  ];
  for (const [tag, step, value] of rows) log.add(tag, step, value, 1700000001.25);
  await log.sync();
  log.close();
  const events = decodeEvents(await Deno.readFile(log.path));
  assert.equal(events[0].fileVersion, "brain.Event:2");
  assert.equal(events[0].wallTime, 1700000000.5);
  assert.deepEqual(
    events.slice(1).map((e) => [e.scalars[0].tag, e.step, e.scalars[0].value, e.wallTime]),
    rows.map(([t, s, v]) => [t, s, Math.fround(v), 1700000001.25]),
  );
});

Deno.test("reopening drops what keep rejects and a torn tail, then appends after the rest", async () => {
  const dir = await Deno.makeTempDir();
  const first = await RecordLog.open(dir, TFEVENTS, { wallTime: 1 });
  for (let s = 1; s <= 5; s++) first.add("train/loss", s, s / 10, 2);
  await first.sync();
  first.close();
  const torn = frameTFRecord(new Uint8Array(40)).subarray(0, 30);
  await Deno.writeFile(first.path, torn, { append: true });
  const second = await RecordLog.open(dir, TFEVENTS, {
    wallTime: 3,
    keep: (_tag, step) => step <= 3,
  });
  assert.equal(second.path, first.path);
  second.add("train/loss", 4, 9, 4);
  await second.sync();
  second.close();
  const events = decodeEvents(await Deno.readFile(await onlyFile(dir, "events.out.tfevents.")));
  assert.deepEqual(events.map((e) => e.step), [0, 1, 2, 3, 4]);
  assert.equal(events[4].scalars[0].value, 9);
});

Deno.test("a record with a bad checksum before the end is refused with the file named", () => {
  const a = frameTFRecord(new Uint8Array([1, 2, 3]));
  const b = frameTFRecord(new Uint8Array([4, 5]));
  const bytes = new Uint8Array([...a, ...b]);
  bytes[13] ^= 1;
  assert.throws(
    () => unframeTFRecords(bytes, "x.tfevents"),
    (e) =>
      e instanceof FormatError && /x\.tfevents: TFRecord at byte 0 fails its CRC/.test(e.message),
  );
  const last = new Uint8Array([...a, ...b]);
  last[a.length + 13] ^= 1; // the last record: what a crash mid-write leaves
  assert.deepEqual(unframeTFRecords(last, "x").payloads.length, 1);
});
