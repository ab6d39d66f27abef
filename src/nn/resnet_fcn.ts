/**
 * ResNet-FCN: a ResNet whose classifier is fully convolutional (no pooling, no dense layer), as
 * the recipe specifies. One model object takes any input side ≥ 17: at 32×32 (and 17–33) it
 * returns (N, classes) logits, on larger inputs a (N, h, w, classes) map of class scores.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { resnetFCN } from "./resnet_fcn.ts";
 * const net = resnetFCN({ depth: 18, width: 8, numClasses: 10 });
 * net.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { addRelu, BatchNorm, Conv2d, SeedSequence } from "./layers.ts";
import type { LayerInfo, NamedVariable, Network } from "./network.ts";

/** Depths of the family and their blocks per stage (recipe). */
export const RESNET_BLOCKS: Readonly<
  Record<ResNetDepth, readonly [number, number, number, number]>
> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
  50: [3, 4, 6, 3],
  101: [3, 4, 23, 3],
  152: [3, 8, 36, 3],
};

/** The depths of the ResNet-FCN family. */
export type ResNetDepth = 18 | 34 | 50 | 101 | 152;

/** Options of {@linkcode resnetFCN}. */
export interface ResNetFCNOptions {
  /** 18, 34 (basic blocks), 50, 101 or 152 (bottlenecks). Default 50. */
  depth?: ResNetDepth;
  /** Number of classes. Default 10. */
  numClasses?: number;
  /** Base planes W: stem W, stages W, 2W, 4W, 8W, head 16·W. Default 64. */
  width?: number;
  /** Input channels. Default 3. */
  inChannels?: number;
  /** Seed of the initial weights. Default 0. */
  seed?: number;
  /** Blocks per stage, overriding the depth's (for tiny test and demo models). */
  blocks?: readonly [number, number, number, number];
}

/** Smallest input side for which the 2×2 head still fits. */
export const MIN_INPUT_SIZE = 17;

interface Block {
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D;
  variables(): NamedVariable[];
  rows(size: number): { rows: LayerInfo[]; size: number };
}

function convRow(c: Conv2d, size: number): LayerInfo {
  const out = c.outSize(size);
  return {
    name: c.name,
    type: "Conv2D",
    outputShape: [null, out, out, c.outChannels],
    params: c.variables().reduce((n, v) => n + v.variable.size, 0),
  };
}

function bnRow(b: BatchNorm, size: number): LayerInfo {
  const ch = b.gamma.size;
  return { name: b.name, type: "BatchNorm", outputShape: [null, size, size, ch], params: 4 * ch };
}

function plainRow(name: string, type: string, size: number, ch: number): LayerInfo {
  return { name, type, outputShape: [null, size, size, ch], params: 0 };
}

/**
 * `f(t)`, then `t` disposed. Inside the network's `tf.tidy` every intermediate would otherwise
 * live until the whole forward pass ends; disposed as soon as used, one that no gradient needs
 * (a BatchNorm output before its ReLU, a residual sum) frees its memory at once, and one that a
 * gradient saved keeps its data in the saved copy until backpropagation has passed it.
 */
function consume<T extends tf.Tensor, U>(t: T, f: (t: T) => U): U {
  const out = f(t);
  t.dispose();
  return out;
}

/** Convs and BNs of one residual block, applied in sequence with ReLU between. */
class ResidualBlock implements Block {
  readonly convs: Conv2d[];
  readonly bns: BatchNorm[];
  readonly shortcut?: { conv: Conv2d; bn: BatchNorm };
  readonly name: string;

