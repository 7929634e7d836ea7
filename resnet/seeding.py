"""Paired seeds: independent random streams derived from one run seed.

Every random choice of a run draws from its own stream, seeded by `derive_seed(seed, purpose, ...)`,
and the streams are drawn on the CPU whatever the training device:

    init               the initial weights (drawn on the CPU before the model moves to its device)
    order/<epoch>      the epoch's permutation of the training images
    crop/<epoch>       the crop offset of the i-th image of the epoch
    flip/<epoch>       whether the i-th image of the epoch is mirrored
    cutout/<epoch>     cutout centres;   erasing/<epoch>: random-erasing draws
    dropout/<epoch>/<step>   the global RNG before each step, only for models with dropout

So seed k sees the same data order and the same augmentation in every arm (and on any device), and the
same initial weights wherever the architecture is the same: differences between arms at one seed come
from the arms, not from the draw. A stream depends on (seed, purpose, epoch), never on how many numbers
another stream used, so switching on cutout does not move the crops, and a run resumed mid-epoch draws
exactly what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *path: object) -> int:
    """A 63-bit seed for the stream `path` of run seed `seed` (SHA-256 of 'seed/part/part...')."""
    text = "/".join(str(part) for part in (seed, *path))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & (2**63 - 1)
