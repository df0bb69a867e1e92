"""Compiled kernels (numba) of the per-client walks that dominate a large fleet's run.

Why: the numpy forms (``Presence.next_spell``, the jittered heartbeat steps of ``sim.model.heartbeat``) walk
all clients at once, but each step builds (clients x absences) temporaries and re-gathers the survivors; at
10^6 clients that was most of a replication's time. The same walk, one client at a time in compiled code,
touches each client's few numbers once. Both forms do the very same floating-point operations in the same
order (no fast-math, no fused multiply-add), so they agree to the last bit: ``tests/model/test_kernels.py`` compares
them on random inputs, and the numpy forms stay the reference (and the fallback where numba is missing or
``ROTASIM_JIT=0``).

numba is imported here only, on the first large call (``use_kernel``): small runs, the test suite's tiny
worlds and every command's start-up never pay its import or its compilation (compiled code is cached on
disk, ``cache=True``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

KERNEL_MIN = 20_000  # below this many clients in one call the numpy form is as fast as loading the kernel

_kernels: dict[str, Callable[..., Any]] | None = None
_tried = False


def jit_enabled() -> bool:
    """numba is installed and not switched off (``ROTASIM_JIT=0``)."""
    return _load() is not None


def use_kernel(n: int) -> dict[str, Callable[..., Any]] | None:
    """The compiled kernels, for a call over ``n`` clients large enough to profit; else None (numpy form)."""
    if n < KERNEL_MIN:
        return None
    return _load()


def _load() -> dict[str, Callable[..., Any]] | None:
    global _kernels, _tried
    if os.environ.get("ROTASIM_JIT", "1") == "0":
        return None
    if not _tried:
        _tried = True
        try:
            _kernels = _compile()
        except ImportError:
            _kernels = None
    return _kernels


def _compile() -> dict[str, Callable[..., Any]]:
    import numba

    njit = numba.njit(cache=True, nogil=True, error_model="numpy")
    # the helpers the kernels call by name must be compiled first (numba resolves globals when compiling)
    globals()["_fmax"], globals()["_fmin"] = njit(_fmax), njit(_fmin)
    return {
        "next_spell": njit(_next_spell),
        "jitter_steps": njit(_jitter_steps),
        "merge_absences": njit(_merge_absences),
    }


# ---------------------------------------------------------------------- kernels (plain Python, numba-compiled)
# Written for numba: scalar loops, numpy's NaN rules spelled out where Python's max/min would differ.

WEEK = 168.0
FAR = 1e12


def _fmax(a: float, b: float) -> float:  # np.maximum: NaN wins
    if a != a or b != b:
        return a + b
    return a if a >= b else b


def _fmin(a: float, b: float) -> float:  # np.minimum: NaN wins
    if a != a or b != b:
        return a + b
    return a if a <= b else b


def _next_spell(
    idx: np.ndarray,
    t: np.ndarray,
    pattern: np.ndarray,
    offset: np.ndarray,
    win_a: np.ndarray,
    win_b: np.ndarray,
    win_n: np.ndarray,
    wraps: np.ndarray,
    skip: np.ndarray,
    abs_a: np.ndarray,
    abs_b: np.ndarray,
    last_end: np.ndarray,
    gone: np.ndarray,
    out_s: np.ndarray,
    out_e: np.ndarray,
) -> None:
    """``Presence.next_spell`` for each client ``idx[i]`` from ``t[i]`` (see ``_next_spell_numpy`` there)."""
    K = abs_a.shape[1]
    P = win_n.shape[0]
    for i in range(idx.shape[0]):
        c = idx[i]
        out_s[i] = np.inf
        out_e[i] = np.inf
        if gone[c]:
            continue
        cur = t[i]
        for _ in range(2 * K + 4):
            k = pattern[c]
            if k < 0 or k >= P or skip[k]:
                s, e = -FAR, FAR
            else:
                w = np.mod(cur + offset[c], WEEK)
                base = cur - w
                nk = win_n[k]
                j = 0
                while j < nk and win_b[k, j] <= w:  # searchsorted(b, w, side="right")
                    j += 1
                if j >= nk:
                    jj, wk = 0, base + WEEK
                else:
                    jj, wk = j, base + 0.0
                s = wk + win_a[k, jj]
                e = wk + win_b[k, jj]
                if wraps[k]:
                    if jj == 0:
                        s = wk - WEEK + win_a[k, nk - 1]
                    if jj == nk - 1:
                        e = wk + WEEK + win_b[k, 0]
            u = _fmax(s, cur)
            if K == 0 or last_end[c] <= s:
                out_s[i], out_e[i] = s, e
                break
            hit = False
            nxt = -np.inf
            for q in range(K):
                a, b = abs_a[c, q], abs_b[c, q]
                if u >= a and u < b:
                    hit = True
                    nxt = _fmax(nxt, b)
            if hit:
                cur = nxt
                if np.isinf(cur):
                    break
                continue
            ended, starts = -np.inf, np.inf
            for q in range(K):
                a, b = abs_a[c, q], abs_b[c, q]
                ended = _fmax(ended, b if (b > s and b <= u) else -np.inf)
                starts = _fmin(starts, a if a > u else np.inf)
            out_s[i] = _fmax(s, ended)
            out_e[i] = _fmin(e, starts)
            break


def _jitter_steps(
    clients: np.ndarray,
    res: np.ndarray,
    t: np.ndarray,
    h: np.ndarray,
    jitter: float,
    base: np.ndarray,
    counter: np.ndarray,
) -> None:
    """Step each client's check-in ``res[i]`` forward by jittered intervals U(h(1-j), h(1+j)) until it is at
    or after ``t[i]``, drawing from the client's counter-based stream (``ClientStreams.uniform``): the same
    draws, in the same order per client, as the numpy loop of ``sim.model.heartbeat._step``."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    m1 = np.uint64(0xBF58476D1CE4E5B9)
    m2 = np.uint64(0x94D049BB133111EB)
    for i in range(clients.shape[0]):
        c = clients[i]
        r = res[i]
        hh = h[i]
        while r < t[i]:
            z = base[c] + counter[c] * golden + golden
            z = (z ^ (z >> np.uint64(30))) * m1
            z = (z ^ (z >> np.uint64(27))) * m2
            z = z ^ (z >> np.uint64(31))
            counter[c] += np.uint64(1)
            u = np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)
            r += hh * (1 - jitter) + 2 * jitter * hh * u
        res[i] = r


