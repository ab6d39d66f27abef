/**
 * Learning-rate schedules as small composable objects.
 *
 * A schedule holds a position and a current value. It never advances on its own: whoever owns the
 * stepping rule (`LRScheduler` for the recipe, which `Model.fit` adds when no callback is one)
 * calls {@linkcode LRSchedule.step} at the right moments, and the optimiser reads {@linkcode LRSchedule.value} before every update. Every
 * schedule's state is plain JSON, so checkpoints can store it and resumed runs continue exactly.
 *
 * @example
 * ```ts
 * import { warmupCosine } from "./schedules.ts";
 *
 * // The recipe: LR 0.001, 2,000 warm-up steps, cosine over 300 epochs.
 * const s = warmupCosine({ lr: 0.001, warmupSteps: 2000, epochs: 300 });
 * s.value; // 0 (the very first step trains with 0)
 * s.step();
 * s.value; // 0.001 * 1 / 2000
 * ```
 *
 * @module
 */

/** JSON-serialisable state of a schedule (its kind and position; config is checked on load). */
export type ScheduleState = { kind: string; [key: string]: unknown };

/** A learning-rate schedule: a current value that moves when told to. */
export interface LRSchedule {
  /** The rate the next optimiser update uses. */
  readonly value: number;
  /**
   * True while the schedule wants to advance after every training step (linear warm-up); false
   * when its stepping unit is whatever the owner of the stepping rule chose (epochs for the
   * recipe).
   */
  readonly warmingUp: boolean;
  /** Advances the schedule by one unit. */
  step(): void;
  /** The position as JSON, including enough config to detect a mismatched restore. */
  state(): ScheduleState;
  /** Restores a position written by {@linkcode LRSchedule.state} of an equal schedule. */
  loadState(state: ScheduleState): void;
}

function expectKind(state: ScheduleState, kind: string): void {
  if (state?.kind !== kind) {
    throw new Error(
      `schedule state: expected kind "${kind}", got ${JSON.stringify(state?.kind)}; ` +
        "the checkpoint was written with a different learning-rate schedule",
    );
  }
}

function expectCount(state: ScheduleState, key: string): number {
  const v = state[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new Error(
      `schedule state (${state.kind}): "${key}" must be a non-negative integer, got ${
        JSON.stringify(v)
      }`,
    );
  }
  return v;
}

function expectSame(state: ScheduleState, key: string, mine: unknown): void {
  if (JSON.stringify(state[key]) !== JSON.stringify(mine)) {
    throw new Error(
      `schedule state (${state.kind}): "${key}" is ${JSON.stringify(state[key])} in the ` +
        `checkpoint but ${JSON.stringify(mine)} here; resume with the same schedule settings`,
    );
  }
}

function checkRate(name: string, lr: number): void {
  if (!Number.isFinite(lr) || lr < 0) {
    throw new Error(`${name}: learning rate must be a finite number >= 0, got ${lr}`);
  }
}

/**
 * A fixed rate.
 *
 * @example
 * ```ts
 * import { ConstantSchedule } from "./schedules.ts";
 * const s = new ConstantSchedule(0.1);
 * s.step();
 * s.value; // 0.1
 * ```
 */
