/**
 * The recipe's optimiser: momentum SGD with L2 weight decay added to the gradient.
 *
 * For every trainable parameter `w` with gradient `g`:
 * `g ← g + weightDecay·w; v ← momentum·v + g; w ← w − lr·v`, with `lr` read from a schedule.
 * This is not tfjs's `MomentumOptimizer` (which has no weight decay and scales differently), so
 * the update is written out on `tf.Variable`s, and the momentum buffers are variables too, so that
 * checkpoints can save and restore them.
 *
 * @example
 * ```ts
 * import { MomentumSGD } from "./optimizer.ts";
 * import { warmupCosine } from "./schedules.ts";
 *
 * const opt = new MomentumSGD({ schedule: warmupCosine(), momentum: 0.9, weightDecay: 5e-4 });
 * opt.lr; // 0 (first warm-up step)
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NamedTensorMap, Variable } from "../tensor_types.ts";
import type { NamedVariable } from "../nn/network.ts";
import { ConstantSchedule, type LRSchedule } from "./schedules.ts";
import { MOMENTUM_SGD_UPDATE } from "../backend/fused_ops.ts";

/** Options of {@linkcode MomentumSGD}. */
export interface MomentumSGDOptions {
  /** Learning-rate schedule (default: constant `lr`). */
  schedule?: LRSchedule;
  /** Fixed rate used when no schedule is given (default 0.001, the recipe's base rate). */
  lr?: number;
  /** Momentum factor (default 0.9). */
  momentum?: number;
  /** L2 weight decay added to every trainable parameter's gradient (default 5e-4). */
  weightDecay?: number;
}

/**
 * Turns a step's gradients (keyed by tfjs variable name, as `tf.variableGrads` returns them) into
 * the gradients the update uses; see {@linkcode MomentumSGD.gradientHook}.
 */
export interface GradientHook {
  /** Called with a step's gradients and the network's variables; returns the gradients to use. */
  (grads: NamedTensorMap, vars: readonly NamedVariable[]): NamedTensorMap;
}

/** Momentum SGD with coupled L2 weight decay; see the module documentation. */
export class MomentumSGD {
  /** The schedule the rate comes from; a callback may replace it to change the rate. */
  schedule: LRSchedule;
  /** Momentum factor. */
  readonly momentum: number;
  /** L2 weight decay factor. */
  readonly weightDecay: number;
  /**
   * Called with the gradients of every step before the update; the update uses what it returns.
   * The seam for gradient processing outside the optimiser, e.g. averaging over data-parallel
   * ranks (`src/dist/`) or clipping. Tensors it creates are freed after the update; it must not
   * dispose the ones it is given. Null (the default): gradients are used as they are.
   */
  gradientHook: GradientHook | null = null;
  readonly #buffers = new Map<string, tf.Variable>();

  /**
   * Creates the optimiser; see {@linkcode MomentumSGDOptions} for the defaults.
   *
   * @param opts See {@linkcode MomentumSGDOptions}.
   */
  constructor(opts: MomentumSGDOptions = {}) {
    const { lr = 0.001, momentum = 0.9, weightDecay = 5e-4 } = opts;
    if (!(momentum >= 0 && momentum < 1)) {
      throw new Error(`MomentumSGD: momentum must be in [0, 1), got ${momentum}`);
    }
    if (!(weightDecay >= 0 && Number.isFinite(weightDecay))) {
      throw new Error(`MomentumSGD: weightDecay must be a finite number >= 0, got ${weightDecay}`);
    }
    this.schedule = opts.schedule ?? new ConstantSchedule(lr);
    this.momentum = momentum;
    this.weightDecay = weightDecay;
  }

  /** The rate the next update uses (the schedule's current value). */
  get lr(): number {
    return this.schedule.value;
  }

