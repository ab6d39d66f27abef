/**
 * The progress display, as a plugin. It lives in `src/train/progress_bar.ts` because `Model.fit`
 * adds one by default (the core imports nothing from `plugins/`); this module keeps the plugin
 * path working.
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress_bar.ts";
 * const bar = new ProgressBar({ mode: "lines", write: (text) => console.log(text.trimEnd()) });
 * ```
 *
 * @module
 */
export { formatValue, ProgressBar, type ProgressBarOptions } from "../src/train/progress_bar.ts";
