// Native tests of the policy: `npm test` (Node.js, no wasm).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Momentum } from "./momentum.js";

const step = (agent, ret) => agent.act([100.0, ret])[0];

test("follows the recent trend", () => {
  // Returns that add up exactly in binary, so the signs are certain.
  const a = new Momentum("lookback=3,size=0.5");
  assert.equal(step(a, 0.25), 0.5);
  assert.equal(step(a, -0.75), -0.5);
  assert.equal(step(a, 0.25), -0.5);
  // The oldest return leaves the window: the first 0.25 is forgotten.
  assert.equal(step(a, 1.0), 0.5);
});

test("refuses bad params with a reason", () => {
  assert.throws(() => new Momentum("lookback=0"), /lookback/);
  assert.throws(() => new Momentum("size=2"));
  assert.throws(() => new Momentum("lokback=3"));
});
