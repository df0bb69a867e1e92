"""Groups whose rows show no absence: always-on machines (servers are not laptops).

Why: the fitted presence model is one mixture for the whole fleet (an always-on share and a weekly pattern,
both taking leave). A group of servers all online at the snapshot is better described as online throughout:
fitting it into the mixture would lend its machines the laptops' leave and the laptops its always-on share.
The rule (docs/fleet-import.md, "Per-group presence"): a group with at least ``MIN_ROWS`` rows, none of them
offline for longer than the absence threshold and at least ``MIN_ONLINE_SHARE`` of them online, is written as
always on (``fleet.files.always_on_groups``) and left out of the fit. A laptop group fails it at any snapshot
outside working hours (its laptops are offline) and, inside them, by its absent laptops.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_ROWS = 20


MIN_ONLINE_SHARE = 0.98


def always_on_groups(group: np.ndarray, age_hours: np.ndarray, online: np.ndarray, absence_days: float) -> list[str]:
    """The groups (as in clients.csv) the rule above calls always on, sorted."""
    df = pd.DataFrame({"g": group, "on": np.asarray(online, bool)})
    df["absent"] = ~df["on"] & (np.asarray(age_hours, float) > absence_days * 24.0)
    by = df.groupby("g").agg(n=("on", "size"), online=("on", "mean"), absent=("absent", "sum"))
    ok = (by["n"] >= MIN_ROWS) & (by["absent"] == 0) & (by["online"] >= MIN_ONLINE_SHARE)
    return sorted(str(g) for g in by.index[ok])
