import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { writeNpy } from "../../src/io/npy.ts";
import { loadData, spreadSubset } from "../../tasks/data.ts";
import { UsageError } from "../../tasks/flags.ts";
import { loadPlugins } from "../../tasks/plugins.ts";
import { ImageDataset } from "../../src/data/image_dataset.ts";
import { ROOT } from "./helpers.ts";

Deno.test("spreadSubset keeps examples spread over a class-ordered set", () => {
  const labels = Int32Array.from({ length: 100 }, (_, i) => Math.floor(i / 10));
  const ds = new ImageDataset({
    images: Uint8Array.from({ length: 100 }, (_, i) => i),
    labels,
    imageShape: [1, 1, 1],
    classNames: Array.from({ length: 10 }, (_, k) => String(k)),
  });
  const sub = spreadSubset(ds, 20);
  assert.equal(sub.length, 20);
  const all = sub.getBatch(Array.from({ length: 20 }, (_, i) => i));
  assert.deepEqual([...all.images], Array.from({ length: 20 }, (_, i) => 5 * i));
  assert.deepEqual(new Set(all.labels).size, 10);
  assert.throws(() => sub.getBatch([20]), /outside 0–19/);
  assert.equal(spreadSubset(ds, 500), ds);
});

Deno.test("--dataset npy reads the four files and normalises with the training split's statistics", async () => {
  tf.env().set("IS_NODE", false);
  await tf.setBackend("cpu");
  const dir = await Deno.makeTempDir();
  const n = 6;
  // Channel 0 holds 0 or 200, channel 1 holds 50: means 100/255 and 50/255.
  const images = Uint8Array.from(
    { length: n * 4 * 4 * 2 },
    (_, i) => i % 2 ? 50 : (i % 4 === 0 ? 0 : 200),
  );
  await writeNpy(join(dir, "x_train.npy"), { dtype: "uint8", shape: [n, 4, 4, 2], data: images });
  await writeNpy(join(dir, "y_train.npy"), {
    dtype: "int32",
    shape: [n],
    data: Int32Array.from([0, 1, 2, 0, 1, 2]),
  });
  await writeNpy(join(dir, "x_test.npy"), {
    dtype: "uint8",
    shape: [2, 4, 4, 2],
    data: images.slice(0, 64),
  });
  await writeNpy(join(dir, "y_test.npy"), {
    dtype: "int32",
    shape: [2],
    data: Int32Array.from([2, 0]),
  });
  const d = await loadData({ dataset: "npy", data: dir, augment: false });
  assert.match(d.description, /6 training \/ 2 test images, 4×4×2, 3 classes/);
  assert.deepEqual(d.classNames, ["0", "1", "2"]);
  const raw = d.train.getBatch([0, 1, 2, 3, 4, 5]);
  const y = tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(raw.images), [n, 4, 4, 2]);
    return d.evalTransform(x, { epoch: 0, batch: 0, training: false });
  });
  const out = await y.data();
  y.dispose();
  // Channel 0: mean 100/255 and std 100/255 (half 0, half 200), so 0 → −1 and 200 → +1 exactly;
  // a wrong mean or std moves them. Channel 1 is constant: centred, its std taken as 1, so 0.
  raw.images.forEach((v, i) => {
    const want = i % 2 ? 0 : (v === 0 ? -1 : 1);
    assert.ok(Math.abs(out[i] - want) < 1e-5, `value ${i} (raw ${v}): ${out[i]}, want ${want}`);
  });
});

Deno.test("a plugin module without callbacks, or a createPlugin returning none, is a usage error", async () => {
  const dir = await Deno.makeTempDir();
  const cb = pathToFileURL(join(ROOT, "src/train/callback.ts")).href;
  await Deno.writeTextFile(
    join(dir, "empty.ts"),
    `export { Callback } from "${cb}";\nexport const x = 1;\n`,
  );
  await Deno.writeTextFile(
    join(dir, "bad.ts"),
    "export function createPlugin() { return [42]; }\n",
  );
  await Deno.writeTextFile(join(dir, "broken.ts"), "export const = ;\n");
  await assert.rejects(loadPlugins([join(dir, "empty.ts")], {}), UsageError);
  await assert.rejects(
    loadPlugins([join(dir, "bad.ts")], {}),
    /createPlugin must return a Callback/,
  );
  await assert.rejects(loadPlugins([join(dir, "broken.ts")], {}), /cannot import it/);
});
