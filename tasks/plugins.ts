/**
 * `--plugin FILE`: loads callbacks from a user's module.
 *
 * The path is resolved against the current folder and imported. Then, in this order:
 * 1. if the module exports a function `createPlugin`, it is called with the run's resolved
 *    configuration (a plain object: model, dataset, epochs, batchSize, lr, saveDir, logDir, …)
 *    and must return a callback or an array of callbacks (or a promise of either);
 * 2. otherwise every exported class that extends `Callback` is instantiated with no arguments.
 * A module that yields no callback is an error. Callbacks run after the built-in ones, in the
 * order the `--plugin` flags were given.
 *
 * A callback is recognised by its shape (the `setModel`, `setParams` and hook methods of
 * `Callback`), so a plugin may import `Callback` from its own copy of the trainer.
 *
 * @example
 * ```ts ignore
 * // my_plugin.ts — run with: deno task train --plugin ./my_plugin.ts
 * import { Callback, type Logs } from "./src/train/callback.ts";
 * export class PrintLoss extends Callback {
 *   override onEpochEnd(epoch: number, logs: Logs) {
 *     console.log(`epoch ${epoch}: loss ${logs.loss}`);
 *   }
 * }
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Callback } from "../src/train/callback.ts";
import { UsageError } from "./flags.ts";

/** The rule, for `--help`. */
export const PLUGIN_RULE: string =
  "A --plugin module either exports createPlugin(config) returning " +
  "callbacks, or exports classes extending Callback, each created with no arguments.";

const HOOKS = ["setModel", "setParams", "onTrainBegin", "onEpochEnd", "onTrainBatchEnd"] as const;

/** True for a `Callback`, or an object with its methods (a `Callback` of another copy). */
export function isCallback(x: unknown): x is Callback {
  if (x instanceof Callback) return true;
  if (typeof x !== "object" || x === null) return false;
  const o = x as Record<string, unknown>;
  return HOOKS.every((h) => typeof o[h] === "function");
}

function isCallbackClass(x: unknown): x is new () => Callback {
  if (typeof x !== "function" || typeof x.prototype !== "object") return false;
  // A module that re-exports the base class must not get a do-nothing callback from it.
  if (x === Callback || x.name === "Callback") return false;
  return x.prototype instanceof Callback || isCallback(x.prototype);
}

/** Checks that every plugin file exists (before any work starts). */
export function checkPluginFiles(paths: readonly string[]): void {
  for (const p of paths) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(p);
    } catch {
      throw new UsageError(`--plugin: no such file: ${p}`);
    }
    if (!info.isFile) throw new UsageError(`--plugin: ${p} is not a file`);
  }
}

/** Imports each plugin module and creates its callbacks; see the module documentation. */
export async function loadPlugins(
  paths: readonly string[],
  config: Readonly<Record<string, unknown>>,
): Promise<Callback[]> {
  checkPluginFiles(paths);
  const out: Callback[] = [];
  for (const p of paths) {
    let mod: Record<string, unknown>;
    try {
      mod = await import(pathToFileURL(resolve(p)).href);
    } catch (e) {
      throw new UsageError(
        `--plugin ${p}: cannot import it: ${(e as Error).message.split("\n")[0]}`,
      );
    }
    let made: unknown[];
    if (typeof mod.createPlugin === "function") {
      const r = await mod.createPlugin(config);
      made = Array.isArray(r) ? r : [r];
      const bad = made.find((c) => !isCallback(c));
      if (bad !== undefined || made.length === 0) {
        throw new UsageError(
          `--plugin ${p}: createPlugin must return a Callback or an array of them`,
        );
      }
    } else {
      made = Object.values(mod).filter(isCallbackClass).map((C) => new C());
      if (made.length === 0) {
        throw new UsageError(
          `--plugin ${p}: exports neither createPlugin(config) nor a class extending Callback`,
        );
      }
    }
    out.push(...made as Callback[]);
  }
  return out;
}