export class ConstantSchedule implements LRSchedule {
  /** Steps taken (kept only so that state round-trips). */
  #t = 0;
  /**
   * A rate that never changes.
   *
   * @param lr The rate.
   */
  constructor(readonly lr: number) {
    checkRate("ConstantSchedule", lr);
  }
  /** Always `lr`. */
  get value(): number {
    return this.lr;
  }
  /** Always false. */
  get warmingUp(): boolean {
    return false;
  }
  /** Counts the step; the value does not change. */
  step(): void {
    this.#t++;
  }
  /** `{kind: "constant", lr, t}`. */
  state(): ScheduleState {
    return { kind: "constant", lr: this.lr, t: this.#t };
  }
  /** Restores the step count. */
  loadState(state: ScheduleState): void {
    expectKind(state, "constant");
    expectSame(state, "lr", this.lr);
    this.#t = expectCount(state, "t");
  }
}

/**
 * Cosine annealing from `lr` towards 0 over `period` steps: after `j` steps the value is
 * `lr · (1 + cos(π·j / period)) / 2`. Past `period` it stays at 0 (no restarts).
 *
 * @example
 * ```ts
 * import { CosineAnnealing } from "./schedules.ts";
 * const s = new CosineAnnealing(1, 4);
 * s.step(); s.step();
 * s.value; // 0.5
 * ```
 */
export class CosineAnnealing implements LRSchedule {
  #j = 0;
  /**
   * Cosine from `lr` towards 0 over `period` steps.
   *
   * @param lr Starting rate.
   * @param period Number of steps to reach 0 (the recipe: the number of training epochs).
   */
  constructor(readonly lr: number, readonly period: number) {
    checkRate("CosineAnnealing", lr);
    if (!Number.isInteger(period) || period < 1) {
      throw new Error(`CosineAnnealing: period must be an integer >= 1, got ${period}`);
    }
  }
  /** `lr · (1 + cos(π·min(j, period) / period)) / 2`. */
  get value(): number {
    const j = Math.min(this.#j, this.period);
    return this.lr * (1 + Math.cos(Math.PI * j / this.period)) / 2;
  }
  /** Always false. */
  get warmingUp(): boolean {
    return false;
  }
  /** Advances `j` by one. */
  step(): void {
    this.#j++;
  }
  /** `{kind: "cosine", lr, period, j}`. */
  state(): ScheduleState {
    return { kind: "cosine", lr: this.lr, period: this.period, j: this.#j };
  }
  /** Restores `j`. */
  loadState(state: ScheduleState): void {
    expectKind(state, "cosine");
    expectSame(state, "lr", this.lr);
    expectSame(state, "period", this.period);
    this.#j = expectCount(state, "j");
  }
}

/**
 * Multiplies the rate by `gamma` each time the step count reaches a milestone.
 *
 * @example
 * ```ts
 * import { MultiStepDecay } from "./schedules.ts";
 * const s = new MultiStepDecay(1, [2, 4], 0.1);
 * s.step(); s.step();
 * s.value; // 0.1
 * ```
 */
export class MultiStepDecay implements LRSchedule {
  #t = 0;
  /** Step counts after which the rate is multiplied by `gamma`, ascending. */
  readonly milestones: readonly number[];
  /**
   * Multiplies `lr` by `gamma` at each milestone.
   *
   * @param lr Starting rate.
   * @param milestones Step counts at which the rate drops, strictly increasing.
   * @param gamma Factor applied at each milestone (default 0.1).
   */
  constructor(readonly lr: number, milestones: readonly number[], readonly gamma = 0.1) {
    checkRate("MultiStepDecay", lr);
    for (let i = 0; i < milestones.length; i++) {
      const m = milestones[i];
      if (!Number.isInteger(m) || m < 1 || (i > 0 && m <= milestones[i - 1])) {
        throw new Error(
          `MultiStepDecay: milestones must be strictly increasing integers >= 1, got [${milestones}]`,
        );
      }
    }
    this.milestones = [...milestones];
  }
  /** `lr · gamma^(number of milestones ≤ t)`. */
  get value(): number {
    const passed = this.milestones.filter((m) => m <= this.#t).length;
    return this.lr * this.gamma ** passed;
  }
  /** Always false. */
  get warmingUp(): boolean {
    return false;
  }
  /** Advances the step count. */
  step(): void {
    this.#t++;
  }
  /** `{kind: "multistep", lr, milestones, gamma, t}`. */
  state(): ScheduleState {
    return {
      kind: "multistep",
      lr: this.lr,
      milestones: [...this.milestones],
      gamma: this.gamma,
      t: this.#t,
    };
  }
  /** Restores the step count. */
  loadState(state: ScheduleState): void {
    expectKind(state, "multistep");
    expectSame(state, "lr", this.lr);
    expectSame(state, "milestones", this.milestones);
    expectSame(state, "gamma", this.gamma);
    this.#t = expectCount(state, "t");
  }
}

/**
 * Linear warm-up in front of another schedule. During the first `warmupSteps` steps the value is
 * `lr · k / warmupSteps` after `k` steps (so the very first step uses 0); once `k` reaches
 * `warmupSteps` the value is the wrapped schedule's, and further steps advance that schedule.
 * {@linkcode LinearWarmup.warmingUp} tells the stepping rule which phase it is in.
 *
 * @example
 * ```ts
 * import { ConstantSchedule, LinearWarmup } from "./schedules.ts";
 * const s = new LinearWarmup(new ConstantSchedule(1), 4);
 * s.step();
 * s.value; // 0.25
 * ```
 */
export class LinearWarmup implements LRSchedule {
  #k = 0;
  /**
   * Ramps linearly from 0 to `lr` over `warmupSteps` steps, then follows `inner`.
   *
   * @param inner Schedule that takes over after warm-up; its current value is the warm-up target.
   * @param warmupSteps Number of warm-up steps (0: no warm-up).
   * @param lr Warm-up target (default: the wrapped schedule's value when constructed).
   */
  constructor(readonly inner: LRSchedule, readonly warmupSteps: number, readonly lr = inner.value) {
    checkRate("LinearWarmup", lr);
    if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
      throw new Error(`LinearWarmup: warmupSteps must be an integer >= 0, got ${warmupSteps}`);
    }
  }
  /** `lr · k / warmupSteps` while warming up, then the wrapped schedule's value. */
  get value(): number {
    return this.warmingUp ? this.lr * this.#k / this.warmupSteps : this.inner.value;
  }
  /** True until `warmupSteps` steps have been taken. */
  get warmingUp(): boolean {
    return this.#k < this.warmupSteps;
  }
  /** Warm-up steps taken so far (at most `warmupSteps`). */
  get warmupTaken(): number {
    return this.#k;
  }
  /** Advances the warm-up, or the wrapped schedule once warm-up is over. */
  step(): void {
    if (this.warmingUp) this.#k++;
    else this.inner.step();
  }
  /** `{kind: "warmup", lr, warmupSteps, k, inner}`. */
  state(): ScheduleState {
    return {
      kind: "warmup",
      lr: this.lr,
      warmupSteps: this.warmupSteps,
      k: this.#k,
      inner: this.inner.state(),
    };
  }
  /** Restores the warm-up position and the wrapped schedule's. */
  loadState(state: ScheduleState): void {
    expectKind(state, "warmup");
    expectSame(state, "lr", this.lr);
    expectSame(state, "warmupSteps", this.warmupSteps);
    const k = expectCount(state, "k");
    if (k > this.warmupSteps) {
      throw new Error(`schedule state (warmup): k = ${k} exceeds warmupSteps ${this.warmupSteps}`);
    }
    this.inner.loadState(state.inner as ScheduleState);
    this.#k = k;
  }
}

/** Options of {@linkcode warmupCosine}. */
export interface WarmupCosineOptions {
  /** Base rate LR (default 0.001). */
  lr?: number;
  /** Warm-up steps W (default 2000). */
  warmupSteps?: number;
  /** Cosine period T in epochs: the number of training epochs (default 300). */
  epochs?: number;
}

/**
 * The recipe's schedule: {@linkcode LinearWarmup} over {@linkcode CosineAnnealing}. Step it per
 * training step while `warmingUp`, then once per epoch (`LRScheduler` does exactly this).
 *
 * @example
 * ```ts
 * import { warmupCosine } from "./schedules.ts";
 * const s = warmupCosine({ lr: 0.001, warmupSteps: 2000, epochs: 300 });
 * s.warmingUp; // true
 * ```
 */
export function warmupCosine(opts: WarmupCosineOptions = {}): LinearWarmup {
  const { lr = 0.001, warmupSteps = 2000, epochs = 300 } = opts;
  return new LinearWarmup(new CosineAnnealing(lr, epochs), warmupSteps, lr);
}
