/**
 * Recovers a ResNet-FCN's architecture from its exchange names and shapes, so a weights file is
 * enough to rebuild the network it came from.
 *
 * @module
 */
import { RESNET_BLOCKS, type ResNetDepth, type ResNetFCNOptions } from "./resnet_fcn.ts";

/**
 * Infers depth, width, classes, input channels and blocks from `name → shape` (conv kernels in
 * OIHW, as exchanged). Throws when the names are not a ResNet-FCN's.
 */
export function inferResNetFCN(shapes: ReadonlyMap<string, readonly number[]>): ResNetFCNOptions {
  const stem = shapes.get("conv1.weight");
  const head = shapes.get("final_conv2.bias");
  if (!stem || stem.length !== 4 || !head || head.length !== 1) {
    throw new Error("not ResNet-FCN weights: conv1.weight or final_conv2.bias is missing");
  }
  const blocks = [0, 0, 0, 0];
  for (const name of shapes.keys()) {
    const m = /^layer([1-4])\.(\d+)\./.exec(name);
    if (m) blocks[+m[1] - 1] = Math.max(blocks[+m[1] - 1], +m[2] + 1);
  }
  if (blocks.some((n) => n === 0)) {
    throw new Error(`not ResNet-FCN weights: a stage has no blocks (found [${blocks}])`);
  }
  const bottleneck = shapes.has("layer1.0.conv3.weight");
  const key = blocks.join(",");
  const candidates: ResNetDepth[] = bottleneck ? [50, 101, 152] : [18, 34];
  const depth = candidates.find((d) => RESNET_BLOCKS[d].join(",") === key) ??
    (bottleneck ? 50 : 18);
  const custom = RESNET_BLOCKS[depth].join(",") !== key;
  return {
    depth,
    width: stem[0],
    inChannels: stem[1],
    numClasses: head[0],
    ...(custom ? { blocks: blocks as [number, number, number, number] } : {}),
  };
}
