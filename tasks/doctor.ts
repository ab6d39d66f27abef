/**
 * `trainer doctor`: what the backend start-up finds on this machine — versions, the WebGPU
 * adapters each wgpu backend reaches, the backend `--backend` would choose and why, and a tiny
 * matmul and convolution checked against the JavaScript CPU backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { describeAdapter, findAdapter } from "../src/backend/webgpu.ts";
import { checkSystemPackages, SYSTEM_PACKAGES } from "../src/backend/system_packages.ts";
import { selfCommand } from "./self.ts";
import { BACKEND_FLAG, startBackend } from "./common.ts";
import { type FlagSpec, parseFlags } from "./flags.ts";

const FLAGS: FlagSpec[] = [BACKEND_FLAG];

/** wgpu backends tried, each in a fresh process since wgpu reads the variable at start. */
const WGPU_SETTINGS: readonly (string | undefined)[] = [undefined, "vulkan", "gl"];

/** Hidden subcommand: prints this process's adapter as one JSON line. */
export async function probeAdapter(): Promise<number> {
  try {
    const adapter = await findAdapter();
    console.log(JSON.stringify({ adapter: adapter ? describeAdapter(adapter) : null }));
  } catch (e) {
    console.log(JSON.stringify({ adapter: null, error: String(e) }));
  }
  return 0;
}

async function adapterUnder(setting: string | undefined): Promise<string> {
  const env: Record<string, string> = {};
  if (setting) env.DENO_WEBGPU_BACKEND = setting;
  const { command, args } = selfCommand(["__adapter"]);
  const out = await new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const label = setting ? `DENO_WEBGPU_BACKEND=${setting}` : "default (no DENO_WEBGPU_BACKEND)";
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  try {
    const r = JSON.parse(line);
    if (!r.adapter) return `  ${label}: no adapter${r.error ? ` (${r.error})` : ""}`;
    const a = r.adapter;
    return `  ${label}: "${a.description}" vendor ${a.vendor}${a.software ? ", software" : ""}` +
      `, features [${a.features.join(", ")}]`;
  } catch {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
    return `  ${label}: probe failed (exit ${out.code}): ${err}`;
  }
}

async function compare(name: string, f: () => tf.Tensor): Promise<string> {
  const active = tf.getBackend();
  const got = await tf.tidy(f).data();
  await tf.setBackend("cpu");
  const want = await tf.tidy(f).data();
  await tf.setBackend(active);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  const rel = err / (scale || 1);
  return `  ${name}: max relative difference ${rel.toExponential(2)} ${
    rel < 1e-4 ? "ok" : "MISMATCH"
  }`;
}

/** Runs the subcommand; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const v = parseFlags("doctor", "Report what the trainer finds on this machine.", FLAGS, args);
  if (!v) return 0;
  console.log(
    `Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), TensorFlow.js ${tf.version_core}`,
  );
  console.log(`${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} CPU threads`);
  const system = await checkSystemPackages();
  if (system.kind === "debian") {
    console.log(
      "System packages (installed by `deno task setup`, which demo, train and test run):",
    );
    for (const p of SYSTEM_PACKAGES) {
      const missing = system.missing.some((m) => m.name === p.name);
      console.log(`  ${p.name}: ${missing ? "MISSING" : "installed"} (${p.purpose})`);
    }
    if (system.missing.length > 0) console.log(`  to install: ${system.installCommand}`);
  } else {
    console.log(`System packages: ${system.advice}`);
  }
  console.log("WebGPU adapters per wgpu backend:");
  for (const s of WGPU_SETTINGS) console.log(await adapterUnder(s));
  const report = await startBackend(v);
  console.log(`Chosen: ${report.summary}`);
  if (report.adapter) {
    console.log(`Adapter limits: ${JSON.stringify(report.adapter.limits)}`);
  }
  const a = Float32Array.from({ length: 37 * 53 }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: 53 * 29 }, (_, i) => Math.cos(i * 0.7));
  const x = Float32Array.from({ length: 2 * 19 * 19 * 5 }, (_, i) => Math.sin(i * 0.3));
  const k = Float32Array.from({ length: 3 * 3 * 5 * 8 }, (_, i) => Math.cos(i * 0.11));
  const checks = [
    await compare(
      "matmul 37×53·53×29",
      () => tf.matMul(tf.tensor2d(a, [37, 53]), tf.tensor2d(b, [53, 29])),
    ),
    await compare("conv 3×3 stride 2 pad 1", () =>
      tf.conv2d(
        tf.tensor4d(x, [2, 19, 19, 5]),
        tf.tensor4d(k, [3, 3, 5, 8]),
        2,
        [[0, 0], [1, 1], [1, 1], [0, 0]],
      )),
  ];
  console.log(`Checks on ${report.backend} against the JavaScript CPU backend:`);
  for (const c of checks) console.log(c);
  return checks.some((c) => c.endsWith("MISMATCH")) ? 1 : 0;
}
