"""The report's tables, computed from the replications and their ``RepExtra``: orphans by cause, group and
version; the clients and profiles most at risk; what to handle apart; manager load; trust over time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.orphan_rows import Stacked, counts_text, mode, stack
from sim.analysis.replications import Replications
from sim.analysis.sampling import PROFILE, RepExtra
from sim.analysis.verdict import CONFIDENCE
from sim.model.causes import BLOCKING, CAUSE_MEANINGS, CAUSES, REMEDIES
from sim.runbooks import template_for
from sim.scenario.document import Scenario


def breakdown_tables(reps: Replications) -> dict[str, pd.DataFrame]:
    """Orphans per rotation by cause, group and version: mean, 95% interval, share of all orphans."""
    s = reps.summary(CONFIDENCE)
    total = s["orphaned"]["mean"] or 0.0
    meanings = cause_meanings()
    out: dict[str, pd.DataFrame] = {}
    for key in ("cause", "group", "version"):
        rows = []
        for name, d in s[f"orphaned_by_{key}"].items():
            if not d["mean"]:
                continue
            row: dict[str, Any] = {
                key: name,
                "mean": d["mean"],
                "ci95_low": d["ci95"][0] if d["ci95"][0] is not None else d["mean"],
                "ci95_high": d["ci95"][1] if d["ci95"][1] is not None else d["mean"],
                "share_of_orphans": d["mean"] / total if total else 0.0,
            }
            if key == "cause":
                row["meaning"] = meanings.get(name, "")
            rows.append(row)
        cols = [key, "mean", "ci95_low", "ci95_high", "share_of_orphans"] + (["meaning"] if key == "cause" else [])
        df = pd.DataFrame(rows, columns=cols)
        if key == "cause":
            df["_o"] = df["cause"].map({c: i for i, c in enumerate(CAUSES)})
            df = df.sort_values("_o").drop(columns="_o")
        else:
            df = df.sort_values("mean", ascending=False, kind="stable")
        out[key] = df.reset_index(drop=True)
    return out


def cause_meanings() -> dict[str, str]:
    """What each cause means (``sim.model.causes.CAUSE_MEANINGS``)."""
    return dict(CAUSE_MEANINGS)


AT_RISK_COLUMNS = [
    "client_id",
    "orphaned_share",
    "orphaned_replications",
    "replications",
    "cause",
    "causes",
    "group",
    "version",
    "presence",
    "first_contact_hours_median",
    "profile_orphaned_share",
]


def at_risk_tables(extras: Sequence[RepExtra]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clients, profiles): how often each client id, and each (group, version, presence) profile, was
    orphaned across the replications.

    With a fleet read from files a client id is the same machine in every replication; with a generated fleet
    it is not (its group, version and presence are drawn anew), so the per-profile share is the meaningful
    one there and the per-client columns show the client's most frequent profile when orphaned. The rows
    come compact from the workers (``sim.analysis.orphan_rows``) and are aggregated with array operations.
    """
    n = max(len(extras), 1)
    st = stack([x.orphans for x in extras])
    sizes = (
        pd.concat([x.profiles for x in extras], ignore_index=True)
        if extras
        else pd.DataFrame(columns=[*PROFILE, "clients"])
    )
    profiles = _profile_table(st, sizes, n)
    if len(st) == 0:
        return pd.DataFrame(columns=AT_RISK_COLUMNS), profiles
    who = np.arange(len(st.ids))
    clients = pd.DataFrame(
        {
            "client_id": st.ids,
            "orphaned_replications": np.bincount(st.client, minlength=len(st.ids)),
            "cause": mode(st, "cause", who),
            "causes": counts_text(st, "cause", who),
            "group": mode(st, "group", who),
            "version": mode(st, "version", who),
            "presence": mode(st, "presence", who),
            "first_contact_hours_median": pd.Series(st.first_contact_hours)
            .groupby(st.client)
            .median()
            .reindex(who)
            .to_numpy(),
        }
    )
    clients["replications"] = n
    clients["orphaned_share"] = clients["orphaned_replications"] / n
    share = profiles.set_index(PROFILE)["orphaned_share"]
    keys = pd.MultiIndex.from_frame(clients[PROFILE])
    clients["profile_orphaned_share"] = share.reindex(keys).to_numpy()
    clients = clients.sort_values(
        ["orphaned_share", "profile_orphaned_share", "client_id"], ascending=[False, False, True], kind="stable"
    )
    return clients[AT_RISK_COLUMNS].reset_index(drop=True), profiles