  constructor(
    name: string,
    inCh: number,
    planes: number,
    stride: number,
    bottleneck: boolean,
    seeds: SeedSequence,
  ) {
    this.name = name;
    const conv = (i: number, cin: number, cout: number, k: number, s: number) =>
      new Conv2d({
        name: `${name}.conv${i}`,
        inChannels: cin,
        outChannels: cout,
        kernel: k,
        stride: s,
        padding: k === 3 ? 1 : 0,
        init: "kaiming",
        seeds,
      });
    const outCh = bottleneck ? planes * 4 : planes;
    this.convs = bottleneck
      ? [
        conv(1, inCh, planes, 1, 1),
        conv(2, planes, planes, 3, stride),
        conv(3, planes, outCh, 1, 1),
      ]
      : [conv(1, inCh, planes, 3, stride), conv(2, planes, planes, 3, 1)];
    this.bns = this.convs.map((c, i) => new BatchNorm(`${name}.bn${i + 1}`, c.outChannels));
    if (stride !== 1 || inCh !== outCh) {
      this.shortcut = {
        conv: new Conv2d({
          name: `${name}.downsample.0`,
          inChannels: inCh,
          outChannels: outCh,
          kernel: 1,
          stride,
          init: "kaiming",
          seeds,
        }),
        bn: new BatchNorm(`${name}.downsample.1`, outCh),
      };
    }
  }

  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    let y = x;
    const last = this.convs.length - 1;
    this.convs.forEach((c, i) => {
      const input = y;
      y = consume(c.apply(input), (conv) => this.bns[i].apply(conv, training, i < last));
      if (input !== x) input.dispose();
    });
    const identity = this.shortcut
      ? consume(this.shortcut.conv.apply(x), (conv) => this.shortcut!.bn.apply(conv, training))
      : x;
    const out = consume(y, (main) => addRelu(main, identity));
    if (identity !== x) identity.dispose();
    return out;
  }

  variables(): NamedVariable[] {
    const vars: NamedVariable[] = [];
    this.convs.forEach((c, i) => vars.push(...c.variables(), ...this.bns[i].variables()));
    if (this.shortcut) {
      vars.push(...this.shortcut.conv.variables(), ...this.shortcut.bn.variables());
    }
    return vars;
  }

  rows(size: number): { rows: LayerInfo[]; size: number } {
    const rows: LayerInfo[] = [];
    let s = size;
    const last = this.convs.length - 1;
    this.convs.forEach((c, i) => {
      rows.push(convRow(c, s));
      s = c.outSize(s);
      rows.push(bnRow(this.bns[i], s));
      if (i < last) rows.push(plainRow(`${this.name}.relu${i + 1}`, "ReLU", s, c.outChannels));
    });
    const ch = this.convs[last].outChannels;
    if (this.shortcut) {
      rows.push(convRow(this.shortcut.conv, size), bnRow(this.shortcut.bn, s));
    }
    rows.push(plainRow(`${this.name}.add`, "Add", s, ch));
    rows.push(plainRow(`${this.name}.relu`, "ReLU", s, ch));
    return { rows, size: s };
  }
}

class ResNetFCN implements Network {
  readonly name: string;
  readonly #stem: Conv2d;
  readonly #stemBn: BatchNorm;
  readonly #blocks: ResidualBlock[] = [];
  readonly #head: Conv2d;
  readonly #head2: Conv2d;
  readonly #inChannels: number;

