/**
 * The end-of-training report as one self-contained HTML page: inline CSS, SVG curves, no scripts
 * and no outside references, so it opens offline in any browser and survives being mailed.
 *
 * @example
 * ```ts
 * import { reportHtml } from "./report_html.ts";
 *
 * const html = reportHtml({
 *   title: "ResNet18-FCN on digits",
 *   settings: { epochs: 2, lr: 0.01 },
 *   final: { "eval/acc_top1": 0.93 },
 *   perClass: [{ name: "0", total: 10, correct: 9 }],
 *   scalars: [{ tag: "train/loss", step: 1, value: 2.3 }],
 * });
 * console.log(html.includes("<svg"));
 * ```
 *
 * @module
 */
import { escapeXml, lineChartSvg } from "./svg_chart.ts";

/** One class's accuracy on the evaluation set. */
export interface ClassAccuracy {
  /** Class name. */
  name: string;
  /** Evaluation images of the class. */
  total: number;
  /** Of them, predicted right (top-1). */
  correct: number;
}

/** What the report shows. */
export interface ReportData {
  /** Page heading. */
  title: string;
  /** The run's settings, shown as a table. */
  settings: Record<string, unknown>;
  /** Final metrics by name (e.g. `eval/acc_top1`); fractions named `acc*` are shown in %. */
  final: Record<string, number>;
  /** Per-class accuracy, or null with {@linkcode ReportData.perClassNote} saying why not. */
  perClass: ClassAccuracy[] | null;
  /** Why there is no per-class table. */
  perClassNote?: string;
  /** Every logged scalar (the scalar log's records). */
  scalars: { tag: string; step: number; value: number }[];
  /** When the report was made (default now). */
  date?: Date;
}

/** The charts: one per group of tags sharing a y axis, training per step, evaluation per epoch. */
const CHARTS: { title: string; tags: string[]; logY?: boolean; x: string }[] = [
  { title: "loss", tags: ["train/loss"], logY: true, x: "step" },
  { title: "learning rate", tags: ["train/lr"], x: "step" },
  { title: "running accuracy", tags: ["train/acc_top1", "train/acc_top5"], x: "step" },
  { title: "evaluation loss", tags: ["eval/loss"], x: "epoch" },
  { title: "evaluation accuracy", tags: ["eval/acc_top1", "eval/acc_top5"], x: "epoch" },
];

function show(name: string, v: number): string {
  return /acc/.test(name) ? `${(100 * v).toFixed(2)} %` : String(Number(v.toPrecision(6)));
}

/** The page; see the module documentation. */
export function reportHtml(d: ReportData): string {
  const byTag = new Map<string, [number, number][]>();
  for (const r of d.scalars) {
    if (!byTag.has(r.tag)) byTag.set(r.tag, []);
    byTag.get(r.tag)!.push([r.step, r.value]);
  }
  const known = new Set(CHARTS.flatMap((c) => c.tags));
  const charts = [
    ...CHARTS,
    ...[...byTag.keys()].filter((t) => !known.has(t)).map((t) => ({
      title: t,
      tags: [t],
      logY: false,
      x: t.startsWith("eval/") ? "epoch" : "step",
    })),
  ].filter((c) => c.tags.some((t) => byTag.has(t)))
    .map((c) =>
      lineChartSvg({
        title: c.title,
        series: c.tags.filter((t) => byTag.has(t)).map((t) => ({ name: t, points: byTag.get(t)! })),
        logY: c.logY,
        xLabel: c.x,
      })
    );
  const rows = (entries: [string, string][]) =>
    entries.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join("");
  const settings = Object.entries(d.settings).map(([k, v]): [string, string] => [
    k,
    typeof v === "string" ? v : JSON.stringify(v),
  ]);
  const final = Object.entries(d.final).map(([k, v]): [string, string] => [k, show(k, v)]);
  const perClass = d.perClass === null
    ? `<p class="note">${escapeXml(d.perClassNote ?? "not computed")}</p>`
    : `<table id="per-class"><tr><th>class</th><th>images</th><th>correct</th><th>accuracy</th>` +
      `</tr>${
        d.perClass.map((c) =>
          `<tr><td>${escapeXml(c.name)}</td><td>${c.total}</td><td>${c.correct}</td><td>${
            c.total === 0 ? "—" : `${(100 * c.correct / c.total).toFixed(2)} %`
          }</td></tr>`
        ).join("")
      }</table>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(d.title)}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; font-size: 0.9em; }
#per-class td:nth-child(n+2) { text-align: right; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.note { color: #666; }
</style></head><body>
<h1>${escapeXml(d.title)}</h1>
<p class="note">Report written ${escapeXml((d.date ?? new Date()).toISOString())}.</p>
<h2>Final metrics</h2>
<table id="final">${rows(final)}</table>
<h2>Curves</h2>
<div class="charts">${charts.join("\n")}</div>
<h2>Per-class accuracy</h2>
${perClass}
<h2>Settings</h2>
<table id="settings">${rows(settings)}</table>
</body></html>
`;
}
