"""{{name}}: a momentum agent for the example trading goal (trading-v1).

Each step the goal shows `features = [price, one-step return]` and takes
`[position]` in [-1, 1]. This agent sums the last `lookback` returns and
holds `size` in their direction (flat when they cancel out): the same
policy as the Rust, JavaScript and C templates, bit for bit.

Params (text, e.g. `lookback=10,size=0.5`): `lookback` (default 60,
1..=250), `size` (default 1.0, 0..=1). Unknown keys are refused, so a typo
fails at `init`, not silently.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

KNOWN = ("lookback", "size")


def parse_params(text: str) -> dict:
    """`key=value` pairs separated by commas, as ian-guest-sdk reads them."""
    out = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {part!r}")
        out[key.strip()] = value.strip()
    return out


class Momentum:
    """The policy, free of any binding: tested natively by test_app.py."""

    def __init__(self, params: bytes):
        p = parse_params(params.decode("utf-8"))
        unknown = sorted(set(p) - set(KNOWN))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} (known: lookback, size)")
        self.lookback = int(p.get("lookback", "60"))
        self.size = float(p.get("size", "1.0"))
        if not 1 <= self.lookback <= 250:
            raise ValueError(f"lookback must be in 1..=250, got {self.lookback}")
        if not 0.0 <= self.size <= 1.0:
            raise ValueError(f"size must be in [0, 1], got {self.size}")
        self.returns = []

    def act(self, features: list) -> list:
        r = features[1] if len(features) > 1 else 0.0
        if len(self.returns) == self.lookback:
            self.returns.pop(0)
        self.returns.append(r)
        # Added in order, one by one: Python's sum() compensates rounding
        # and would not give the Rust agent's bits.
        trend = 0.0
        for x in self.returns:
            trend += x
        if trend > 0.0:
            return [self.size]
        if trend < 0.0:
            return [-self.size]
        return [0.0]


# The host calls `init` once and then `act` at every step on one instance
# of the component; componentize-py makes a new `Agent` object per call, so
# the policy lives in the module.
POLICY = None


class Agent(exports.Agent):
    def init(self, params: bytes) -> None:
        global POLICY
        try:
            POLICY = Momentum(params)
        except ValueError as e:
            raise Err(str(e))

    def act(self, obs: types.Observation) -> list:
        return POLICY.act(obs.features)
