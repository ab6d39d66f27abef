/**
 * Declarative command-line flags shared by every subcommand: parsing with `node:util`'s
 * `parseArgs`, validation before any work starts, and `--help` text with defaults.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** A bad command line: the CLI prints the message on one line and exits with code 2. */
export class UsageError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** How one flag is read. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `batch-size`. */
  name: string;
  /** Value kind; `list` may repeat. */
  type: "string" | "number" | "integer" | "boolean" | "list";
  /** Default value (shown in `--help`). */
  default?: string | number | boolean | string[];
  /** One-line help. */
  help: string;
  /** Allowed string values. */
  choices?: readonly string[];
  /** Smallest allowed number. */
  min?: number;
  /** Whether the smallest number is excluded (default false). */
  exclusiveMin?: boolean;
  /** The flag must be given. */
  required?: boolean;
  /** The value names a file that must exist. */
  existingPath?: boolean;
}

/** Parsed flag values by long name. */
export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

/** Renders `--help` for a command. */
export function helpText(command: string, summary: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const arg = s.type === "boolean" ? "" : s.choices ? ` ${s.choices.join("|")}` : " VALUE";
    const def = s.default === undefined || s.default === false ||
        (Array.isArray(s.default) && s.default.length === 0)
      ? ""
      : ` (default: ${Array.isArray(s.default) ? s.default.join(",") : s.default})`;
    return [`  --${s.name}${arg}`, `${s.help}${s.required ? " (required)" : ""}${def}`];
  });
  const w = Math.max(...rows.map((r) => r[0].length), 10) + 2;
  return [
    `Usage: trainer ${command} [flags]`,
    "",
    summary,
    "",
    "Flags:",
    ...rows.map(([a, b]) => a.padEnd(w) + b),
    `  --help`.padEnd(w) + "Show this help",
  ].join("\n");
}

function toNumber(spec: FlagSpec, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) {
    throw new UsageError(`--${spec.name} needs a number, got "${raw}"`);
  }
  if (spec.type === "integer" && !Number.isInteger(n)) {
    throw new UsageError(`--${spec.name} needs a whole number, got "${raw}"`);
  }
  if (spec.min !== undefined && (n < spec.min || (spec.exclusiveMin && n === spec.min))) {
    throw new UsageError(
      `--${spec.name} must be ${
        spec.exclusiveMin ? "greater than" : "at least"
      } ${spec.min}, got ${raw}`,
    );
  }
  return n;
}

/**
 * Parses and validates `args`. Returns null when `--help` was asked (the help is printed).
 * Throws {@linkcode UsageError} for unknown flags, missing values, bad numbers or choices and
 * missing files.
 */
export function parseFlags(
  command: string,
  summary: string,
  specs: readonly FlagSpec[],
  args: string[],
): FlagValues | null {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    help: { type: "boolean" },
  };
  for (const s of specs) {
    options[s.name] = { type: s.type === "boolean" ? "boolean" : "string" };
    if (s.type === "list") options[s.name].multiple = true;
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify.*$/s, "").replace(/\s+/g, " ");
    throw new UsageError(`${msg} (see 'trainer ${command} --help')`);
  }
  if (parsed.values.help) {
    console.log(helpText(command, summary, specs));
    return null;
  }
  const out: FlagValues = {};
  for (const s of specs) {
    const raw = parsed.values[s.name] as string | boolean | string[] | undefined;
    if (raw === undefined) {
      if (s.required) {
        throw new UsageError(`--${s.name} is required (see 'trainer ${command} --help')`);
      }
      out[s.name] = s.default;
      continue;
    }
    if (s.type === "boolean" || s.type === "list") {
      out[s.name] = raw;
      continue;
    }
    const value = raw as string;
    if (s.type === "number" || s.type === "integer") {
      out[s.name] = toNumber(s, value);
      continue;
    }
    if (s.choices && !s.choices.includes(value)) {
      throw new UsageError(`--${s.name} must be one of ${s.choices.join(", ")}, got "${value}"`);
    }
    if (s.existingPath) {
      try {
        Deno.statSync(value);
      } catch {
        throw new UsageError(`--${s.name}: no such file or folder: ${value}`);
      }
    }
    out[s.name] = value;
  }
  return out;
}

/**
 * Typed reads of parsed flags. `parseFlags` already checked every value against its spec, so a
 * getter that finds another type means the spec and the read disagree: a bug, thrown as such.
 *
 * @example
 * ```ts
 * import { Flags, parseFlags } from "./flags.ts";
 *
 * const values = parseFlags("demo", "", [
 *   { name: "epochs", type: "integer", default: 3, help: "Epochs" },
 *   { name: "data", type: "string", help: "Data folder" },
 * ], ["--epochs", "5"]);
 * const flags = new Flags(values!);
 * console.log(flags.number("epochs"), flags.optionalString("data")); // 5 undefined
 * ```
 */
export class Flags {
  /** The parsed values, by long name. */
  readonly values: FlagValues;

  /**
   * Wraps values returned by {@linkcode parseFlags}.
   *
   * @param values Parsed flag values.
   */
  constructor(values: FlagValues) {
    this.values = values;
  }

  #get(name: string, type: string): unknown {
    const value = this.values[name];
    if (value !== undefined && (type === "list" ? !Array.isArray(value) : typeof value !== type)) {
      throw new TypeError(`flag --${name}: expected a ${type}, the parser gave ${typeof value}`);
    }
    return value;
  }

  #need<T>(name: string, value: T | undefined): T {
    if (value === undefined) throw new TypeError(`flag --${name} has no value and no default`);
    return value;
  }

  /** A string flag with a default or `required`. */
  string(name: string): string {
    return this.#need(name, this.optionalString(name));
  }

  /** A string flag that may be absent. */
  optionalString(name: string): string | undefined {
    return this.#get(name, "string") as string | undefined;
  }

  /** A string flag whose spec lists `choices` (the same list, for its type). */
  choice<T extends string>(name: string, choices: readonly T[]): T {
    const value = this.string(name);
    const found = choices.find((c) => c === value);
    if (found === undefined) throw new TypeError(`flag --${name}: "${value}" is not a choice`);
    return found;
  }

  /** A number or integer flag with a default or `required`. */
  number(name: string): number {
    return this.#need(name, this.optionalNumber(name));
  }

  /** A number or integer flag that may be absent. */
  optionalNumber(name: string): number | undefined {
    return this.#get(name, "number") as number | undefined;
  }

  /** A boolean flag: false when absent. */
  boolean(name: string): boolean {
    return (this.#get(name, "boolean") as boolean | undefined) ?? false;
  }

  /** A list flag: empty when absent. */
  list(name: string): string[] {
    return (this.#get(name, "list") as string[] | undefined) ?? [];
  }
}
