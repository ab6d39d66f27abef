/**
 * `deno task setup`: installs the system libraries the backends load (oneDNN for the native CPU
 * backend, Mesa for WebGPU without a GPU) where they are missing. `demo`, `train` and `test`
 * depend on it (deno.json), so the README's first commands set a fresh machine up themselves.
 *
 * On Debian and Ubuntu, as root or with password-less sudo, it runs apt-get, printing each
 * command; otherwise it prints the one line to run and lets the task go on with the best backend
 * available. Where everything is present it prints nothing and costs one dpkg lookup.
 * `DENO_TRAINER_NO_SETUP=1` turns it off.
 *
 * @module
 */
import { checkSystemPackages, installSystemPackages } from "../src/backend/system_packages.ts";

/** Environment variable that turns the automatic set-up off. */
export const NO_SETUP_ENV = "DENO_TRAINER_NO_SETUP";

/** Runs the set-up; never fails the task that depends on it (exit code 0). */
export async function run(): Promise<number> {
  if (Deno.env.get(NO_SETUP_ENV)) return 0;
  const check = await checkSystemPackages();
  if (check.kind === "debian" && check.missing.length === 0) return 0;
  const log = (line: string) => console.log(`setup: ${line}`);
  if (check.kind === "other") {
    log(check.advice);
    return 0;
  }
  const ok = await installSystemPackages(check, { log });
  log(
    ok
      ? "done"
      : `continuing without them (the run says which backend it uses; ${NO_SETUP_ENV}=1 ` +
        "silences this)",
  );
  return 0;
}

if (import.meta.main) Deno.exit(await run());
