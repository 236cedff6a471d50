#!/usr/bin/env python3
"""Generates prices.csv, the synthetic daily price series of the trading goal.

Run once; the output is committed and embedded into the harness, so this
script is only needed to audit or regenerate the data. It is deterministic
(fixed seed, Python's Mersenne Twister) and uses only the standard library.

Model: daily log returns with GARCH(1,1) volatility (clustering) and a
three-state Markov regime for the drift (bull, sideways, bear), so that
trend-following and mean-reverting strategies both have periods where
they work. Business days (Mon-Fri) from 2016-01-04, 2000 rows, prices
rounded to cents.
"""
import datetime
import math
import random

SEED = 20160104
ROWS = 2000
START_PRICE = 100.0

REGIMES = {"bull": 0.0009, "sideways": 0.0, "bear": -0.0011}  # daily log drift
SWITCH = {  # P(next regime | regime), checked once per day
    "bull": [("bull", 0.985), ("sideways", 0.010), ("bear", 0.005)],
    "sideways": [("sideways", 0.975), ("bull", 0.015), ("bear", 0.010)],
    "bear": [("bear", 0.970), ("sideways", 0.020), ("bull", 0.010)],
}
OMEGA, ALPHA, BETA = 2.0e-6, 0.08, 0.90  # GARCH(1,1), long-run vol ~1.0%/day


def main():
    rng = random.Random(SEED)
    day = datetime.date(2016, 1, 4)
    price = START_PRICE
    regime = "sideways"
    var = OMEGA / (1 - ALPHA - BETA)
    shock = 0.0
    rows = []
    while len(rows) < ROWS:
        if day.weekday() < 5:
            if rows:
                var = OMEGA + ALPHA * shock * shock + BETA * var
                shock = math.sqrt(var) * rng.gauss(0.0, 1.0)
                price *= math.exp(REGIMES[regime] - 0.5 * var + shock)
                u, acc = rng.random(), 0.0
                for nxt, p in SWITCH[regime]:
                    acc += p
                    if u < acc:
                        regime = nxt
                        break
            rows.append((day.isoformat(), round(price, 2)))
        day += datetime.timedelta(days=1)
    with open("prices.csv", "w", newline="\n") as f:
        f.write("date,close\n")
        for d, p in rows:
            f.write(f"{d},{p:.2f}\n")


if __name__ == "__main__":
    main()
