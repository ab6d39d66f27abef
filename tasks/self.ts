/**
 * How to start this same program again as a subprocess, both under `deno run` and inside a
 * `deno compile` binary (where the executable is the trainer itself).
 *
 * @module
 */

const MAIN = new URL("./main.ts", import.meta.url);

/** True inside a `deno compile` binary. */
export function isCompiled(): boolean {
  return !/^deno(\.exe)?$/.test(Deno.execPath().split(/[\\/]/).at(-1) ?? "");
}

/** The command and arguments that run `trainer <args>` in a child process. */
export function selfCommand(args: string[]): { command: string; args: string[] } {
  if (isCompiled()) return { command: Deno.execPath(), args };
  return { command: Deno.execPath(), args: ["run", "--allow-all", MAIN.href, ...args] };
}
