"""Which shopper each environment row simulates next.

Row i, once seeded with s, simulates the shoppers with keys ``episode_keys(s, 0)``,
``episode_keys(s, 1)``, ... one per episode. ``ShopperEnv`` (one row) and ``ShopperVecEnv`` (N rows)
share this bookkeeping, which is what makes row i of a VecEnv seeded with s equal a
``Shopper-v0`` reset with seed s + i.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from discountsim.simulators import episode_keys
from numpy.typing import NDArray

SEED_SPACE = 2**63


class ShopperSequences:
    """Per-row seed and episode counter.

    Args:
        n_rows: Number of environment rows.
    """

    def __init__(self, n_rows: int) -> None:
        self.seed = np.zeros(n_rows, dtype=np.uint64)
        self.episode = np.full(n_rows, -1, dtype=np.int64)

    def reset(self, seeds: Sequence[int | None], draw_seeds: Callable[[int], NDArray[np.uint64]]) -> NDArray[np.uint64]:
        """Keys of every row's next shopper after a reset.

        A row given a seed restarts that seed's sequence; a row never seeded takes a seed from
        ``draw_seeds(count)``; any other row moves on to the next shopper of its sequence.

        Returns:
            ``(n_rows,)`` uint64 shopper keys.
        """
        seeded = np.array([s is not None for s in seeds], dtype=bool)
        if seeded.any():
            self.seed[seeded] = np.array([int(s) % 2**64 for s in seeds if s is not None], dtype=np.uint64)
        fresh = ~seeded & (self.episode < 0)
        if fresh.any():
            self.seed[fresh] = draw_seeds(int(fresh.sum()))
        self.episode[seeded | fresh] = 0
        self.episode[~seeded & ~fresh] += 1
        return episode_keys(self.seed, self.episode)

    def advance(self, rows: NDArray[np.bool_]) -> NDArray[np.uint64]:
        """Keys of the next shopper of each selected row (an automatic reset), in row order."""
        self.episode[rows] += 1
        return episode_keys(self.seed[rows], self.episode[rows])

    def following(self, count: int, row: int = 0) -> NDArray[np.uint64]:
        """Keys of the ``count`` shoppers that row ``row`` simulates after its current one (if not reseeded)."""
        episodes = self.episode[row] + 1 + np.arange(count, dtype=np.int64)
        return episode_keys(np.full(count, self.seed[row], dtype=np.uint64), episodes)
