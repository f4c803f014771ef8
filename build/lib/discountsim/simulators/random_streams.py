"""Per-shopper counter-based random streams.

Every random number a shopper consumes is a pure function of three integers: the shopper's
64-bit stream key, the period ``t`` of its life and a draw slot (purchase, basket, churn, ...).
It is the SplitMix64 generator (Steele, Lea & Flood, 2014, "Fast splittable pseudorandom number
generators", OOPSLA) evaluated at a position given by ``t`` and the slot in the stream seeded by
the key, computed for all shoppers at once with NumPy ``uint64`` arithmetic; each 64-bit output
is split into two 32-bit uniforms.

Why not draw from one ``numpy.random.Generator`` in batch? Because a shopper's draws then depend
on how many other shoppers share the batch and on which draws the policy happened to trigger.
Keying them per shopper gives three properties the framework relies on:

* a batched run of N shoppers equals N single-shopper runs with the same keys, bit for bit;
* common random numbers: two policies evaluated on the same keys face the same purchase, basket
  and churn draws, so differences in profit are due to the policies, not to noise;
* results for shopper ``i`` do not change when the population grows.

The keys themselves come from a seeded ``numpy.random.Generator`` (see ``simulator.py``) or from
a seed and an episode counter (see ``episode_keys``), as JAX's explicit keys do in gymnax.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_MINUS_53 = 2.0**-53
# Trait draws live in a counter domain that period draws ((t + 1) * words per period, t < 2**60) never reach.
_TRAIT_DOMAIN = np.uint64(1 << 62)


class Slot(IntEnum):
    """Draw slots of one period; each is one uniform per shopper and period."""

    PURCHASE = 0
    CHURN = 1
    NORMAL_RADIUS = 2  # Box-Muller pair: the basket-noise and intent-shock normals
    NORMAL_ANGLE = 3
    BROWSE = 4
    CART = 5
    REVIEW = 6
    ARRIVAL = 7


N_SLOTS = len(Slot)
# Each 64-bit SplitMix64 word yields two 32-bit uniforms (low and high half).
_N_WORDS = (N_SLOTS + 1) // 2
_LOW_32 = np.uint64(0xFFFFFFFF)
_TWO_POW_MINUS_32 = 2.0**-32


def mix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64 output function (a bijection on 64-bit integers), elementwise, wrapping."""
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


def episode_keys(seeds: NDArray[np.uint64], episodes: NDArray[np.int64]) -> NDArray[np.uint64]:
    """Stream keys of the ``episodes``-th shopper drawn by a row seeded with ``seeds``.

    Args:
        seeds: ``(n,)`` uint64 row seeds.
        episodes: ``(n,)`` episode counters (0 for the first shopper after a seeded reset).

    Returns:
        ``(n,)`` uint64 keys.
    """
    seeds = np.asarray(seeds, dtype=np.uint64)
    episodes = np.asarray(episodes, dtype=np.uint64)
    return mix64(mix64(seeds) + (episodes + np.uint64(1)) * _GOLDEN_GAMMA)


def _split_to_unit(words: NDArray[np.uint64], n_uniforms: int) -> NDArray[np.float64]:
    """``(n_words, n)`` words -> ``(n_uniforms, n)`` uniforms in (0, 1) at 32-bit resolution.

    Half a step is added so that values lie strictly inside (0, 1) and log(u) is finite.
    """
    out = np.empty((2 * words.shape[0], words.shape[1]), dtype=np.float64)
    np.bitwise_and(words, _LOW_32, out=out[0::2], casting="unsafe")
    np.right_shift(words, np.uint64(32), out=out[1::2], casting="unsafe")
    out += 0.5
    out *= _TWO_POW_MINUS_32
    return out[:n_uniforms]


def _words(keys: NDArray[np.uint64], first_counter: NDArray[np.uint64], n_words: int) -> NDArray[np.uint64]:
    # SplitMix64 positions first_counter + j of each key's stream, (n_words, n), mixed in place.
    x = np.empty((n_words, keys.shape[0]), dtype=np.uint64)
    for j in range(n_words):
        np.add(first_counter, np.uint64(j + 1), out=x[j])
    x *= _GOLDEN_GAMMA
    x += keys
    x ^= x >> np.uint64(30)
    x *= _MIX_1
    x ^= x >> np.uint64(27)
    x *= _MIX_2
    x ^= x >> np.uint64(31)
    return x


def period_uniforms(keys: NDArray[np.uint64], t: NDArray[np.int64]) -> NDArray[np.float64]:
    """All uniforms of one period for each shopper.

    Args:
        keys: ``(n,)`` uint64 stream keys.
        t: ``(n,)`` period index of each shopper's life (may differ between shoppers; -1 is the
            period before the first).

    Returns:
        ``(N_SLOTS, n)`` float64 in the open interval (0, 1); row ``Slot.X`` is draw X.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    first = (np.asarray(t, dtype=np.int64) + 1).astype(np.uint64) * np.uint64(_N_WORDS)
    return _split_to_unit(_words(keys, first, _N_WORDS), N_SLOTS)


def trait_uniforms(keys: NDArray[np.uint64], n_draws: int) -> NDArray[np.float64]:
    """Uniforms used once per shopper to draw its latent traits.

    Returns:
        ``(n_draws, n)`` float64 in (0, 1), independent of every ``period_uniforms`` draw.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    first = np.full(keys.shape[0], _TRAIT_DOMAIN, dtype=np.uint64)
    return _split_to_unit(_words(keys, first, (n_draws + 1) // 2), n_draws)


def box_muller(
    u_radius: NDArray[np.float64], u_angle: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two independent standard normal arrays from two independent uniform arrays in (0, 1)
    (Box & Muller, 1958): r cos(theta) and r sin(theta), r = sqrt(-2 log u1), theta = 2 pi u2."""
    radius = np.sqrt(-2.0 * np.log(u_radius))
    angle = 2.0 * np.pi * u_angle
    return radius * np.cos(angle), radius * np.sin(angle)
