/**
 * The board in a real headless Chromium: the page loads from the local server, draws the curves of
 * a run trained during the test, shows its settings, toggles the loss to log scale, and picks up
 * a step appended after it opened. A screenshot goes to `.cache/test-artifacts/board.png`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ScalarLog } from "../../plugins/scalar_log.ts";
import { Model } from "../../src/train/model.ts";
import { MomentumSGD } from "../../src/train/optimizer.ts";
import { serveBoard } from "../../src/vis/board_server.ts";
import { quadrantDataset, tinyNet, useCpu } from "../train/helpers.ts";
import { Browser, findChromium } from "./cdp.ts";

const chromium = await findChromium();
if (chromium === null) {
  console.log("board browser test skipped: no Chromium (Debian: apt-get install chromium)");
}
const ARTIFACTS = fileURLToPath(new URL("../../.cache/test-artifacts/", import.meta.url));

/** Pixels of the page's canvases close to the colour `rgb`. */
const inked = (chart: string, rgb: [number, number, number]) =>
  `(() => {
  const c = document.querySelector('[data-chart="${chart}"] canvas');
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 200 && Math.abs(d[i] - ${rgb[0]}) < 40 && Math.abs(d[i + 1] - ${rgb[1]}) < 40 &&
      Math.abs(d[i + 2] - ${rgb[2]}) < 40) n++;
  }
  return n;
})()`;

Deno.test({
  name: "the board draws a run's curves in Chromium and picks up a step appended later",
  ignore: chromium === null,
  fn: async () => {
    const started = Date.now();
    await useCpu();
    const dir = await Deno.makeTempDir();
    const logDir = `${dir}/vis_logs`;
    await Deno.writeTextFile(
      `${dir}/run.json`,
      JSON.stringify({ network: "TinyNet", settings: { lr: 0.05, "batch-size": 3 } }),
    );
    const model = new Model(tinyNet({ seed: 6 }));
    model.prepare({ optimizer: new MomentumSGD({ lr: 0.05 }) });
    const log = new ScalarLog({ file: `${logDir}/run1.jsonl`, runFile: `${dir}/run.json` });
    await model.fit(quadrantDataset(5), quadrantDataset(4, 1), {
      epochs: 2,
      batchSize: 3,
      verbose: 0,
      callbacks: [log],
    });
    model.dispose();

    const stop = new AbortController();
    let port = 0;
    const server = serveBoard({
      logDir,
      port: 0,
      pollMs: 250,
      signal: stop.signal,
      onListen: (a) => port = a.port,
    });
    const browser = await Browser.launch(chromium!);
    try {
      await browser.open(`http://127.0.0.1:${port}/`);
      // 2 epochs × 2 steps; accuracy charts hold top-1 and top-5.
      await browser.waitFor(
        `document.querySelector('[data-chart="loss"]')?.dataset.points === "4"`,
      );
      await browser.waitFor(
        `document.querySelector('[data-chart="eval-acc"]')?.dataset.points === "4"`,
      );
      const shown = await browser.eval<Record<string, string>>(`Object.fromEntries(
        [...document.querySelectorAll("[data-chart]")].map((e) => [e.dataset.chart, e.dataset.points]))`);
      assert.deepEqual(shown, {
        "loss": "4",
        "lr": "4",
        "train-acc": "8",
        "eval-loss": "2",
        "eval-acc": "4",
      });
      // uPlot drew the loss line in the first series colour (#1f77b4) on its canvas.
      assert.ok(
        await browser.eval<number>(inked("loss", [31, 119, 180])) > 30,
        "no loss line drawn",
      );
      const legend = await browser.eval<string>(
        `document.querySelector('[data-chart="loss"] .u-legend').textContent`,
      );
      assert.match(legend, /train\/loss/);
      const settings = await browser.eval<string>(
        `document.getElementById("settings").textContent`,
      );
      assert.match(settings, /run1 · TinyNet/);
      assert.match(settings, /batch-size3/);

      await browser.eval(`document.getElementById("logscale").click()`);
      await browser.waitFor(
        `document.querySelector('[data-chart="loss"] .u-title').textContent.includes("log scale")`,
      );

      await Deno.mkdir(ARTIFACTS, { recursive: true });
      const png = await browser.screenshot();
      assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
      await Deno.writeFile(`${ARTIFACTS}/board.png`, png);
      console.log(`screenshot: ${ARTIFACTS}board.png (${png.length} bytes)`);

      const polls = Number(await browser.eval<string>("document.body.dataset.polls"));
      await Deno.writeTextFile(
        log.path!,
        JSON.stringify({ tag: "train/loss", step: 5, value: 0.25, wall_time: 1 }) + "\n",
        { append: true },
      );
      await browser.waitFor(
        `document.querySelector('[data-chart="loss"]').dataset.lastStep === "5"`,
      );
      assert.equal(
        await browser.eval<string>(`document.querySelector('[data-chart="loss"]').dataset.points`),
        "5",
      );
      assert.ok(Number(await browser.eval<string>("document.body.dataset.polls")) > polls);
    } finally {
      await browser.close();
      stop.abort();
      await server.finished;
    }
    console.log(`board browser test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  },
});
