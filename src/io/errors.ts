/**
 * The error every file decoder in `src/io` (and the dataset readers) throws for a malformed file.
 *
 * @example
 * ```ts
 * import { FormatError } from "./errors.ts";
 *
 * const err = new FormatError("weights.safetensors", "header is not valid JSON");
 * console.log(err.message); // "weights.safetensors: header is not valid JSON"
 * ```
 *
 * @module
 */

/**
 * A file (or byte buffer) does not follow its format. The message is `<source>: <problem>`, so it
 * always names the file and says what is wrong with it.
 */
export class FormatError extends Error {
  /** Where the bytes came from: a file path, or `<memory>` for a buffer. */
  readonly source: string;
  /** What is wrong, without the source. */
  readonly problem: string;

  /**
   * Creates the error for `source` (a file path) and what is wrong with it.
   *
   * @param source The file path (or `<memory>`) the bytes came from.
   * @param problem What is wrong with them.
   */
  constructor(source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = "FormatError";
    this.source = source;
    this.problem = problem;
  }
}
