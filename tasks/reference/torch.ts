/**
 * Running the PyTorch reference (`resnet_fcn_torch.py`) from the trainer's tasks and tests, where
 * a Python with torch is installed (Debian: `python3-torch`). Never a dependency of training.
 *
 * @module
 */

/** The reference script. */
export const TORCH_SCRIPT: string = new URL("./resnet_fcn_torch.py", import.meta.url).pathname;

/** The first of `/usr/bin/python3` and the `python3` on PATH that imports every module, or null. */
export async function findPython(modules: readonly string[]): Promise<string | null> {
  for (const py of ["/usr/bin/python3", "python3"]) {
    try {
      const out = await new Deno.Command(py, {
        args: ["-c", `import ${modules.join(", ")}`],
        stdout: "null",
        stderr: "null",
      }).output();
      if (out.success) return py;
    } catch {
      // no interpreter under this name
    }
  }
  return null;
}

/** A Python interpreter that imports torch and numpy, or null. */
export function findTorchPython(): Promise<string | null> {
  return findPython(["torch", "numpy"]);
}

/** Runs the script with `args`; resolves to its stdout, throws with its last stderr line. */
export async function runTorchReference(python: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(python, {
    args: [TORCH_SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
    throw new Error(`PyTorch reference failed: ${err}`);
  }
  return new TextDecoder().decode(out.stdout);
}
