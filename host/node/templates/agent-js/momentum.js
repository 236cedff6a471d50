// The policy, free of any binding: tested natively by test.mjs.

const KNOWN = ["lookback", "size"];

// `key=value` pairs separated by commas, as ian-guest-sdk reads them.
export function parseParams(text) {
  const out = {};
  for (const raw of text.split(",")) {
    const part = raw.trim();
    if (!part) continue;
    const eq = part.indexOf("=");
    if (eq < 0) throw new Error(`expected key=value, got ${JSON.stringify(part)}`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export class Momentum {
  constructor(text) {
    const p = parseParams(text);
    for (const k of Object.keys(p)) {
      if (!KNOWN.includes(k)) {
        throw new Error(`unknown parameter ${JSON.stringify(k)} (known: lookback, size)`);
      }
    }
    this.lookback = Number(p.lookback ?? "60");
    this.size = Number(p.size ?? "1.0");
    if (!Number.isInteger(this.lookback) || this.lookback < 1 || this.lookback > 250) {
      throw new Error(`lookback must be in 1..=250, got ${p.lookback}`);
    }
    if (!(this.size >= 0 && this.size <= 1)) {
      throw new Error(`size must be in [0, 1], got ${p.size}`);
    }
    this.returns = [];
  }

  act(features) {
    const r = features.length > 1 ? features[1] : 0.0;
    if (this.returns.length === this.lookback) this.returns.shift();
    this.returns.push(r);
    let trend = 0.0;
    for (const x of this.returns) trend += x;
    if (trend > 0) return [this.size];
    if (trend < 0) return [-this.size];
    return [0.0];
  }
}
