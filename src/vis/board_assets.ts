/**
 * The board page's charting library, uPlot, taken from the npm registry at build time (pinned in
 * `deno.json`, checked by `deno.lock`) and embedded as text, so the board serves it itself and
 * works without internet, from source and from the compiled binary alike.
 *
 * @module
 */
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** uPlot's browser build (defines the global `uPlot`). */
export const UPLOT_JS: string = uplotJs;
/** uPlot's stylesheet. */
export const UPLOT_CSS: string = uplotCss;
