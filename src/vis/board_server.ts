/**
 * The HTTP side of `deno task board`: one page that draws every run in a log folder as live
 * curves, the charting library it needs, a list of runs, and the runs' log files read from a byte
 * offset on, so the page polls for what was appended since.
 *
 * Routes (GET only):
 * - `/`: the page; `/uplot.js`, `/uplot.css`: uPlot, embedded (works offline);
 * - `/api/runs`: `[{ name, log, size, settings }]` for every `*.jsonl` under the folder (four
 *   levels deep at most); `settings` is the run folder's `run.json` (`<log without .jsonl>.logs/`),
 *   copied there by the scalar log, or null;
 * - `/logs/<path>?from=N`: the file's bytes from offset N, with its size in `X-File-Size` (a
 *   size below the page's offset means the file was rewritten, e.g. trimmed by a resumed run).
 *
 * A path that is absolute, has a `..` or `.` segment, a backslash or a NUL, or resolves (through
 * symbolic links too) outside the folder gets 404, as does anything that is not a plain file.
 *
 * @example
 * ```ts ignore
 * import { serveBoard } from "./board_server.ts";
 * const server = serveBoard({ logDir: "vis_logs", port: 6006 });
 * await server.finished;
 * ```
 *
 * @module
 */
import { join, relative, sep } from "node:path";
import { runFolderOf } from "../io/record_log.ts";
import { UPLOT_CSS, UPLOT_JS } from "./board_assets.ts";
import { boardPage } from "./board_page.ts";

/** Options of {@linkcode boardHandler}. */
export interface BoardHandlerOptions {
  /** The folder of scalar logs (`--log-dir` of training). */
  logDir: string;
  /** How often the page polls, in milliseconds (default 2000). */
  pollMs?: number;
}

/** One run as `/api/runs` lists it. */
export interface BoardRun {
  /** The log's path under the folder without `.jsonl`. */
  name: string;
  /** The log's path under the folder, `/`-separated. */
  log: string;
  /** Its size in bytes. */
  size: number;
  /** The run folder's `run.json`, or null. */
  settings: unknown;
}

const MAX_DEPTH = 4;

const notFound = () => new Response("not found\n", { status: 404 });

/** The request handler; see the module documentation. */
export function boardHandler(opts: BoardHandlerOptions): (req: Request) => Promise<Response> {
  const page = boardPage({ logDir: opts.logDir, pollMs: opts.pollMs ?? 2000 });
  let root: string | null = null;
  const rootReal = async () => root ??= await Deno.realPath(opts.logDir);
  return async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405 });
    }
    const url = new URL(req.url);
    const path = url.pathname;
    const noStore = { "cache-control": "no-store" };
    if (path === "/" || path === "/index.html") {
      return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (path === "/uplot.js") {
      return new Response(UPLOT_JS, { headers: { "content-type": "text/javascript" } });
    }
    if (path === "/uplot.css") {
      return new Response(UPLOT_CSS, { headers: { "content-type": "text/css" } });
    }
    if (path === "/api/runs") {
      const runs = await listRuns(await rootReal());
      return Response.json(runs, { headers: noStore });
    }
    if (path.startsWith("/logs/")) {
      let rel: string;
      try {
        rel = decodeURIComponent(path.slice("/logs/".length));
      } catch {
        return notFound();
      }
      const file = await insideFolder(await rootReal(), rel);
      if (file === null) return notFound();
      const bytes = await Deno.readFile(file);
      const from = Math.max(0, Math.floor(Number(url.searchParams.get("from") ?? 0)) || 0);
      return new Response(bytes.subarray(Math.min(from, bytes.length)), {
        headers: {
          ...noStore,
          "content-type": "text/plain; charset=utf-8",
          "x-file-size": String(bytes.length),
        },
      });
    }
    return notFound();
  };
}

/** The real path of `rel` inside `root`, or null when it is not a plain file inside it. */
export async function insideFolder(root: string, rel: string): Promise<string | null> {
  if (rel === "" || rel.startsWith("/") || /[\\\0]/.test(rel) || /^[A-Za-z]:/.test(rel)) {
    return null;
  }
  if (rel.split("/").some((p) => p === ".." || p === ".")) return null;
  let real: string;
  try {
    real = await Deno.realPath(join(root, rel));
    if (!(await Deno.stat(real)).isFile) return null;
  } catch {
    return null;
  }
  return real.startsWith(root + sep) ? real : null;
}

/** Every `*.jsonl` under `root`, sorted by path. */
export async function listRuns(root: string): Promise<BoardRun[]> {
  const runs: BoardRun[] = [];
  const walk = async (dir: string, depth: number) => {
    for await (const e of Deno.readDir(dir)) {
      const full = join(dir, e.name);
      if (e.isDirectory && depth < MAX_DEPTH) await walk(full, depth + 1);
      else if (e.isFile && e.name.endsWith(".jsonl")) {
        const log = relative(root, full).split(sep).join("/");
        const name = log.replace(/\.jsonl$/, "");
        let settings: unknown = null;
        try {
          settings = JSON.parse(await Deno.readTextFile(join(runFolderOf(full), "run.json")));
        } catch {
          // No copy of run.json (a run from before it was written, or another writer's log).
        }
        runs.push({ name, log, size: (await Deno.stat(full)).size, settings });
      }
    }
  };
  await walk(root, 1);
  return runs.sort((a, b) => a.name < b.name ? -1 : 1);
}

/** Options of {@linkcode serveBoard}. */
export interface ServeBoardOptions extends BoardHandlerOptions {
  /** Address to bind (default `127.0.0.1`: this machine only). */
  hostname?: string;
  /** Port (default 6006; 0 picks a free one). */
  port?: number;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /** Called with the address once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** Serves the board until `signal` aborts. */
export function serveBoard(opts: ServeBoardOptions): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 6006,
    signal: opts.signal,
    onListen: opts.onListen ?? (() => {}),
  }, boardHandler(opts));
}
