/**
 * The system libraries the trainer's backends load at run time, and how to get them: oneDNN for
 * the native CPU backend, Mesa for WebGPU on a software adapter where there is no GPU. On
 * Debian and Ubuntu they are packages; {@linkcode checkSystemPackages} says which are missing and
 * the command that installs them, {@linkcode installSystemPackages} runs it where it may.
 *
 * @example
 * ```ts
 * import { checkSystemPackages } from "./system_packages.ts";
 * const check = await checkSystemPackages();
 * for (const p of check.missing) console.log(`${p.name}: ${p.purpose}`);
 * ```
 *
 * @module
 */

/** A system package a backend needs. */
export interface SystemPackage {
  /** Debian/Ubuntu package name. */
  name: string;
  /** What it gives the trainer. */
  purpose: string;
}

/** The Debian/Ubuntu packages the backends load at run time. */
export const SYSTEM_PACKAGES: readonly SystemPackage[] = [
  { name: "libdnnl2", purpose: "oneDNN, the native CPU backend" },
  { name: "libegl1", purpose: "EGL loader, for WebGPU on Mesa's software adapter" },
  { name: "libegl-mesa0", purpose: "Mesa's EGL, for WebGPU on its software adapter" },
  { name: "libgl1-mesa-dri", purpose: "Mesa's llvmpipe, the software adapter WebGPU runs on" },
];

/** What a machine has of {@linkcode SYSTEM_PACKAGES}. */
export type SystemCheck =
  | {
    /** A Debian-based system: the packages were looked up. */
    kind: "debian";
    /** Packages not installed. */
    missing: SystemPackage[];
    /** The command that installs the missing ones, `""` when none is missing. */
    installCommand: string;
    /** Whether this process may install them: root, or password-less sudo. */
    canInstall: boolean;
  }
  | {
    /** Not a Debian-based system: nothing was looked up. */
    kind: "other";
    /** Nothing is known missing here; the advice says what to do. */
    missing: SystemPackage[];
    /** What to install on this system, in words. */
    advice: string;
  };

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Installed packages among `names`, from dpkg's database. */
async function installed(names: readonly string[]): Promise<Set<string>> {
  const out = await new Deno.Command("dpkg-query", {
    args: ["-W", "-f=${Package} ${db:Status-Abbrev}\\n", ...names],
    stdout: "piped",
    stderr: "null",
  }).output();
  const found = new Set<string>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [name, status] = line.split(" ");
    // "ii": desired install, currently installed.
    if (status?.startsWith("ii")) found.add(name.replace(/:.*$/, ""));
  }
  return found;
}

function isRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

/** Looks up {@linkcode SYSTEM_PACKAGES} on this machine. Never throws. */
export async function checkSystemPackages(): Promise<SystemCheck> {
  if (Deno.build.os === "darwin") {
    return {
      kind: "other",
      missing: [],
      advice: "macOS: WebGPU runs on Metal with no extra package; the native CPU backend " +
        "(oneDNN through FFI) is built for Linux only, so training runs on WebGPU.",
    };
  }
  if (Deno.build.os === "windows") {
    return {
      kind: "other",
      missing: [],
      advice: "Windows: WebGPU runs on Direct3D 12 or Vulkan with the GPU's driver; the native " +
        "CPU backend is built for Linux only (use WSL with Debian or Ubuntu for it).",
    };
  }
  if (!(await succeeds("dpkg-query", ["--version"]))) {
    return {
      kind: "other",
      missing: [],
      advice: "Not a Debian-based system: install oneDNN 2.x (libdnnl.so.2) for the native CPU " +
        "backend and Mesa's EGL with llvmpipe for WebGPU without a GPU, from your distribution.",
    };
  }
  const have = await installed(SYSTEM_PACKAGES.map((p) => p.name));
  const missing = SYSTEM_PACKAGES.filter((p) => !have.has(p.name));
  const root = isRoot();
  const names = missing.map((p) => p.name).join(" ");
  return {
    kind: "debian",
    missing,
    installCommand: missing.length === 0
      ? ""
      : `${root ? "" : "sudo "}apt-get install -y --no-install-recommends ${names}`,
    canInstall: missing.length > 0 && (root || await succeeds("sudo", ["-n", "true"])),
  };
}

/** Options of {@linkcode installSystemPackages}. */
export interface InstallOptions {
  /** Where each command and its outcome are reported (default `console.log`). */
  log?: (line: string) => void;
}

/**
 * Installs what {@linkcode checkSystemPackages} found missing, with apt-get, printing each
 * command before it runs; resolves to whether everything is installed afterwards. Only where
 * `check.canInstall` (root or password-less sudo); otherwise it prints the command to run.
 */
export async function installSystemPackages(
  check: SystemCheck,
  opts: InstallOptions = {},
): Promise<boolean> {
  const log = opts.log ?? console.log;
  if (check.kind !== "debian") {
    log(check.advice);
    return false;
  }
  if (check.missing.length === 0) return true;
  const what = check.missing.map((p) => `${p.name} (${p.purpose})`).join(", ");
  if (!check.canInstall) {
    log(`missing: ${what}`);
    log(`to install them, run: ${check.installCommand}`);
    return false;
  }
  log(`installing missing system packages: ${what}`);
  const sudo = isRoot() ? [] : ["sudo", "-n"];
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  for (
    const args of [
      ["apt-get", "update", "-qq"],
      [
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        ...check.missing.map((p) => p.name),
      ],
    ]
  ) {
    const argv = [...sudo, ...args];
    log(`+ ${argv.join(" ")}`);
    let ok = false;
    try {
      const out = await new Deno.Command(argv[0], { args: argv.slice(1), env, stdout: "null" })
        .output();
      ok = out.success;
    } catch (e) {
      log(`  ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!ok) {
      log(`that failed; to install by hand, run: ${check.installCommand}`);
      return false;
    }
  }
  return true;
}
