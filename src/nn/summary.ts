/**
 * A Keras-like text summary of a network: one row per layer with output shape and parameter
 * count, then the totals with thousands separators.
 *
 * @module
 */
import type { Network } from "./network.ts";

/** Parameter totals of a network. */
export interface ParamCounts {
  /** Every scalar the network stores. */
  total: number;
  /** Scalars the optimiser updates (conv kernels and biases, BN scale and shift). */
  trainable: number;
  /** BN moving statistics. */
  nonTrainable: number;
}

/** Counts a network's parameters from its variables. */
export function countParams(net: Network): ParamCounts {
  let total = 0;
  let trainable = 0;
  for (const v of net.variables()) {
    total += v.variable.size;
    if (v.trainable) trainable += v.variable.size;
  }
  return { total, trainable, nonTrainable: total - trainable };
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** Renders the summary for an input of side `inputSize`. */
export function formatSummary(net: Network, inputSize: number): string {
  const rows = net.layers(inputSize).map((r) => [
    `${r.name} (${r.type})`,
    `(${r.outputShape.map((d) => d ?? "None").join(", ")})`,
    fmt(r.params),
  ]);
  const header = ["Layer (type)", "Output Shape", "Param #"];
  const w = [0, 1, 2].map((i) => Math.max(header[i].length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    `${r[0].padEnd(w[0])}  ${r[1].padEnd(w[1])}  ${r[2].padStart(w[2])}`;
  const rule = (c: string) => c.repeat(w[0] + w[1] + w[2] + 4);
  const counts = countParams(net);
  return [
    `Model: "${net.name}"`,
    rule("_"),
    line(header),
    rule("="),
    ...rows.map(line),
    rule("="),
    `Total params: ${fmt(counts.total)}`,
    `Trainable params: ${fmt(counts.trainable)}`,
    `Non-trainable params: ${fmt(counts.nonTrainable)}`,
    rule("_"),
  ].join("\n");
}
