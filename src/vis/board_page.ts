/**
 * The board's one page: plain HTML and a script that polls the server for runs and for what was
 * appended to their JSONL logs, and draws them with uPlot (served by the board itself).
 *
 * Charts: training loss (log scale toggle), learning rate and running accuracy per step;
 * evaluation loss and accuracy per epoch; any other tag in a chart of its own. Runs are overlaid,
 * one colour each, with a legend. Each chart's element carries `data-chart`, `data-points` (points
 * drawn) and `data-last-step`, and `document.body.dataset.polls` counts completed polls, so a
 * test (or a curious user) can read what is shown.
 *
 * @module
 */
import { escapeXml } from "./svg_chart.ts";

/** Options of {@linkcode boardPage}. */
export interface BoardPageOptions {
  /** The folder shown, for the heading. */
  logDir: string;
  /** Poll interval in milliseconds. */
  pollMs: number;
}

const SCRIPT = String.raw`
"use strict";
const POLL_MS = Number(document.body.dataset.pollMs);
const GROUPS = [
  { id: "loss", title: "training loss", tags: ["train/loss"], x: "step", logToggle: true },
  { id: "lr", title: "learning rate", tags: ["train/lr"], x: "step" },
  { id: "train-acc", title: "running accuracy", tags: ["train/acc_top1", "train/acc_top5"], x: "step" },
  { id: "eval-loss", title: "evaluation loss", tags: ["eval/loss"], x: "epoch" },
  { id: "eval-acc", title: "evaluation accuracy", tags: ["eval/acc_top1", "eval/acc_top5"], x: "epoch" },
];
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
const runs = new Map(); // name -> { log, offset, rest, tags: Map(tag -> {x: [], y: []}), settings }
const charts = new Map(); // group id -> { group, plot, key }
let polls = 0;

function groupsNow() {
  const known = new Set(GROUPS.flatMap((g) => g.tags));
  const extra = new Set();
  for (const r of runs.values()) for (const t of r.tags.keys()) if (!known.has(t)) extra.add(t);
  return GROUPS.concat([...extra].sort().map((t) => ({
    id: "tag-" + t.replace(/[^A-Za-z0-9_-]/g, "_"), title: t, tags: [t],
    x: t.startsWith("eval/") ? "epoch" : "step",
  })));
}

function ingest(run, text) {
  const lines = (run.rest + text).split("\n");
  run.rest = lines.pop();
  for (const line of lines) {
    if (line.trim() === "") continue;
    let r;
    try { r = JSON.parse(line); } catch { continue; }
    if (!run.tags.has(r.tag)) run.tags.set(r.tag, { x: [], y: [] });
    const s = run.tags.get(r.tag);
    // A resumed run may log a step again after a crash: the newer value replaces the older.
    let i = s.x.length;
    while (i > 0 && s.x[i - 1] >= r.step) i--;
    s.x.splice(i, s.x.length - i, r.step);
    s.y.splice(i, s.y.length - i, r.value);
  }
}

async function poll() {
  const list = await (await fetch("/api/runs", { cache: "no-store" })).json();
  for (const info of list) {
    let run = runs.get(info.name);
    if (!run) {
      run = { log: info.log, offset: 0, rest: "", tags: new Map(), settings: info.settings };
      runs.set(info.name, run);
    }
    run.settings = info.settings;
    if (info.size === run.offset) continue;
    const res = await fetch("/logs/" + info.log.split("/").map(encodeURIComponent).join("/") +
      "?from=" + run.offset, { cache: "no-store" });
    if (!res.ok) continue;
    const size = Number(res.headers.get("x-file-size"));
    const text = await res.text();
    if (size < run.offset) { // rewritten (a resumed run trims its log): read it again
      run.offset = 0; run.rest = ""; run.tags = new Map();
      continue;
    }
    run.offset = size;
    ingest(run, text);
  }
  render();
  polls++;
  document.body.dataset.polls = String(polls);
  document.getElementById("status").textContent = runs.size + " run(s) · updated " +
    new Date().toLocaleTimeString();
}

function seriesOf(group) {
  const out = [];
  let k = 0;
  for (const [name, run] of runs) {
    for (const tag of group.tags) {
      const s = run.tags.get(tag);
      const color = COLORS[k++ % COLORS.length];
      if (!s || s.x.length === 0) continue;
      out.push({ label: (runs.size > 1 ? name + " " : "") + tag, color, x: s.x, y: s.y });
    }
  }
  return out;
}

function render() {
  const root = document.getElementById("charts");
  const logY = document.getElementById("logscale").checked;
  for (const group of groupsNow()) {
    const series = seriesOf(group);
    if (series.length === 0) continue;
    let c = charts.get(group.id);
    if (!c) {
      const el = document.createElement("div");
      el.className = "chart";
      el.dataset.chart = group.id;
      el.dataset.tags = group.tags.join(",");
      root.appendChild(el);
      c = { group, el, plot: null, key: "" };
      charts.set(group.id, c);
    }
    const useLog = logY && group.logToggle && series.every((s) => s.y.every((v) => v > 0));
    const key = series.map((s) => s.label).join("|") + (useLog ? "|log" : "");
    const data = uPlot.join(series.map((s) => [s.x, s.y]));
    if (c.plot === null || c.key !== key) {
      if (c.plot) c.plot.destroy();
      c.el.innerHTML = "";
      c.plot = new uPlot({
        title: group.title + (useLog ? " (log scale)" : ""),
        width: 560, height: 280,
        scales: { x: { time: false }, y: useLog ? { distr: 3 } : {} },
        axes: [{ label: group.x }, {}],
        series: [{ label: group.x }].concat(series.map((s) => ({
          label: s.label, stroke: s.color, width: 1.5, spanGaps: true,
          points: { show: s.x.length < 40 },
        }))),
      }, data, c.el);
      c.key = key;
    } else {
      c.plot.setData(data);
    }
    c.el.dataset.points = String(series.reduce((n, s) => n + s.x.length, 0));
    c.el.dataset.lastStep = String(Math.max(...series.map((s) => s.x[s.x.length - 1])));
  }
  renderSettings();
}

function renderSettings() {
  const box = document.getElementById("settings");
  const html = [...runs].map(([name, run]) => {
    const st = run.settings && (run.settings.settings || run.settings);
    const rows = st && typeof st === "object"
      ? Object.entries(st).map(([k, v]) => "<tr><th>" + esc(k) + "</th><td>" +
        esc(typeof v === "string" ? v : JSON.stringify(v)) + "</td></tr>").join("")
      : "<tr><td>no run.json beside this log</td></tr>";
    const head = run.settings && run.settings.network ? " · " + esc(run.settings.network) : "";
    return "<details><summary>" + esc(name) + head + "</summary><table>" + rows + "</table></details>";
  }).join("");
  if (box.dataset.html !== html) { box.innerHTML = html; box.dataset.html = html; }
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
}

document.getElementById("logscale").addEventListener("change", render);
async function loop() {
  try { await poll(); } catch (e) {
    document.getElementById("status").textContent = "cannot reach the board server: " + e;
  }
  setTimeout(loop, POLL_MS);
}
loop();
`;

/** The page's HTML. */
export function boardPage(opts: BoardPageOptions): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>board: ${escapeXml(opts.logDir)}</title>
<link rel="stylesheet" href="/uplot.css">
<style>
body { font-family: sans-serif; margin: 1em 1.5em; color: #222; }
header { display: flex; gap: 2em; align-items: baseline; flex-wrap: wrap; }
#charts { display: flex; flex-wrap: wrap; gap: 1em; margin-top: 1em; }
.chart { border: 1px solid #ddd; padding: 0.3em; }
#status { color: #666; }
details { margin: 0.3em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.1em 0.5em; text-align: left; }
</style>
<script src="/uplot.js"></script>
</head><body data-poll-ms="${opts.pollMs}">
<header><h1>${escapeXml(opts.logDir)}</h1><span id="status">loading…</span>
<label><input type="checkbox" id="logscale"> log-scale loss</label></header>
<div id="charts"></div>
<h2>Runs</h2>
<div id="settings"></div>
<script>${SCRIPT}</script>
</body></html>
`;
}
