/**
 * `trainer board`: serves a live page of every run's curves in a log folder (see
 * `src/vis/board_server.ts`) until Ctrl-C. Binds 127.0.0.1 unless `--host` says otherwise.
 *
 * @module
 */
import { serveBoard } from "../src/vis/board_server.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";

const FLAGS: FlagSpec[] = [
  { name: "log-dir", type: "string", default: "vis_logs", help: "Folder of the scalar logs" },
  { name: "port", type: "integer", min: 0, default: 6006, help: "Port (0: any free one)" },
  {
    name: "host",
    type: "string",
    default: "127.0.0.1",
    help: "Address to bind; 0.0.0.0 lets other machines see your runs",
  },
  { name: "poll-ms", type: "integer", min: 100, default: 2000, help: "Page refresh interval" },
];

/** Runs the subcommand; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const v = parseFlags(
    "board",
    "Serve live training curves of every run in a log folder (JSONL scalar logs).",
    FLAGS,
    args,
  );
  if (!v) return 0;
  const logDir = String(v["log-dir"]);
  const port = Number(v.port);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  try {
    if (!(await Deno.stat(logDir)).isDirectory) throw new Error();
  } catch {
    throw new UsageError(`--log-dir ${logDir}: no such folder (train first, or name the folder)`);
  }
  const host = String(v.host);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  let server;
  try {
    server = serveBoard({
      logDir,
      hostname: host,
      port,
      pollMs: Number(v["poll-ms"]),
      signal: stop.signal,
      onListen: ({ hostname, port }) => {
        const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
        console.log(`board: ${logDir} at http://${shown}:${port}/`);
        console.log(
          hostname === "127.0.0.1" || hostname === "::1" || hostname === "localhost"
            ? `  bound to ${hostname}: only this machine can open it (--host 0.0.0.0 to share)`
            : `  bound to ${hostname}: other machines on the network can open it`,
        );
        console.log("  Ctrl-C to stop");
      },
    });
  } catch (e) {
    Deno.removeSignalListener("SIGINT", onSignal);
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UsageError(`--port ${port} is in use: pick another (--port 0 takes any free one)`);
    }
    throw e;
  }
  await server.finished;
  Deno.removeSignalListener("SIGINT", onSignal);
  return 0;
}
