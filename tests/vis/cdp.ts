/**
 * Test helper: a headless Debian Chromium driven over the DevTools protocol (a WebSocket from
 * Deno), enough to open a page, evaluate expressions in it, wait for a condition and take a
 * screenshot.
 *
 * @module
 */

/** The Chromium binary: `$CHROMIUM`, else Debian's `/usr/bin/chromium`; null when neither runs. */
export async function findChromium(): Promise<string | null> {
  for (const bin of [Deno.env.get("CHROMIUM"), "/usr/bin/chromium"]) {
    if (!bin) continue;
    try {
      const r = await new Deno.Command(bin, { args: ["--version"], stdout: "null", stderr: "null" })
        .output();
      if (r.success) return bin;
    } catch {
      // Not installed there.
    }
  }
  return null;
}

/** A running headless browser with one page attached. */
export class Browser {
  #ws: WebSocket;
  #proc: Deno.ChildProcess;
  #profile: string;
  #stderr: Promise<string>;
  #next = 1;
  #pending = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
  #session = "";

  private constructor(
    ws: WebSocket,
    proc: Deno.ChildProcess,
    profile: string,
    err: Promise<string>,
  ) {
    this.#ws = ws;
    this.#proc = proc;
    this.#profile = profile;
    this.#stderr = err;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      const p = this.#pending.get(msg.id);
      if (p === undefined) return;
      this.#pending.delete(msg.id);
      if (msg.error) p.fail(new Error(`CDP: ${JSON.stringify(msg.error)}`));
      else p.ok(msg.result);
    };
  }

  /** Starts Chromium with a fresh profile and the flags that keep it off the network. */
  static async launch(bin: string): Promise<Browser> {
    const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
    const proc = new Deno.Command(bin, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        "--window-size=1300,1100",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Read stderr until the DevTools address shows, then keep draining it so Chromium never
    // blocks on a full pipe.
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let wsUrl: string | null = null;
    const deadline = Date.now() + 20000;
    while (wsUrl === null) {
      const r = await Promise.race([
        reader.read(),
        new Promise<null>((res) => setTimeout(() => res(null), Math.max(0, deadline - Date.now()))),
      ]);
      if (r === null || r.done) {
        try {
          proc.kill("SIGKILL");
        } catch { /* already gone */ }
        await proc.status;
        await Deno.remove(profile, { recursive: true });
        throw new Error(`Chromium did not start its DevTools server:\n${text.slice(-2000)}`);
      }
      text += r.value;
      wsUrl = text.match(/DevTools listening on (ws:\/\/\S+)/)?.[1] ?? null;
    }
    const rest = (async () => {
      for (;;) {
        const r = await reader.read();
        if (r.done) return text;
        text += r.value;
      }
    })();
    const ws = new WebSocket(wsUrl);
    await new Promise((ok, fail) => {
      ws.onopen = ok;
      ws.onerror = () => fail(new Error(`cannot connect to ${wsUrl}`));
    });
    return new Browser(ws, proc, profile, rest);
  }

  /** Sends one DevTools command (to the attached page unless `browserLevel`). */
  // deno-lint-ignore no-explicit-any -- DevTools results are plain JSON of many shapes.
  send(method: string, params: Record<string, unknown> = {}, browserLevel = false): Promise<any> {
    const id = this.#next++;
    const msg: Record<string, unknown> = { id, method, params };
    if (!browserLevel && this.#session) msg.sessionId = this.#session;
    this.#ws.send(JSON.stringify(msg));
    return new Promise((ok, fail) => this.#pending.set(id, { ok, fail }));
  }

  /** Opens `url` in a new page and attaches to it. */
  async open(url: string): Promise<void> {
    const { targetId } = await this.send("Target.createTarget", { url }, true);
    const { sessionId } = await this.send(
      "Target.attachToTarget",
      { targetId, flatten: true },
      true,
    );
    this.#session = sessionId;
  }

  /** Evaluates `expression` in the page and returns its JSON value. */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (r.exceptionDetails) throw new Error(`page: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value as T;
  }

  /** Waits until `expression` is truthy in the page; fails after `timeoutMs`. */
  async waitFor(expression: string, timeoutMs = 15000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (await this.eval<boolean>(`!!(${expression})`)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for: ${expression}`);
  }

  /** A PNG screenshot of the page. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  }

  /** Closes the browser and removes its profile. */
  async close(): Promise<void> {
    try {
      await Promise.race([
        this.send("Browser.close", {}, true),
        new Promise((r) => setTimeout(r, 3000)),
      ]);
    } catch {
      // Closing races the socket going away; the kill below makes sure.
    }
    this.#ws.close();
    const exited = await Promise.race([
      this.#proc.status.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
    ]);
    if (!exited) {
      this.#proc.kill("SIGKILL");
      await this.#proc.status;
    }
    await this.#stderr;
    await Deno.remove(this.#profile, { recursive: true });
  }
}
