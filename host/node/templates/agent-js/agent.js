// {{name}}: a momentum agent for the example trading goal (trading-v1).
//
// Each step the goal shows `features = [price, one-step return]` and takes
// `[position]` in [-1, 1]. This agent sums the last `lookback` returns and
// holds `size` in their direction (flat when they cancel out): the same
// policy as the Rust, Python and C templates, bit for bit.
//
// Params (text, e.g. `lookback=10,size=0.5`): `lookback` (default 60,
// 1..=250), `size` (default 1.0, 0..=1). Unknown keys are refused, so a
// typo fails at `init`, not silently.

import { Momentum } from "./momentum.js";

// The host calls `init` once, then `act` at every step, on one instance.
let policy = null;

export const agent = {
  // `params` is a Uint8Array. A thrown string becomes the `init` error
  // the contributor reads.
  init(params) {
    try {
      policy = new Momentum(String.fromCharCode(...params));
    } catch (e) {
      throw String(e.message ?? e);
    }
  },
  // `obs` is `{ step: bigint, features: number[] }`.
  act(obs) {
    return policy.act(obs.features);
  },
};