def _merge_absences(c: np.ndarray, s: np.ndarray, e: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merged absences (client, start, end), ordered by client then start, as ``pack_absences``'s numpy
    form makes them: a stable sort by (client, start) (a counting sort by client, then an insertion sort of
    each client's few starts), and a run merges while each starts no later than the latest end so far."""
    m = c.shape[0]
    first = np.zeros(n + 1, np.int64)
    for i in range(m):
        first[c[i] + 1] += 1
    for k in range(n):
        first[k + 1] += first[k]
    fill = first[:n].copy()
    order = np.empty(m, np.int64)
    for i in range(m):
        order[fill[c[i]]] = i
        fill[c[i]] += 1
    for k in range(n):
        for i in range(first[k] + 1, first[k + 1]):  # stable insertion sort by start
            cur = order[i]
            j = i - 1
            while j >= first[k] and s[order[j]] > s[cur]:
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = cur
    out_c = np.empty(m, np.int64)
    out_s = np.empty(m)
    out_e = np.empty(m)
    q = -1
    for k in range(n):
        run_end = 0.0
        for i in range(first[k], first[k + 1]):
            r = order[i]
            if i == first[k] or s[r] > run_end:
                q += 1
                out_c[q], out_s[q], out_e[q] = k, s[r], e[r]
                run_end = e[r]
            else:
                run_end = _fmax(run_end, e[r])
                out_e[q] = _fmax(out_e[q], e[r])
    return out_c[: q + 1], out_s[: q + 1], out_e[: q + 1]