  /**
   * Applies one update to every trainable variable in `vars` from `grads` (keyed by the tfjs
   * variable name, as `tf.variableGrads` returns them). Momentum buffers start at zero.
   * Throws when a trainable variable has no gradient. Does not dispose `grads`.
   */
  applyGradients(vars: readonly NamedVariable[], grads: NamedTensorMap): void {
    const given = Object.values(grads);
    if (this.gradientHook !== null) grads = this.gradientHook(grads, vars);
    try {
      this.#update(vars, grads);
    } finally {
      tf.dispose(Object.values(grads).filter((t) => !given.includes(t)));
    }
  }

  #update(vars: readonly NamedVariable[], grads: NamedTensorMap): void {
    const lr = this.lr;
    for (const { name, variable, trainable } of vars) {
      if (trainable && grads[variable.name] === undefined) {
        throw new Error(`MomentumSGD: no gradient for trainable variable "${name}"`);
      }
    }
    // One kernel per parameter where the backend has it (native) instead of five, under one
    // scope: each output's buffer passes to its variable, so nothing waits for the scope's end.
    if (tf.getKernel(MOMENTUM_SGD_UPDATE, tf.getBackend()) !== undefined) {
      const attrs = { lr, momentum: this.momentum, weightDecay: this.weightDecay };
      tf.tidy(() => {
        for (const { name, variable, trainable } of vars) {
          if (!trainable) continue;
          const v = this.#buffer(name, variable);
          const [wNew, vNew] = tf.engine().runKernel(
            MOMENTUM_SGD_UPDATE,
            { variable, velocity: v, gradient: grads[variable.name] },
            attrs,
          ) as tf.Tensor[];
          v.assign(vNew);
          variable.assign(wNew);
        }
      });
      return;
    }
    for (const { name, variable, trainable } of vars) {
      if (!trainable) continue;
      const g = grads[variable.name];
      const v = this.#buffer(name, variable);
      tf.tidy(() => {
        const decayed = this.weightDecay === 0 ? g : tf.add(g, tf.mul(variable, this.weightDecay));
        const vNew = tf.add(tf.mul(v, this.momentum), decayed);
        v.assign(vNew);
        variable.assign(tf.sub(variable, tf.mul(vNew, lr)));
      });
    }
  }

  /**
   * Momentum buffers as `{name, variable}` under the parameter's exchange name, creating zero
   * buffers for trainable variables that have none yet (so a fresh optimiser can be saved).
   */
  buffers(vars: readonly NamedVariable[]): { name: string; variable: Variable }[] {
    return vars.filter((v) => v.trainable).map(({ name, variable }) => ({
      name,
      variable: this.#buffer(name, variable),
    }));
  }

  /**
   * Restores momentum buffers from host values keyed by exchange name. Every trainable variable
   * must have one with its exact shape.
   */
  loadBuffers(
    vars: readonly NamedVariable[],
    values: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
    source = "<memory>",
  ): void {
    const problems: string[] = [];
    for (const { name, variable, trainable } of vars) {
      if (!trainable) continue;
      const host = values.get(name);
      if (host === undefined) {
        problems.push(`missing momentum for "${name}"`);
      } else if (host.shape.join(",") !== variable.shape.join(",")) {
        problems.push(
          `"${name}": momentum shape [${host.shape}] but parameter [${variable.shape}]`,
        );
      }
    }
    if (problems.length > 0) {
      throw new Error(
        `${source}: optimiser state does not fit the network: ${problems.join("; ")}`,
      );
    }
    for (const { name, variable, trainable } of vars) {
      if (!trainable) continue;
      const host = values.get(name)!;
      const t = tf.tensor(host.data, [...host.shape], "float32");
      this.#buffer(name, variable).assign(t);
      t.dispose();
    }
  }

  /** Frees the momentum buffers. */
  dispose(): void {
    for (const v of this.#buffers.values()) v.dispose();
    this.#buffers.clear();
  }

  #buffer(name: string, variable: tf.Variable): tf.Variable {
    let v = this.#buffers.get(name);
    if (v === undefined) {
      v = tf.tidy(() => tf.variable(tf.zerosLike(variable), false));
      this.#buffers.set(name, v);
    }
    return v;
  }
}
