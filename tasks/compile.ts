/**
 * `deno task compile`: packages the trainer into one executable, `dist/trainer`, whose
 * subcommands are the tasks (`dist/trainer demo`, `dist/trainer train --help`, …).
 *
 * `deno compile` needs Deno's runtime base (`denort`). It downloads it from Deno's release server
 * unless `DENORT_BIN` names a local copy; where neither works this fails fast with one line.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url);
const RELEASE_HOST = "dl.deno.land";

/** Why packaging cannot run here, or null when it can. */
export async function denortProblem(): Promise<string | null> {
  const local = Deno.env.get("DENORT_BIN");
  if (local) {
    try {
      return (await Deno.stat(local)).isFile ? null : `DENORT_BIN=${local} is not a file`;
    } catch {
      return `DENORT_BIN=${local} does not exist`;
    }
  }
  try {
    const res = await fetch(`https://${RELEASE_HOST}/release-latest.txt`, {
      signal: AbortSignal.timeout(5000),
    });
    await res.body?.cancel();
    return null;
  } catch {
    return `deno compile needs Deno's runtime base (denort), which it downloads from ${RELEASE_HOST}` +
      ` unless DENORT_BIN names a local copy; this machine cannot reach ${RELEASE_HOST}: set` +
      ` DENORT_BIN to a denort ${Deno.version.deno} binary for ${Deno.build.target}`;
  }
}

/** Packages the trainer; returns the exit code. */
export async function compile(output = "dist/trainer"): Promise<number> {
  const problem = await denortProblem();
  if (problem) {
    console.error(`error: ${problem}`);
    return 1;
  }
  const out = new URL(output, ROOT).pathname;
  const cmd = new Deno.Command(Deno.execPath(), {
    cwd: ROOT.pathname,
    // The digits come in through literal imports of the `mnist` package's files, so they are in
    // the module graph and embedded without an --include.
    args: ["compile", "--allow-all", "--output", out, "tasks/main.ts"],
  });
  const { code } = await cmd.spawn().status;
  if (code !== 0) return code;
  const size = (await Deno.stat(out)).size;
  console.error(`wrote ${out} (${(size / 2 ** 20).toFixed(1)} MiB)`);
  return 0;
}

if (import.meta.main) Deno.exit(await compile(Deno.args[0]));
