/**
 * Gradients of a loss with respect to variables, as `tf.variableGrads` computes them, but with
 * memory freed as backpropagation walks back. TensorFlow.js keeps every tensor saved for the
 * backward pass, and the gradient of every intermediate tensor, until all gradients are done:
 * at the end of a training step it holds the network's activations and as many bytes again of
 * activation gradients (ResNet50-FCN at batch 512: about 2.8× PyTorch's peak). Here each node's
 * saved tensors and the gradients of its outputs are disposed as soon as that node has passed
 * its gradient on, as PyTorch's autograd does, so the peak is about the activations alone.
 *
 * The numbers are those of `tf.variableGrads`: same tape, same gradient functions, same order
 * of accumulation.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import "./gradients.ts";
 * import { variableGradsFreeing } from "./backprop.ts";
 * await tf.setBackend("cpu");
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * const { value, grads } = variableGradsFreeing(() => tf.sum(tf.square(w)), [w]);
 * console.log(value.dataSync()[0], grads[w.name].dataSync()); // 5, [2, 4]
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NamedTensorMap, Scalar, Variable } from "../tensor_types.ts";

/** One recorded op, as TensorFlow.js's tape holds it (`TapeNode`, not exported by the package). */
interface TapeNode {
  id: number;
  kernelName: string;
  outputs: tf.Tensor[];
  inputs: NamedTensorMap;
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The engine state fields the tape lives in (public in the engine, typed here). */
interface TapeState {
  activeTape: TapeNode[] | null;
  gradientDepth: number;
  tensorInfo: WeakMap<object, { backend: tf.KernelBackend }>;
}

/** The engine method that keeps a kernel's tensors for its gradient (private, typed here). */
interface SavingEngine {
  saveTensorsForBackwardMode(tensors: tf.Tensor[]): tf.Tensor[];
}

/**
 * Keeps `tensors` for a gradient as new kept handles on the same data, which is what the
 * engine's own saving does (`keep(clone(t))`), minus the clone's Identity kernel and the two tape
 * nodes it records, which no gradient uses. ResNet18-FCN records about 400 such clones a step;
 * they took 16 % of a step at width 16, batch 64 on the native backend.
 */
function saveSharing(tensors: tf.Tensor[]): tf.Tensor[] {
  const engine = tf.engine();
  const info = (engine.state as unknown as TapeState).tensorInfo;
  return tensors.map((t) => {
    const backend = info.get(t.dataId)!.backend;
    backend.incRef(t.dataId);
    return engine.keep(
      engine.makeTensorFromTensorInfo(
        { dataId: t.dataId, shape: t.shape, dtype: t.dtype },
        backend,
      ),
    );
  });
}

/** The nodes on a path from `xs` to `y`, in tape order, with inputs not from `xs` pruned. */
function nodesBetween(
  tape: readonly TapeNode[],
  xs: readonly tf.Tensor[],
  y: tf.Tensor,
): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const onPathFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      onPathFromX.add(node.id);
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const toY = new Set([y.id]);
  const onPathToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      onPathToY.add(node.id);
      for (const t of Object.values(node.inputs)) toY.add(t.id);
    }
  }
  return tape.filter((n) => onPathFromX.has(n.id) && onPathToY.has(n.id)).map((n) => ({
    ...n,
    inputs: Object.fromEntries(Object.entries(n.inputs).filter(([, t]) => fromX.has(t.id))),
  }));
}

/**
 * `f()`'s value and its gradients with respect to `varList`, keyed by variable name, like
 * `tf.variableGrads(f, varList)`; see the module documentation for how memory differs. Inside
 * another gradient computation (higher-order gradients) it is `tf.variableGrads` itself.
 */
export function variableGradsFreeing(
  f: () => Scalar,
  varList: Variable[],
): { value: Scalar; grads: NamedTensorMap } {
  const state = tf.engine().state as unknown as TapeState;
  if (state.gradientDepth !== 0) return tf.variableGrads(f, varList);
  state.activeTape = [];
  state.gradientDepth = 1;
  const engine = tf.engine() as unknown as SavingEngine;
  const save = Object.hasOwn(engine, "saveTensorsForBackwardMode")
    ? engine.saveTensorsForBackwardMode
    : undefined;
  engine.saveTensorsForBackwardMode = saveSharing;
  let value: Scalar;
  try {
    value = tf.tidy(f);
  } finally {
    state.gradientDepth = 0;
    if (save) engine.saveTensorsForBackwardMode = save;
    else delete (engine as Partial<SavingEngine>).saveTensorsForBackwardMode;
  }
  const tape = state.activeTape ?? [];
  try {
    const grads = tf.tidy(() => {
      const left = backward(nodesBetween(tape, varList, value), value);
      return varList.map((v) => {
        const g = left.get(v.id);
        if (g === undefined) {
          throw new Error(`variableGradsFreeing: the loss does not depend on variable ${v.name}`);
        }
        return g;
      });
    });
    const named: NamedTensorMap = {};
    varList.forEach((v, i) => named[v.name] = grads[i]);
    return { value, grads: named };
  } finally {
    for (const node of tape) node.saved?.forEach((t) => t.dispose());
    state.activeTape = null;
  }
}

/** Walks `nodes` back from `y`; returns the gradients left (those of the tape's sources). */
function backward(nodes: readonly TapeNode[], y: tf.Tensor): Map<number, tf.Tensor> {
  const acc = new Map<number, tf.Tensor>([[y.id, tf.onesLike(y)]]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (!node.gradient) {
      throw new Error(
        `Cannot compute gradient: gradient function not found for ${node.kernelName}.`,
      );
    }
    const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
    const thunks = node.gradient(dys);
    for (const [name, x] of Object.entries(node.inputs)) {
      const thunk = thunks[name];
      if (!thunk) throw new Error(`Cannot backprop through input ${name} of ${node.kernelName}.`);
      let dx = tf.tidy(thunk);
      // A gradient that is the output's own gradient (Add passes dy on) outlives it below.
      if (dys.includes(dx)) dx = dx.clone();
      if (dx.dtype !== "float32" || dx.shape.join() !== x.shape.join()) {
        throw new Error(
          `Error in gradient for op ${node.kernelName}: input ${name} got a ${dx.dtype} ` +
            `gradient of shape [${dx.shape}] for a tensor of shape [${x.shape}]`,
        );
      }
      const before = acc.get(x.id);
      if (before === undefined) acc.set(x.id, dx);
      else {
        acc.set(x.id, tf.add(before, dx));
        before.dispose();
        dx.dispose();
      }
    }
    // Every consumer of this node's outputs came later on the tape and is done.
    for (const o of node.outputs) {
      acc.get(o.id)?.dispose();
      acc.delete(o.id);
    }
    node.saved?.forEach((t) => t.dispose());
  }
  return acc;
}
