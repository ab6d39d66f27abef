import assert from "node:assert/strict";
import {
  checkSystemPackages,
  installSystemPackages,
  SYSTEM_PACKAGES,
  type SystemCheck,
} from "../../src/backend/system_packages.ts";
import { MAIN, ROOT } from "../tasks/helpers.ts";

async function dpkgHas(name: string): Promise<boolean | null> {
  try {
    const out = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f=${db:Status-Abbrev}", name],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).startsWith("ii");
  } catch {
    return null;
  }
}

Deno.test("checkSystemPackages finds what dpkg says is installed, and how to add the rest", async () => {
  const check = await checkSystemPackages();
  if ((await dpkgHas("dpkg")) === null) {
    assert.equal(check.kind, "other");
    return;
  }
  assert.equal(check.kind, "debian");
  if (check.kind !== "debian") return;
  for (const p of SYSTEM_PACKAGES) {
    const missing = check.missing.some((m) => m.name === p.name);
    assert.equal(missing, !(await dpkgHas(p.name)), p.name);
  }
  if (check.missing.length === 0) assert.equal(check.installCommand, "");
  else {
    assert.match(check.installCommand, /apt-get install -y --no-install-recommends /);
    for (const m of check.missing) assert.ok(check.installCommand.includes(m.name));
  }
});

Deno.test("without the right to install, set-up prints the one command to run and changes nothing", async () => {
  const check: SystemCheck = {
    kind: "debian",
    missing: [SYSTEM_PACKAGES[0]],
    installCommand: "sudo apt-get install -y --no-install-recommends libdnnl2",
    canInstall: false,
  };
  const lines: string[] = [];
  assert.equal(await installSystemPackages(check, { log: (l) => lines.push(l) }), false);
  assert.deepEqual(lines, [
    "missing: libdnnl2 (oneDNN, the native CPU backend)",
    "to install them, run: sudo apt-get install -y --no-install-recommends libdnnl2",
  ]);
  const nothing: string[] = [];
  const complete: SystemCheck = { ...check, missing: [], installCommand: "" };
  assert.equal(await installSystemPackages(complete, { log: (l) => nothing.push(l) }), true);
  assert.deepEqual(nothing, []);
});

Deno.test("the setup task is silent and quick where everything is installed", async () => {
  const check = await checkSystemPackages();
  if (check.kind !== "debian" || check.missing.length > 0) return;
  const setup = MAIN.replace(/main\.ts$/, "setup.ts");
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", setup],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  assert.equal(out.code, 0);
  assert.equal(new TextDecoder().decode(out.stdout), "");
  console.log(`setup with nothing to do: ${ms.toFixed(0)} ms (process start included)`);
});
