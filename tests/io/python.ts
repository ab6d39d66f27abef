/**
 * Test helpers: a Python 3 that imports the given modules (Debian's `python3-numpy`,
 * `python3-torch`), and running a short script with it.
 *
 * @module
 */

export { findPython } from "../../tasks/reference/torch.ts";

/**
 * Every distinct interpreter among `/usr/bin/python3` and the `python3` on PATH that imports
 * `modules`, with its numpy version when numpy is among them (pickles differ between numpy 1 and
 * 2).
 */
export async function findPythons(modules: string[]): Promise<string[]> {
  const found: string[] = [];
  const seen = new Set<string>();
  for (const py of ["/usr/bin/python3", "python3"]) {
    try {
      const out = await new Deno.Command(py, {
        args: ["-c", `import sys, ${modules.join(", ")}; print(sys.executable)`],
        stdout: "piped",
        stderr: "null",
      }).output();
      const exe = new TextDecoder().decode(out.stdout).trim();
      if (out.success && !seen.has(exe)) {
        seen.add(exe);
        found.push(py);
      }
    } catch {
      // no interpreter under this name
    }
  }
  return found;
}

/** Runs `code` with `args` as `sys.argv[1:]`; resolves to stdout, throws with stderr. */
export async function runPython(
  python: string,
  code: string,
  args: string[] = [],
): Promise<string> {
  const out = await new Deno.Command(python, {
    args: ["-c", code, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`python failed:\n${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** Prints why a test file's Python tests are skipped, when they are. */
export function reportSkip(python: string | null, what: string, install: string): void {
  if (python === null) console.log(`${what} skipped: no python3 with ${install}`);
}
