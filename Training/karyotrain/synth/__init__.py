"""Synthetic G-banded metaphase spreads with exact chromosome boxes (see Training/README.md).

    from karyotrain.synth import SpreadConfig, generate_spread
    spread = generate_spread(seed, SpreadConfig())  # .image uint8 (H, W), .boxes float32 (N, 4), .meta dict
"""

from .spread import HELD_OUT_SEEDS, OVERLAP_TAU, TRAIN_SEEDS, Spread, SpreadConfig, generate_spread, overlap_flags

__all__ = ["HELD_OUT_SEEDS", "OVERLAP_TAU", "TRAIN_SEEDS", "Spread", "SpreadConfig", "generate_spread",
           "overlap_flags"]
