/**
 * `--log-format`: which scalar logs a training run writes (see `plugins/scalar_log.ts`).
 *
 * @module
 */
import { LOG_FORMATS, type LogFormat } from "../plugins/scalar_log.ts";
import { type FlagSpec, UsageError } from "./flags.ts";

/** The flag, default all formats. */
export const LOG_FORMAT_FLAG: FlagSpec = {
  name: "log-format",
  type: "string",
  default: LOG_FORMATS.join(","),
  help: "Scalar logs to write, comma-separated: jsonl (read by `deno task board`), " +
    "tensorboard (events.out.tfevents.*), visualdl (vdlrecords.*.log)",
};

/** The formats a `--log-format` value names; throws {@linkcode UsageError} for a bad one. */
export function parseLogFormats(value: unknown): LogFormat[] {
  const names = String(value).split(",").map((s) => s.trim()).filter((s) => s !== "");
  const bad = names.filter((n) => !(LOG_FORMATS as readonly string[]).includes(n));
  if (bad.length > 0 || names.length === 0) {
    throw new UsageError(
      `--log-format: ${bad.length > 0 ? `unknown format ${bad.join(", ")}` : "no format given"}` +
        ` (choose from ${LOG_FORMATS.join(", ")})`,
    );
  }
  return [...new Set(names as LogFormat[])];
}
