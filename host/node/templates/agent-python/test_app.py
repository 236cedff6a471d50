"""Native tests of the policy: `./test.sh` (plain CPython, no wasm)."""

import unittest

from app import Momentum


class MomentumTest(unittest.TestCase):
    def step(self, agent, ret):
        return agent.act([100.0, ret])[0]

    def test_follows_the_recent_trend(self):
        # Returns that add up exactly in binary, so the signs are certain.
        a = Momentum(b"lookback=3,size=0.5")
        self.assertEqual(self.step(a, 0.25), 0.5)
        self.assertEqual(self.step(a, -0.75), -0.5)
        self.assertEqual(self.step(a, 0.25), -0.5)
        # The oldest return leaves the window: the first 0.25 is forgotten.
        self.assertEqual(self.step(a, 1.0), 0.5)

    def test_refuses_bad_params_with_a_reason(self):
        with self.assertRaisesRegex(ValueError, "lookback"):
            Momentum(b"lookback=0")
        with self.assertRaises(ValueError):
            Momentum(b"size=2")
        with self.assertRaises(ValueError):
            Momentum(b"lokback=3")


if __name__ == "__main__":
    unittest.main()
