/**
 * The tree's layering, read from the source: `src/` imports nothing from `plugins/` or `tasks/`,
 * and no module reaches itself through its imports (type-only imports count: a cycle of types is
 * still a cycle a reader has to untangle).
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Relative module specifiers of `import`/`export … from` statements and `import("…")` calls. */
export function relativeImports(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) if (m[1].startsWith(".")) found.push(m[1]);
  }
  return found;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...tsFiles(path));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** Module graph of the library and the commands: file (relative to the root) → imports. */
function moduleGraph(): Map<string, string[]> {
  const files = [
    join(ROOT, "mod.ts"),
    ...["src", "plugins", "tasks"].flatMap((d) => tsFiles(join(ROOT, d))),
  ];
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const deps = relativeImports(Deno.readTextFileSync(file)).map((s) =>
      relative(ROOT, resolve(dirname(file), s))
    );
    graph.set(relative(ROOT, file), deps);
  }
  return graph;
}

/** Every cycle's members (strongly connected components of more than one module, or a self-loop). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

Deno.test("the import reader finds static, re-export, side-effect and dynamic imports", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type {`,
    `  B,`,
    `} from "../b.ts";`,
    `export { c } from "./c.ts";`,
    `import "./d.ts";`,
    `const e = await import("./e.ts");`,
    `import * as tf from "@tensorflow/tfjs-core";`,
    `// import { f } from "./f.ts";`,
    `/** import { g } from "./g.ts"; */`,
  ].join("\n");
  assert.deepEqual(relativeImports(source).sort(), [
    "../b.ts",
    "./a.ts",
    "./c.ts",
    "./d.ts",
    "./e.ts",
  ]);
});

Deno.test("the cycle finder reports a cycle and passes a chain", () => {
  const cyclic = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assert.deepEqual(cycles(cyclic), [["a", "b", "c"]]);
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", []]])), []);
});

Deno.test("src/ imports nothing from plugins/ or tasks/", () => {
  const wrong: string[] = [];
  for (const [file, deps] of moduleGraph()) {
    if (!file.startsWith("src/")) continue;
    for (const d of deps) if (!d.startsWith("src/")) wrong.push(`${file} → ${d}`);
  }
  assert.deepEqual(wrong, []);
});

Deno.test("no module of mod.ts, src/, plugins/ or tasks/ imports itself through others", () => {
  assert.deepEqual(cycles(moduleGraph()), []);
});
