"""The orphaned clients of the report's replications, kept compact so that the parent's memory stays nearly
flat in the number of replications, and aggregated per client with array operations.

A report at 10^6 clients orphans thousands of clients per replication and may run 320 replications: as
pandas rows of Python strings that was about 900 bytes a row (1.6 GiB at 320 replications), and the per-client
mode of group, version, presence and cause was a Python call per client and column (most of a report's time
at 10^5 clients and more). Here a replication's orphans travel back from the worker as ``OrphanRows``: client
ids as UTF-8 bytes, the four labels as small integer codes into per-replication category lists, the first
contact as float64, about 20 bytes a row (0.12 MB per replication of 5,800 orphans). The aggregation
(``stack``, then ``mode`` and ``counts_text``) factorises once over all replications and takes modes and counts
by sorting, with the same tie-break as before (the most frequent label, the first in string order among equals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

LABELS = ("group", "version", "presence", "cause")


@dataclass
class OrphanRows:
    """One replication's orphaned clients: ids (UTF-8 bytes), label codes into ``categories`` and the hours
    of each client's first contact after the procedure began (NaN: none)."""

    client_id: np.ndarray  # dtype S: UTF-8 bytes
    codes: dict[str, np.ndarray]  # label -> int16 codes into categories[label]
    categories: dict[str, list[str]]
    first_contact_hours: np.ndarray  # float64

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> OrphanRows:
        """From the result's clients table restricted to orphans (``client_id``, the labels, first contact)."""
        ids = df["client_id"].astype(str).to_numpy(dtype=str)
        raw = np.char.encode(ids, "utf-8") if len(ids) else np.array([], dtype="S1")
        codes: dict[str, np.ndarray] = {}
        cats: dict[str, list[str]] = {}
        for col in LABELS:
            c, u = pd.factorize(df[col].astype(str), sort=True)
            codes[col] = c.astype(np.int16)
            cats[col] = [str(x) for x in u]
        fc = df["first_contact_hours"].to_numpy(dtype=float)
        return cls(raw, codes, cats, fc)

    def __len__(self) -> int:
        return len(self.client_id)

    def labels(self, col: str) -> np.ndarray:
        """The label of each row, as strings (for tests and small tables)."""
        cats = np.asarray(self.categories[col], dtype=object)
        return cats[self.codes[col]] if len(cats) else np.array([], dtype=object)

    def frame(self) -> pd.DataFrame:
        """Decoded rows: client_id, group, version, presence, cause, first_contact_hours."""
        out = {"client_id": [b.decode("utf-8") for b in self.client_id.tolist()]}
        out |= {c: self.labels(c).tolist() for c in LABELS}
        return pd.DataFrame(out | {"first_contact_hours": self.first_contact_hours})


@dataclass
class Stacked:
    """All replications' rows at once: per row the client's index into ``ids`` and each label's index into one
    sorted category list; built once per report."""

    client: np.ndarray  # int64 index into ids
    ids: np.ndarray  # object: decoded ids, in sorted byte order
    codes: dict[str, np.ndarray]  # label -> int64 index into categories[label] (sorted)
    categories: dict[str, np.ndarray]  # object arrays, sorted
    first_contact_hours: np.ndarray

    def __len__(self) -> int:
        return len(self.client)

    def labels(self, col: str) -> np.ndarray:
        """The label of each row, as strings (object array; empty when there are no rows)."""
        return self.categories[col][self.codes[col]] if len(self) else np.array([], dtype=object)


def stack(parts: Sequence[OrphanRows]) -> Stacked:
    """Concatenate replications' rows, with one set of codes for all of them."""
    raw = [p.client_id for p in parts if len(p)]
    if raw:
        width = max(r.dtype.itemsize for r in raw)
        uniq, client = np.unique(np.concatenate([r.astype(f"S{width}") for r in raw]), return_inverse=True)
        ids = np.array([b.decode("utf-8") for b in uniq.tolist()], dtype=object)
    else:
        client, ids = np.array([], np.int64), np.array([], dtype=object)
    codes: dict[str, np.ndarray] = {}
    cats: dict[str, np.ndarray] = {}
    for col in LABELS:
        allc = sorted({c for p in parts for c in p.categories[col]})
        cats[col] = np.asarray(allc, dtype=object)
        index = {c: i for i, c in enumerate(allc)}
        pieces = [np.array([index[c] for c in p.categories[col]], np.int64)[p.codes[col]] for p in parts if len(p)]
        codes[col] = np.concatenate(pieces) if pieces else np.array([], np.int64)
    fcs = [p.first_contact_hours for p in parts if len(p)]
    fc = np.concatenate(fcs) if fcs else np.array([], float)
    return Stacked(client.astype(np.int64).reshape(-1), ids, codes, cats, fc)


def _pair_counts(client: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (client, value) pairs with their counts, ordered by client, then count descending, then value
    (codes are in string order, so this is the string order of the labels)."""
    pair, counts = np.unique(np.stack([client, value]), axis=1, return_counts=True)
    order = np.lexsort((pair[1], -counts, pair[0]))
    return pair[0][order], pair[1][order], counts[order]


def mode(st: Stacked, col: str, clients: np.ndarray) -> np.ndarray:
    """Per client in ``clients`` (sorted indices into ``st.ids``): its most frequent label; ties go to the
    first in string order."""
    c, v, _ = _pair_counts(st.client, st.codes[col])
    first = np.r_[True, c[1:] != c[:-1]] if len(c) else np.array([], bool)
    best = np.zeros(len(st.ids), np.int64)
    best[c[first]] = v[first]
    return st.categories[col][best[clients]]


def counts_text(st: Stacked, col: str, clients: np.ndarray) -> list[str]:
    """Per client: 'label:count;label:count', most frequent first, then in string order."""
    c, v, k = _pair_counts(st.client, st.codes[col])
    text = [f"{lab}:{n}" for lab, n in zip(st.categories[col][v].tolist(), k.tolist(), strict=True)]
    joined: dict[int, list[str]] = {}
    for ci, t in zip(c.tolist(), text, strict=True):
        joined.setdefault(ci, []).append(t)
    return [";".join(joined[i]) for i in clients.tolist()]


__all__ = ["LABELS", "OrphanRows", "Stacked", "counts_text", "mode", "stack"]
