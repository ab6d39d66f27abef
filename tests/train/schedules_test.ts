import assert from "node:assert/strict";
import {
  ConstantSchedule,
  CosineAnnealing,
  LinearWarmup,
  MultiStepDecay,
  warmupCosine,
} from "../../src/train/schedules.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

Deno.test("linear warm-up trains step k with LR·k/W, then hands over to the wrapped schedule", () => {
  const s = new LinearWarmup(new CosineAnnealing(0.001, 300), 2000);
  const seen: number[] = [];
  for (let k = 0; k < 2000; k++) {
    assert.equal(s.warmingUp, true);
    seen.push(s.value);
    s.step();
  }
  close(seen[0], 0);
  close(seen[1], 0.001 / 2000);
  close(seen[1999], 0.001 * 1999 / 2000);
  assert.equal(s.warmingUp, false);
  close(s.value, 0.001);
  s.step(); // now advances the cosine
  close(s.value, 0.001 * (1 + Math.cos(Math.PI / 300)) / 2);
});

Deno.test("cosine annealing is LR at 0, LR/2 at T/2, 0 at T and stays at 0", () => {
  const s = new CosineAnnealing(2, 10);
  const v: number[] = [];
  for (let j = 0; j <= 12; j++) {
    v.push(s.value);
    s.step();
  }
  close(v[0], 2);
  close(v[5], 1);
  close(v[10], 0);
  close(v[12], 0);
  close(v[3], 1 + Math.cos(Math.PI * 0.3));
});

Deno.test("multi-step decay multiplies by gamma at each milestone", () => {
  const s = new MultiStepDecay(1, [2, 4], 0.5);
  const v: number[] = [];
  for (let t = 0; t < 6; t++) {
    v.push(s.value);
    s.step();
  }
  assert.deepEqual(v, [1, 1, 0.5, 0.5, 0.25, 0.25]);
  assert.throws(() => new MultiStepDecay(1, [3, 2]), /strictly increasing/);
});

Deno.test("schedule state survives a JSON round trip and restores the same values", () => {
  const a = warmupCosine({ lr: 0.1, warmupSteps: 3, epochs: 5 });
  for (let i = 0; i < 5; i++) a.step();
  const b = warmupCosine({ lr: 0.1, warmupSteps: 3, epochs: 5 });
  b.loadState(JSON.parse(JSON.stringify(a.state())));
  for (let i = 0; i < 4; i++) {
    assert.equal(b.value, a.value);
    a.step();
    b.step();
  }
  const m = new MultiStepDecay(1, [2], 0.1);
  m.step();
  m.step();
  const m2 = new MultiStepDecay(1, [2], 0.1);
  m2.loadState(m.state());
  assert.equal(m2.value, m.value);
  const c = new ConstantSchedule(0.3);
  c.loadState(new ConstantSchedule(0.3).state());
  assert.equal(c.value, 0.3);
});

Deno.test("loading state of a different schedule or setting fails naming the difference", () => {
  const s = warmupCosine({ lr: 0.1, warmupSteps: 3, epochs: 5 });
  assert.throws(() => s.loadState(new ConstantSchedule(0.1).state()), /expected kind "warmup"/);
  const other = warmupCosine({ lr: 0.1, warmupSteps: 4, epochs: 5 });
  assert.throws(() => s.loadState(other.state()), /"warmupSteps" is 4 in the checkpoint but 3/);
  const otherT = warmupCosine({ lr: 0.1, warmupSteps: 3, epochs: 6 });
  assert.throws(() => s.loadState(otherT.state()), /"period"/);
});
