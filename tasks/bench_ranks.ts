/**
 * `trainer bench --ranks 1,2`: training steps per second of the same global batch under 1, 2, …
 * data-parallel ranks, each count started with `mpirun -np k` on this host, side by side.
 *
 * Each rank gets this host's cores divided by the ranks as threads (`OMP_NUM_THREADS`), so on a
 * small machine the ranks share the same cores one process had: the figure then shows what the
 * gradient all-reduce and the synchronisation cost, not a speed-up. A speed-up needs ranks on
 * cores (or hosts) of their own.
 *
 * @module
 */
import type { FlagSpec, FlagValues } from "./flags.ts";
import { UsageError } from "./flags.ts";
import { selfCommand } from "./self.ts";

/** One rank count's measurement. */
interface RanksResult {
  ranks: number;
  threads_per_rank: number;
  train_steps_per_s: number;
  train_img_per_s: number;
}

/** Parses `--ranks`, e.g. `1,2`. */
export function parseRanks(text: string): number[] {
  const ranks = text.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (ranks.length === 0 || ranks.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new UsageError(`--ranks needs whole numbers >= 1 separated by commas, got "${text}"`);
  }
  return ranks;
}

function findMpirun(): string {
  try {
    new Deno.Command("mpirun", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return "mpirun";
  } catch {
    throw new UsageError(
      "--ranks needs Open MPI's mpirun (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi3)",
    );
  }
}

/** Runs the benchmark under each rank count of `--ranks`; returns the exit code. */
export async function compareRanks(v: FlagValues, flags: readonly FlagSpec[]): Promise<number> {
  const counts = parseRanks(String(v.ranks));
  const mpirun = findMpirun();
  const childFlags: string[] = ["bench"];
  for (const s of flags) {
    const x = v[s.name];
    if (["ranks", "compare", "backends"].includes(s.name) || x === undefined || x === false) {
      continue;
    }
    childFlags.push(`--${s.name}`, String(x));
  }
  const { command, args } = selfCommand(childFlags);
  const cores = navigator.hardwareConcurrency;
  const results: RanksResult[] = [];
  for (const k of counts) {
    console.error(`bench: ${k} rank(s) …`);
    const root = Deno.uid() === 0 ? ["--allow-run-as-root"] : [];
    const out = await new Deno.Command(mpirun, {
      args: ["--oversubscribe", ...root, "-np", String(k), command, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout).trim().split("\n");
    if (out.code !== 0) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n");
      console.error(`error: ${k} rank(s) failed (exit ${out.code}): ${err.slice(-5).join(" | ")}`);
      return 1;
    }
    const r = JSON.parse(stdout.at(-1)!);
    results.push({
      ranks: k,
      threads_per_rank: Math.max(1, Math.floor(cores / k)),
      train_steps_per_s: r.train_steps_per_s,
      train_img_per_s: r.train_img_per_s,
    });
  }
  const base = results[0];
  const rows = [[
    "ranks",
    "threads/rank",
    "train steps/s",
    "train img/s",
    `× ${base.ranks} rank(s)`,
  ]];
  for (const r of results) {
    rows.push([
      String(r.ranks),
      String(r.threads_per_rank),
      r.train_steps_per_s.toFixed(2),
      r.train_img_per_s.toFixed(1),
      (r.train_steps_per_s / base.train_steps_per_s).toFixed(2),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  console.log(rows.map((row) => row.map((c, i) => c.padStart(widths[i])).join("  ")).join("\n"));
  console.log(
    `(global batch ${v["batch-size"]}; ${cores} cores on this host, shared by the ranks: each ` +
      `rank gets ${cores}/ranks threads, so the ratio shows the cost of communication and ` +
      `synchronisation, not a speed-up)`,
  );
  console.log(JSON.stringify({ cores, batch_size: Number(v["batch-size"]), ranks: results }));
  return 0;
}