def _profile_table(st: Stacked, sizes: pd.DataFrame, n: int) -> pd.DataFrame:
    """Per (group, version, presence): clients and orphans per rotation, the share orphaned, the main cause."""
    prof_clients = sizes.groupby(PROFILE, sort=True, dropna=False)["clients"].sum()
    orph = pd.DataFrame({c: st.labels(c) for c in PROFILE} | {"cause": st.codes["cause"]})
    prof_orph = orph.groupby(PROFILE, sort=True, dropna=False).size()
    if len(orph):
        # the main cause: the most frequent, the first in string order among equals (cause codes are sorted)
        per = orph.groupby([*PROFILE, "cause"], sort=True).size().rename("k").reset_index()
        per = per.sort_values([*PROFILE, "k", "cause"], ascending=[True] * len(PROFILE) + [False, True])
        top = per.drop_duplicates(PROFILE).set_index(PROFILE)["cause"]
        prof_cause = pd.Series(st.categories["cause"][top.to_numpy()], index=top.index)
    else:
        prof_cause = pd.Series(dtype=object)
    profiles = pd.DataFrame({"clients_per_rotation": prof_clients / n})
    profiles["orphans_per_rotation"] = (prof_orph / n).reindex(profiles.index).fillna(0.0)
    profiles["orphaned_share"] = (prof_orph.reindex(profiles.index).fillna(0) / prof_clients).fillna(0.0)
    profiles["main_cause"] = prof_cause.reindex(profiles.index).fillna("")
    profiles = profiles.reset_index().sort_values(
        ["orphaned_share", "orphans_per_rotation"], ascending=False, kind="stable"
    )
    return profiles.reset_index(drop=True)


def handle_apart_table(extras: Sequence[RepExtra]) -> pd.DataFrame:
    """Groups and versions whose orphans no retention or wait cures (blocking causes), per rotation."""
    n = max(len(extras), 1)
    cols = ["cause", "group", "version", "orphans_per_rotation", "advice"]
    st = stack([x.orphans for x in extras])
    if len(st) == 0:
        return pd.DataFrame(columns=cols)
    orph = pd.DataFrame({c: st.labels(c) for c in ("cause", "group", "version")})
    b = orph[orph["cause"].isin(BLOCKING)]
    if len(b) == 0:
        return pd.DataFrame(columns=cols)
    t = b.groupby(["cause", "group", "version"], sort=True).size().rename("orphans_per_rotation") / n
    df = t.reset_index()
    df["advice"] = df["cause"].map(REMEDIES).fillna("")
    return df.sort_values("orphans_per_rotation", ascending=False, kind="stable")[cols].reset_index(drop=True)


def load_summary_table(extras: Sequence[RepExtra]) -> pd.DataFrame | None:
    """Per manager, across replications: capacity, peak offered load (mean and worst), hours over capacity
    and failed check-ins (means); None when capacity is not modelled."""
    rows = [dict(m, replication=x.replication) for x in extras for m in (x.load_summary or [])]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    g = df.groupby("manager", sort=False)
    return pd.DataFrame(
        {
            "capacity_per_second": g["capacity_per_second"].first(),
            "peak_offered_per_second_mean": g["peak_offered_per_second"].mean(),
            "peak_offered_per_second_max": g["peak_offered_per_second"].max(),
            "hours_over_capacity_mean": g["hours_over_capacity"].mean(),
            "failed_checkins_mean": g["failed_checkins"].mean(),
        }
    ).reset_index()


def trust_band(extras: Sequence[RepExtra], measure: str = "trust_share") -> pd.DataFrame:
    """Per hour: mean share trusting the new certificates (``measure="contact_share"``: that checked in since
    the procedure's window opened) and the band of the middle 95% of replications."""
    if not extras or any(getattr(x, measure) is None for x in extras):
        return pd.DataFrame(columns=["time_hours", "mean", "low", "high"])
    t = extras[0].trust_time
    m = np.vstack([getattr(x, measure)[: len(t)] for x in extras]).astype(float)
    return pd.DataFrame(
        {
            "time_hours": t,
            "mean": m.mean(axis=0),
            "low": np.quantile(m, 0.025, axis=0),
            "high": np.quantile(m, 0.975, axis=0),
        }
    )


def trust_markers(sc: Scenario, steps: pd.DataFrame, horizon_hours: float) -> list[tuple[float, str]]:
    """Certificate changes to mark on the trust figure: each update or retirement, the one the runbook's
    setting delays labelled as such (``Template.decisive_label``); markers closer than 1% of the horizon are
    merged into the first."""
    tpl = template_for(sc.runbook)
    decisive = tpl.decisive_step([m.name for m in sc.managers])
    marks: list[tuple[float, str]] = []
    names = steps["name"].astype(str).tolist()
    kinds = steps["kind"].astype(str).tolist()
    starts = steps["start_hours"].to_numpy(dtype=float)
    ends_at = steps["end_hours"].to_numpy(dtype=float)
    for name, kind, start, end in zip(names, kinds, starts, ends_at, strict=True):
        if kind not in ("update-certificate", "retire"):
            continue
        t = float(end)
        special = tpl.decisive_label(name, float(start)) if name == decisive else None
        if marks and abs(t - marks[-1][0]) < 0.01 * horizon_hours and special is None:
            continue
        marks.append((t, special or name))
    return marks