  constructor(opts: Required<Omit<ResNetFCNOptions, "blocks">> & { blocks: readonly number[] }) {
    const { depth, numClasses, width, inChannels } = opts;
    const seeds = new SeedSequence(opts.seed);
    const bottleneck = depth >= 50;
    const custom = opts.blocks.join(",") !== RESNET_BLOCKS[depth].join(",");
    this.name = `ResNet${depth}-FCN` + (width !== 64 || custom ? `(w${width},${opts.blocks})` : "");
    this.#inChannels = inChannels;
    this.#stem = new Conv2d({
      name: "conv1",
      inChannels,
      outChannels: width,
      kernel: 7,
      stride: 2,
      padding: 3,
      init: "kaiming",
      seeds,
    });
    this.#stemBn = new BatchNorm("bn1", width);
    let ch = width;
    opts.blocks.forEach((n, stage) => {
      const planes = width * 2 ** stage;
      for (let i = 0; i < n; i++) {
        const stride = stage > 0 && i === 0 ? 2 : 1;
        const block = new ResidualBlock(
          `layer${stage + 1}.${i}`,
          ch,
          planes,
          stride,
          bottleneck,
          seeds,
        );
        this.#blocks.push(block);
        ch = bottleneck ? planes * 4 : planes;
      }
    });
    this.#head = new Conv2d({
      name: "final_conv",
      inChannels: ch,
      outChannels: 16 * width,
      kernel: 2,
      bias: true,
      init: "uniform",
      seeds,
    });
    this.#head2 = new Conv2d({
      name: "final_conv2",
      inChannels: 16 * width,
      outChannels: numClasses,
      kernel: 1,
      bias: true,
      init: "uniform",
      seeds,
    });
  }

  apply(x: tf.Tensor4D, training: boolean): tf.Tensor {
    const [, h, w, c] = x.shape;
    if (c !== this.#inChannels) {
      throw new Error(
        `${this.name} expects ${this.#inChannels} input channels, got ${c} (shape ${x.shape})`,
      );
    }
    if (h < MIN_INPUT_SIZE || w < MIN_INPUT_SIZE) {
      throw new Error(
        `${this.name} needs inputs of at least ${MIN_INPUT_SIZE}×${MIN_INPUT_SIZE}, got ${h}×${w}`,
      );
    }
    return tf.tidy(() => {
      let y = consume(this.#stem.apply(x), (conv) => this.#stemBn.apply(conv, training, true));
      for (const b of this.#blocks) y = consume(y, (input) => b.apply(input, training));
      const out = this.#head2.apply(this.#head.apply(y));
      const [n, oh, ow, k] = out.shape;
      return oh === 1 && ow === 1 ? tf.reshape(out, [n, k]) : out;
    });
  }

  variables(): NamedVariable[] {
    return [
      ...this.#stem.variables(),
      ...this.#stemBn.variables(),
      ...this.#blocks.flatMap((b) => b.variables()),
      ...this.#head.variables(),
      ...this.#head2.variables(),
    ];
  }

  layers(inputSize: number): LayerInfo[] {
    const rows: LayerInfo[] = [convRow(this.#stem, inputSize)];
    let s = this.#stem.outSize(inputSize);
    rows.push(bnRow(this.#stemBn, s), plainRow("relu", "ReLU", s, this.#stem.outChannels));
    for (const b of this.#blocks) {
      const r = b.rows(s);
      rows.push(...r.rows);
      s = r.size;
    }
    rows.push(convRow(this.#head, s));
    s = this.#head.outSize(s);
    rows.push(convRow(this.#head2, s));
    if (s === 1) {
      rows.push({
        name: "reshape",
        type: "Reshape",
        outputShape: [null, this.#head2.outChannels],
        params: 0,
      });
    }
    return rows;
  }

  dispose(): void {
    for (const v of this.variables()) v.variable.dispose();
  }
}

/** Builds a ResNet-FCN of the recipe. */
export function resnetFCN(opts: ResNetFCNOptions = {}): Network {
  const depth = opts.depth ?? 50;
  if (!(depth in RESNET_BLOCKS)) {
    throw new Error(`unknown ResNet depth ${depth}: choose one of 18, 34, 50, 101, 152`);
  }
  const numClasses = opts.numClasses ?? 10;
  const width = opts.width ?? 64;
  const inChannels = opts.inChannels ?? 3;
  for (const [k, v] of Object.entries({ numClasses, width, inChannels })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
  }
  const blocks = opts.blocks ?? RESNET_BLOCKS[depth];
  if (blocks.length !== 4 || blocks.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`blocks must be four positive integers, got [${blocks}]`);
  }
  return new ResNetFCN({ depth, numClasses, width, inChannels, seed: opts.seed ?? 0, blocks });
}
