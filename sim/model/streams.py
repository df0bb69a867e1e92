"""Per-client random streams: the k-th draw of client c depends on the run's seed, the client and k only.

Why not one shared generator: the fast engine draws for whole batches of clients, and the batches depend on
when the world changes. With a shared generator, changing the retention would reshuffle every later draw of
every client; with a stream per client, two runs that differ only in the retention are identical until the
retention ends (common random numbers), so "a longer retention never orphans more clients" holds run by run.
Keys come from the client id for fleets read from files, so the order of rows does not matter either.
"""

from __future__ import annotations

import hashlib

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)


_M2 = np.uint64(0x94D049BB133111EB)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, vectorised (uint64 arithmetic wraps, as intended)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def to_unit(x: np.ndarray) -> np.ndarray:
    """uint64 -> float in [0, 1) with 53 random bits."""
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def keys_from_ids(ids: np.ndarray) -> np.ndarray:
    """A stable 64-bit key per client id (independent of its row)."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(), "little") for i in ids),
        dtype=np.uint64,
        count=len(ids),
    )


def keys_from_index(n: int) -> np.ndarray:
    return splitmix64(np.arange(n, dtype=np.uint64))


class ClientStreams:
    """Counter-based uniforms: ``uniform(idx)`` gives each listed client its next draw (no repeats in idx)."""

    def __init__(self, client_keys: np.ndarray, seed: np.random.SeedSequence | int, purpose: int) -> None:
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        salt = np.uint64(int(ss.generate_state(2, np.uint64)[purpose % 2]) ^ purpose)
        self.base = splitmix64(client_keys ^ salt)
        self.counter = np.zeros(len(client_keys), np.uint64)

    def uniform(self, idx: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            x = splitmix64(self.base[idx] + self.counter[idx] * _GOLDEN)
        self.counter[idx] += np.uint64(1)
        return to_unit(x)

    def fixed(self, idx: np.ndarray, slot: int) -> np.ndarray:
        """A draw that does not advance the stream: the same for the same client and slot."""
        with np.errstate(over="ignore"):
            return to_unit(splitmix64(self.base[idx] ^ splitmix64(np.full(len(idx), slot, np.uint64))))
