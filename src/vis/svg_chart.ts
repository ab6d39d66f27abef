/**
 * Line charts as standalone SVG text, for pages that must open offline without scripts (the
 * training report). Several series share the axes; each is a `<polyline>` whose points are the
 * data scaled into the plot, with a legend.
 *
 * @example
 * ```ts
 * import { lineChartSvg } from "./svg_chart.ts";
 *
 * const svg = lineChartSvg({
 *   title: "train/loss",
 *   series: [{ name: "loss", points: [[1, 2.3], [2, 1.9], [3, 1.2]] }],
 * });
 * console.log(svg.startsWith("<svg"));
 * ```
 *
 * @module
 */

/** One line of a chart. */
export interface ChartSeries {
  /** Legend text. */
  name: string;
  /** `[x, y]` pairs in x order. */
  points: [number, number][];
}

/** Options of {@linkcode lineChartSvg}. */
export interface LineChartOptions {
  /** Heading inside the chart; also its `data-title`. */
  title: string;
  /** The lines. */
  series: ChartSeries[];
  /** Logarithmic y axis (non-positive values are left out); default false. */
  logY?: boolean;
  /** Size in pixels (default 480 × 260). */
  width?: number;
  /** Size in pixels. */
  height?: number;
  /** Label of the x axis (default `step`). */
  xLabel?: string;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/** Escapes text for HTML and SVG content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A short label for an axis value. */
function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}

/** The chart as an `<svg>` element; see {@linkcode LineChartOptions}. */
export function lineChartSvg(opts: LineChartOptions): string {
  const w = opts.width ?? 480;
  const h = opts.height ?? 260;
  const m = { left: 56, right: 12, top: 28, bottom: 40 };
  const ty = (y: number) => opts.logY ? Math.log10(y) : y;
  const series = opts.series.map((s) => ({
    name: s.name,
    points: s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!opts.logY || y > 0)
    ),
  }));
  const all = series.flatMap((s) => s.points);
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" ` +
    `viewBox="0 0 ${w} ${h}" class="chart" data-title="${escapeXml(opts.title)}" ` +
    `font-family="sans-serif" font-size="11">` +
    `<text x="${w / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">` +
    `${escapeXml(opts.title)}${opts.logY ? " (log scale)" : ""}</text>`;
  if (all.length === 0) {
    return `${head}<text x="${w / 2}" y="${h / 2}" text-anchor="middle">no data</text></svg>`;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => ty(p[1]))), Math.max(...all.map((p) => ty(p[1])))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pw = w - m.left - m.right;
  const ph = h - m.top - m.bottom;
  const sx = (x: number) => m.left + (x - x0) / (x1 - x0) * pw;
  const sy = (y: number) => m.top + (1 - (ty(y) - y0) / (y1 - y0)) * ph;
  const parts = [head];
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + (y1 - y0) * i / 4;
    const y = m.top + (1 - i / 4) * ph;
    const label = fmt(opts.logY ? 10 ** yv : yv);
    parts.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`,
      `<text x="${m.left - 4}" y="${y + 4}" text-anchor="end">${label}</text>`,
    );
    const xv = x0 + (x1 - x0) * i / 4;
    parts.push(
      `<text x="${m.left + pw * i / 4}" y="${m.top + ph + 14}" text-anchor="middle">` +
        `${fmt(xv)}</text>`,
    );
  }
  parts.push(
    `<text x="${m.left + pw / 2}" y="${h - 6}" text-anchor="middle">` +
      `${escapeXml(opts.xLabel ?? "step")}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}" ` +
        `data-series="${escapeXml(s.name)}" data-count="${s.points.length}"/>`,
    );
    if (s.points.length === 1) {
      const [x, y] = s.points[0];
      parts.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${color}"/>`);
    }
    parts.push(
      `<text x="${m.left + 8}" y="${m.top + 14 + 13 * i}" fill="${color}">` +
        `${escapeXml(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}
