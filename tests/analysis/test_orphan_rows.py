"""The compact orphan rows and their array aggregation give exactly what the straightforward pandas
aggregation (one Python call per client and column, the report's code before issue 17) gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis import tables
from sim.analysis.orphan_rows import OrphanRows, stack
from sim.analysis.sampling import ORPHAN_COLUMNS, PROFILE, RepExtra


def _mode(s: pd.Series) -> str:
    vc = s.astype(str).value_counts()
    top = vc[vc == vc.iloc[0]].index
    return str(sorted(top)[0])


def _counts_text(s: pd.Series) -> str:
    vc = s.astype(str).value_counts()
    return ";".join(f"{k}:{int(v)}" for k, v in sorted(vc.items(), key=lambda kv: (-kv[1], kv[0])))


def reference_clients(frames: list[pd.DataFrame], n: int) -> pd.DataFrame:
    orph = pd.concat(frames, ignore_index=True)
    g = orph.groupby("client_id", sort=True)
    out = pd.DataFrame(
        {
            "orphaned_replications": g.size(),
            "cause": g["cause"].agg(_mode),
            "causes": g["cause"].agg(_counts_text),
            "group": g["group"].agg(_mode),
            "version": g["version"].agg(_mode),
            "presence": g["presence"].agg(_mode),
            "first_contact_hours_median": g["first_contact_hours"].median(),
        }
    )
    out["orphaned_share"] = out["orphaned_replications"] / n
    return out


ids = st.sampled_from(["c01", "c02", "c10", "h\u00e9", "a", "zz9"])
row = st.tuples(
    ids,
    st.sampled_from(["laptops", "desktops"]),
    st.sampled_from(["14.3", "14.2", "14.3.RU9"]),
    st.sampled_from(["office", "always"]),
    st.sampled_from(["wait-too-short", "missed-group", "offline-through-window"]),
    st.one_of(st.just(float("nan")), st.floats(0, 500, allow_nan=False)),
)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    seen: dict[str, tuple] = {}
    for r in rows:  # one row per client and replication, as a result's clients table has
        seen.setdefault(r[0], r)
    recs = [dict(zip(["client_id", *PROFILE, "cause", "first_contact_hours"], r, strict=True)) for r in seen.values()]
    df = pd.DataFrame(recs, columns=["client_id", *PROFILE, "cause", "first_contact_hours"])
    df["orphaned_at_hours"] = 1.0
    return df[ORPHAN_COLUMNS]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(row, max_size=8), min_size=1, max_size=6))
def test_array_aggregation_equals_the_pandas_one(reps: list[list[tuple]]) -> None:
    frames = [_frame(r) for r in reps]
    prof = pd.DataFrame(
        [{"group": g, "version": v, "presence": p, "clients": 3} for g in ["laptops", "desktops"]
         for v in ["14.3", "14.2", "14.3.RU9"] for p in ["office", "always"]]
    )  # fmt: skip
    steps = pd.DataFrame(columns=["name", "kind", "start_hours", "end_hours", "detail"])
    extras = [
        RepExtra(k, OrphanRows.from_frame(f), prof, np.zeros(1), np.zeros(1, np.float32), steps, None)
        for k, f in enumerate(frames)
    ]
    clients, profiles = tables.at_risk_tables(extras)
    if sum(len(f) for f in frames) == 0:
        assert len(clients) == 0
        return
    ref = reference_clients(frames, len(frames))
    got = clients.set_index("client_id").loc[ref.index]
    for col in ["orphaned_replications", "cause", "causes", "group", "version", "presence"]:
        assert got[col].tolist() == ref[col].tolist(), col
    median = ref["first_contact_hours_median"].astype(float)
    pd.testing.assert_series_equal(got["first_contact_hours_median"].astype(float), median, check_names=False)
    # the order: most often orphaned first, then the profile's share, then the id
    keys = list(zip(-clients["orphaned_share"], -clients["profile_orphaned_share"], clients["client_id"], strict=True))
    assert keys == sorted(keys)
    # the profiles' main cause is the mode of the causes of their orphans
    allrows = pd.concat(frames, ignore_index=True)
    for r in profiles[profiles["orphans_per_rotation"] > 0].to_dict("records"):
        sel = allrows[(allrows[PROFILE] == pd.Series({c: r[c] for c in PROFILE})).all(axis=1)]
        assert r["main_cause"] == _mode(sel["cause"])
        assert r["orphans_per_rotation"] == len(sel) / len(frames)


def test_rows_are_compact_and_decode_back() -> None:
    n = 5_000
    df = pd.DataFrame(
        {
            "client_id": [f"c{i:07d}" for i in range(n)],
            "group": np.where(np.arange(n) % 2, "laptops", "desktops"),
            "version": "14.3",
            "presence": "office",
            "cause": "wait-too-short",
            "orphaned_at_hours": 1.0,
            "first_contact_hours": np.linspace(0, 100, n),
        }
    )
    rows = OrphanRows.from_frame(df)
    size = rows.client_id.nbytes + sum(c.nbytes for c in rows.codes.values()) + rows.first_contact_hours.nbytes
    assert size / n <= 24  # ids as bytes, labels as int16 codes, one float
    back = rows.frame()
    pd.testing.assert_frame_equal(back, df.drop(columns="orphaned_at_hours"), check_dtype=False)
    st_ = stack([rows, rows])
    assert len(st_) == 2 * n and len(st_.ids) == n
