/**
 * The recipe's learning-rate stepping rule, as a plugin. It lives in `src/train/lr_scheduler.ts`
 * because `Model.fit` adds one by default when none is given (a schedule must not silently stay
 * at its first value, and the core imports nothing from `plugins/`); this module keeps the
 * plugin path working. Pass your own (`new LRScheduler({ per: "step" })`, or a subclass) to
 * replace the default.
 *
 * @example
 * ```ts
 * import { LRScheduler } from "./lr_scheduler.ts";
 * const perStep = new LRScheduler({ per: "step" });
 * ```
 *
 * @module
 */
export { LRScheduler, type LRSchedulerOptions } from "../src/train/lr_scheduler.ts";
