import assert from "node:assert/strict";
import { listTree, runCli, show } from "./helpers.ts";

// The full demo takes minutes; this runs its code path (digits, every plugin, the accuracy
// report) on 64 images for one epoch.
Deno.test("demo trains on the embedded digits and reports the held-out accuracy", async () => {
  const cwd = await Deno.makeTempDir();
  const r = await runCli([
    "demo",
    "--epochs",
    "1",
    "--limit-train",
    "64",
    "--limit-eval",
    "50",
    "--width",
    "2",
    "--backend",
    "cpu",
    "--save-dir",
    "d",
    "--log-dir",
    "l",
  ], cwd);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^demo: ResNet18-FCN/m);
  assert.match(
    r.stdout,
    /digits: 64 training \/ 50 test images, 28×28×1, 10 classes, no augmentation/,
  );
  const m = /^demo: held-out accuracy (\d+\.\d\d)% — (reached|BELOW) the 95% target$/m.exec(
    r.stdout,
  );
  assert.ok(m, r.stdout);
  // 50 test images: the accuracy is a whole number of them.
  assert.ok(Number.isInteger(Number(m[1]) / 2), m[1]);
  const tree = listTree(cwd);
  for (const c of ["d/0/manifest.json", "d/final/manifest.json", "d/run.json"]) {
    assert.ok(tree.includes(c), `${c} missing: ${tree}`);
  }
  assert.equal(tree.filter((p) => /^l\/scalars-.*\.jsonl$/.test(p)).length, 1);
});
