"""The risk report: one command before a real rotation, a report for the change-advisory board and a
verdict a pipeline can gate on.

What it does, and why:

- **Verdict, graded.** The forecast is the mean of the per-replication orphans (or orphan rate) with its
  95% Student-t interval. GO: the whole interval lies at or under the threshold; NO-GO: it lies over it;
  INCONCLUSIVE: it straddles it. One replication is an anecdote and a fixed count either wastes runs or
  leaves the answer open, so the report samples *sequentially*: it starts with ``replications`` and, while the
  interval straddles the threshold, doubles the count (replications n..2n-1 are new runs under the same root
  seed, so nothing is re-run) up to ``max_replications``. It says how many it ran and when each batch stopped.
- **Repair work.** Orphans times ``Scenario.repair_minutes`` (an assumption, stated as such): a board sees
  hours of hands-on work, not only counts.
- **Frugal with memory.** Each replication runs in a worker that keeps only what the report shows: the
  orphaned clients' rows, the hourly share of clients trusting the new certificates, the runbook steps, the
  live clients per (group, version, presence) profile. Full per-client tables are never gathered.
- **Atomic.** Every file is first written into a staging folder next to (or inside) the output folder and
  only then renamed into place, ``report.json`` (the machine-read verdict) last; an interrupted run leaves
  the previous report or the new one, never a half-written file.
- **Safe HTML.** Every string that came from an input file (names of scenarios, groups, versions, clients,
  steps, descriptions) is escaped; the page carries a Content-Security-Policy that allows nothing but its
  inline CSS and its embedded images, and it needs no script.

The report's sections are built once as a small document model (``Section`` with paragraphs, tables,
figures) and rendered twice, to HTML and to Markdown, so both carry the same content in the same order.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import html
import json
import math
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel

from sim._version import __version__
from sim.analysis.planning import Plan, plan
from sim.analysis.replications import Replications
from sim.analysis.stats import describe
from sim.errors import InputError
from sim.experiments.digest import BLOCKING, Digest, _digest
from sim.experiments.execution import run_tasks
from sim.experiments.simulate import Engine
from sim.io import check_out_dir, csv_bytes, jsonable, write_outputs
from sim.model.causes import CAUSE_MEANINGS, CAUSES
from sim.presentation import figures as figs
from sim.runbooks.axis import plan_axis
from sim.scenario.document import Scenario
from sim.scenario.runbook import CustomRunbook, KbMultiServer, KbSingleServer, Naive

Verdict = Literal["GO", "NO-GO", "INCONCLUSIVE"]


EXIT_CODES: dict[str, int] = {"GO": 0, "NO-GO": 1, "INCONCLUSIVE": 3}


CONFIDENCE = 0.95


DEFAULT_REPLICATIONS = 20


DEFAULT_MAX_REPLICATIONS = 320


TOP_AT_RISK = 15


MODEL_DOC = "docs/model.md"


# Files a report may write; a rerun removes those of the list it no longer produces (a stale figure).
FIGURE_FILES = {
    "verdict": "orphans-distribution.png",
    "curve": "orphans-vs-setting.png",
    "breakdown": "orphans-by-cause-group-version.png",
    "timeline": "runbook-timeline.png",
    "trust": "trust-over-time.png",
    "load": "manager-load.png",
}


REPORT_FILES = ("report.html", "report.md", "report.json", "at-risk-clients.csv", *FIGURE_FILES.values())


HANDLE_APART_ADVICE = {
    "unsupported-version": "upgrade these clients first, or rotate them with the single-server procedure "
    "(KB 187099: 14.2 and 14.2.1 cannot use the multi-server method)",
    "missed-group": "change these groups on their own (inheritance off), or have every all-groups step "
    "include groups that do not inherit",
    "no-failover-target": "give these clients a management server list with a manager to fail over to "
    "before the rotation",
}


@dataclass(frozen=True)
class Threshold:
    """The board's limit: at most ``max_orphans`` orphans, or an orphan rate of at most ``max_orphan_rate``
    (orphans over clients not gone) per rotation."""

    max_orphans: float | None = None
    max_orphan_rate: float | None = None

    def __post_init__(self) -> None:
        if self.max_orphans is not None and self.max_orphan_rate is not None:
            raise InputError("--max-orphans", "", "give either --max-orphans or --max-orphan-rate, not both")
        if self.max_orphans is not None and not (math.isfinite(self.max_orphans) and self.max_orphans >= 0):
            raise InputError("--max-orphans", "", f"must be 0 or more (got {self.max_orphans:g})")
        if self.max_orphan_rate is not None and not 0 <= self.max_orphan_rate <= 1:
            raise InputError("--max-orphan-rate", "", f"must be between 0 and 1 (got {self.max_orphan_rate:g})")

    @classmethod
    def given(cls, max_orphans: float | None, max_orphan_rate: float | None) -> Threshold:
        """The threshold a command or call asked for; none given means no orphan at all (``--max-orphans 0``)."""
        if max_orphans is None and max_orphan_rate is None:
            return cls(max_orphans=0.0)
        return cls(max_orphans=max_orphans, max_orphan_rate=max_orphan_rate)

    @property
    def is_rate(self) -> bool:
        return self.max_orphan_rate is not None

    @property
    def value(self) -> float:
        if self.max_orphan_rate is not None:
            return float(self.max_orphan_rate)
        return float(self.max_orphans or 0.0)

    def describe(self) -> str:
        if self.is_rate:
            return f"an orphan rate of at most {_pct(self.value)}"
        k = self.value
        return f"at most {k:g} orphan{'' if k == 1 else 's'}"

    def option(self) -> str:
        return f"--max-orphan-rate {self.value:g}" if self.is_rate else f"--max-orphans {self.value:g}"

    def to_json(self) -> dict[str, float]:
        return {"max_orphan_rate": self.value} if self.is_rate else {"max_orphans": self.value}


def judge(values: np.ndarray | Sequence[float], threshold: float, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """The graded verdict on per-replication values: GO when the interval of the mean lies at or under the
    threshold, NO-GO when it lies over it, INCONCLUSIVE when it straddles it (or when fewer than two values
    leave no interval)."""
    d = describe(np.asarray(values, float), confidence)
    lo, hi = d["ci95"]
    eps = 1e-9 * max(1.0, abs(threshold))
    verdict: Verdict
    if lo is None or hi is None:
        verdict = "INCONCLUSIVE"
    elif hi <= threshold + eps:
        verdict = "GO"
    elif lo > threshold + eps:
        verdict = "NO-GO"
    else:
        verdict = "INCONCLUSIVE"
    return {"verdict": verdict, "mean": d["mean"], "ci95": [lo, hi], "stderr": d["stderr"], "n": d["n"]}


@dataclass
class RepExtra:
    """What one replication keeps for the report beyond its ``Digest`` (small, whatever the fleet size)."""

    replication: int
    orphans: pd.DataFrame  # one row per orphaned client
    profiles: pd.DataFrame  # live clients per (group, version, presence): columns ..., clients
    trust_time: np.ndarray
    trust_share: np.ndarray  # float32 share of live clients trusting the new certificates, per hour
    steps: pd.DataFrame
    setting: float | None  # the run's own retention (days) or wait (hours); None: not a planning runbook
    load: pd.DataFrame | None = None  # the load table (time_hours, manager, offered/capacity per second): first run
    load_summary: list[dict[str, Any]] | None = None  # per manager: peak, hours over capacity, failed check-ins


ORPHAN_COLUMNS = ["client_id", "group", "version", "presence", "cause", "orphaned_at_hours", "first_contact_hours"]


PROFILE = ["group", "version", "presence"]


def _report_task(
    sc: Scenario, seed: int, k: int, engine: Engine, clients: int | None, horizon_days: float | None
) -> tuple[Digest, RepExtra]:
    """One replication: its digest (for the curves and plan) and the report's extras; the full result is
    dropped here, in the worker, so that only small tables travel back."""
    d = _digest(sc, seed, k, engine, clients, horizon_days, True)
    r = d.result
    assert r is not None
    d.result = None
    c = r.clients
    live = c[c["outcome"] != "gone"]
    orphans = c.loc[c["outcome"] == "orphaned", ORPHAN_COLUMNS].reset_index(drop=True)
    profiles = live.groupby(PROFILE, sort=True, dropna=False).size().rename("clients").reset_index()
    setting = run_setting(sc, r.first_update_hours, r.window_start_hours)
    load = getattr(r, "load", None)  # present when the scenario models manager capacity (load.enabled)
    info = getattr(r, "load_info", None)
    return d, RepExtra(
        replication=k,
        orphans=orphans,
        profiles=profiles,
        trust_time=r.trust["time_hours"].to_numpy(dtype=float),
        trust_share=r.trust["share_trusting_new"].to_numpy(dtype=np.float32),
        steps=r.steps.copy(),
        setting=None if setting is None else float(setting),
        # the full table is large (one row per manager and bin): only the first replication's travels back
        load=load if isinstance(load, pd.DataFrame) and k == 0 else None,
        load_summary=list(info["managers"]) if isinstance(info, dict) and info.get("managers") else None,
    )


def run_setting(sc: Scenario, first_update: float | None, window_start: float | None) -> float | None:
    """The run's own value of the planned setting, on the axis of ``Replications.curve``: the retention
    (days) for kb-multi-server; for kb-single-server the time between the window opening (the last relaxing
    step landing) and the update's hands-on work starting, in hours (as ``sim.planning`` measures it)."""
    rb = sc.runbook
    if isinstance(rb, KbMultiServer):
        return float(rb.retention_days)
    if isinstance(rb, KbSingleServer) and first_update is not None and window_start is not None:
        return float(first_update - rb.operator_minutes / 60.0 - window_start)
    return None


@dataclass
class Sampling:
    """Replications run for a report, with the verdict after each batch of the sequential sampling."""

    reps: Replications
    extras: list[RepExtra]
    threshold: Threshold
    initial: int
    cap: int
    batches: list[dict[str, Any]] = field(default_factory=list)
    clients: int | None = None
    horizon_days: float | None = None

    @property
    def n(self) -> int:
        return self.reps.n

    def metric(self) -> np.ndarray:
        """Per replication: orphans, or orphans over clients not gone (the threshold's measure)."""
        orphaned = np.array([d.summary["orphaned"] for d in self.reps.digests], float)
        if not self.threshold.is_rate:
            return orphaned
        live = np.array([max(d.live, 1) for d in self.reps.digests], float)
        return orphaned / live

    def judge(self) -> dict[str, Any]:
        return judge(self.metric(), self.threshold.value)


Log = Callable[[str], None]


def run_sequential(
    scenario: Scenario,
    threshold: Threshold,
    *,
    replications: int = DEFAULT_REPLICATIONS,
    max_replications: int = DEFAULT_MAX_REPLICATIONS,
    seed: int | None = None,
    engine: Engine = "fast",
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    log: Log | None = None,
) -> Sampling:
    """Run ``replications``, then double while the verdict is INCONCLUSIVE, up to ``max_replications``."""
    check_counts(replications, max_replications)
    seed = scenario.seed if seed is None else seed
    say = log or (lambda _msg: None)
    digests: list[Digest] = []
    extras: list[RepExtra] = []
    sampling = Sampling(
        Replications(scenario, seed, engine, digests),
        extras,
        threshold,
        replications,
        max_replications,
        clients=clients,
        horizon_days=horizon_days,
    )
    target = replications
    while True:
        start = len(digests)
        say(f"running replications {start + 1} to {target} of {scenario.name} (seed {seed})")
        tasks = [(scenario, seed, k, engine, clients, horizon_days) for k in range(start, target)]
        for d, x in run_tasks(_report_task, tasks, workers=workers, progress=progress, label="replications"):
            digests.append(d)
            extras.append(x)
        j = sampling.judge()
        j["replications"] = len(digests)
        sampling.batches.append(j)
        say(f"after {len(digests)} replications: {_judgement_line(j, threshold)}")
        if j["verdict"] != "INCONCLUSIVE" or target >= max_replications:
            break
        target = min(2 * target, max_replications)
    return sampling


def check_counts(replications: int, max_replications: int) -> None:
    if replications < 2:
        raise InputError("--replications", "", f"need at least 2 for an interval (got {replications})")
    if max_replications < replications:
        raise InputError(
            "--max-replications", "", f"must be at least --replications ({max_replications} < {replications})"
        )
    if max_replications > 10_000:
        raise InputError("--max-replications", "", f"expected at most 10000 (got {max_replications})")


def _judgement_line(j: dict[str, Any], threshold: Threshold) -> str:
    lo, hi = j["ci95"]
    f = _pct if threshold.is_rate else _n1
    interval = f"95% interval {f(lo)} to {f(hi)}" if lo is not None else "no interval yet"
    return f"{j['verdict']}: mean {f(j['mean'])}, {interval}, threshold {f(threshold.value)}"


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
    """What each cause means (``sim.causes.CAUSE_MEANINGS``)."""
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
    one there and the per-client columns show the client's most frequent profile when orphaned.
    """
    n = max(len(extras), 1)
    orph = pd.concat([x.orphans for x in extras], ignore_index=True) if extras else pd.DataFrame(columns=ORPHAN_COLUMNS)
    sizes = (
        pd.concat([x.profiles for x in extras], ignore_index=True)
        if extras
        else pd.DataFrame(columns=[*PROFILE, "clients"])
    )
    prof_clients = sizes.groupby(PROFILE, sort=True, dropna=False)["clients"].sum()
    prof_orph = orph.groupby(PROFILE, sort=True, dropna=False).size()
    prof_cause = orph.groupby(PROFILE, sort=True, dropna=False)["cause"].agg(_mode)
    profiles = pd.DataFrame({"clients_per_rotation": prof_clients / n})
    profiles["orphans_per_rotation"] = (prof_orph / n).reindex(profiles.index).fillna(0.0)
    profiles["orphaned_share"] = (prof_orph.reindex(profiles.index).fillna(0) / prof_clients).fillna(0.0)
    profiles["main_cause"] = prof_cause.reindex(profiles.index).fillna("")
    profiles = profiles.reset_index().sort_values(
        ["orphaned_share", "orphans_per_rotation"], ascending=False, kind="stable"
    )
    profiles = profiles.reset_index(drop=True)

    if len(orph) == 0:
        return pd.DataFrame(columns=AT_RISK_COLUMNS), profiles
    g = orph.groupby("client_id", sort=False)
    clients = pd.DataFrame(
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
    clients["replications"] = n
    clients["orphaned_share"] = clients["orphaned_replications"] / n
    clients = clients.reset_index()
    share = profiles.set_index(PROFILE)["orphaned_share"]
    keys = pd.MultiIndex.from_frame(clients[PROFILE])
    clients["profile_orphaned_share"] = share.reindex(keys).to_numpy()
    clients["_num"] = clients["client_id"].astype(str)
    clients = clients.sort_values(
        ["orphaned_share", "profile_orphaned_share", "_num"], ascending=[False, False, True], kind="stable"
    ).drop(columns="_num")
    return clients[AT_RISK_COLUMNS].reset_index(drop=True), profiles


def _mode(s: pd.Series) -> str:
    vc = s.astype(str).value_counts()
    if len(vc) == 0:
        return ""
    top = vc[vc == vc.iloc[0]].index
    return str(sorted(top)[0])


def _counts_text(s: pd.Series) -> str:
    vc = s.astype(str).value_counts()
    return ";".join(f"{k}:{int(v)}" for k, v in sorted(vc.items(), key=lambda kv: (-kv[1], kv[0])))


def handle_apart_table(extras: Sequence[RepExtra]) -> pd.DataFrame:
    """Groups and versions whose orphans no retention or wait cures (blocking causes), per rotation."""
    n = max(len(extras), 1)
    cols = ["cause", "group", "version", "orphans_per_rotation", "advice"]
    if not extras:
        return pd.DataFrame(columns=cols)
    orph = pd.concat([x.orphans for x in extras], ignore_index=True)
    b = orph[orph["cause"].isin(BLOCKING)]
    if len(b) == 0:
        return pd.DataFrame(columns=cols)
    t = b.groupby(["cause", "group", "version"], sort=True).size().rename("orphans_per_rotation") / n
    df = t.reset_index()
    df["advice"] = df["cause"].map(HANDLE_APART_ADVICE).fillna("")
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


def trust_band(extras: Sequence[RepExtra]) -> pd.DataFrame:
    """Per hour: mean share trusting the new certificates and the band of the middle 95% of replications."""
    if not extras:
        return pd.DataFrame(columns=["time_hours", "mean", "low", "high"])
    t = extras[0].trust_time
    m = np.vstack([x.trust_share[: len(t)] for x in extras]).astype(float)
    return pd.DataFrame(
        {
            "time_hours": t,
            "mean": m.mean(axis=0),
            "low": np.quantile(m, 0.025, axis=0),
            "high": np.quantile(m, 0.975, axis=0),
        }
    )


def trust_markers(steps: pd.DataFrame, horizon_hours: float) -> list[tuple[float, str]]:
    """Certificate changes to mark on the trust figure: each update or retirement, the end of a retention
    named as such; markers closer than 1% of the horizon are merged into the first."""
    marks: list[tuple[float, str]] = []
    names = steps["name"].astype(str).tolist()
    kinds = steps["kind"].astype(str).tolist()
    starts = steps["start_hours"].to_numpy(dtype=float)
    ends_at = steps["end_hours"].to_numpy(dtype=float)
    retain_end = [
        float(e) for n, k, e in zip(names, kinds, ends_at, strict=True) if k == "wait" and n.startswith("retain-")
    ]
    for name, kind, start, end in zip(names, kinds, starts, ends_at, strict=True):
        if kind not in ("update-certificate", "retire"):
            continue
        t = float(end)
        label = name
        ends = [e for e in retain_end if abs(e - float(start)) < 1e-6]
        if ends:
            label = f"retention ends: {label} ({float(start) / 24:.0f} d)"
        if marks and abs(t - marks[-1][0]) < 0.01 * horizon_hours and not ends:
            continue
        marks.append((t, label))
    return marks


_FACT = re.compile(r"\bfacts?\s+(\d+(?:\s*(?:,|and)\s*\d+)*)", re.I)


_ASSUMED = re.compile(r"(?:\(A\)|,\s*A\)|\bA\))")


def field_source(description: str, set_in_file: bool, override: str | None = None, doc: str | None = None) -> str:
    """Where a parameter's value comes from: the command line, the scenario file or the default; what backs
    it as its description cites it (a numbered domain fact, KB 187099, an assumption); and the section of
    docs/model.md that explains it (``doc``: an anchor), or the file itself for an assumption."""
    origin = override or ("scenario file" if set_in_file else "default")
    cites = []
    for m in _FACT.finditer(description or ""):
        nums = re.findall(r"\d+", m.group(1))
        cites.append("domain fact " + ", ".join(nums))
    if "KB" in (description or ""):
        cites.append("KB 187099")
    assumed = bool(_ASSUMED.search(description or ""))
    if assumed:
        cites.append("assumption")
    if doc is not None:
        cites.append(f"{MODEL_DOC}#{doc}")
    elif assumed:
        cites.append(MODEL_DOC)
    return origin + (f"; {'; '.join(cites)}" if cites else "")


def _anchor(title: str) -> str:
    """The anchor a Markdown renderer (GitHub's rule) gives a heading."""
    t = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return t.replace(" ", "-")


_DOC_FIELD = re.compile(r"`([A-Za-z_][A-Za-z0-9_.\[\]<>]*)`")


@functools.lru_cache(maxsize=4)
def model_doc_index(path: str | None = None) -> dict[str, str]:
    """Field path (list entries as ``[]``, dict keys as ``*``) -> anchor of the first docs/model.md section that
    names it. Read from the source tree (``docs/model.md`` beside the package); empty when not there (an
    installed wheel), and the sources then cite the file without a section."""
    p = Path(path) if path is not None else Path(__file__).resolve().parent.parent / MODEL_DOC
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    index: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## ") or line.startswith("### "):
            section = _anchor(line.lstrip("#"))
            continue
        if not section:
            continue
        for tok in _DOC_FIELD.findall(line):
            index.setdefault(re.sub(r"<[^>]+>", "*", tok), section)
    return index


def doc_section(key: str, index: Mapping[str, str]) -> str | None:
    """The docs/model.md section for a field (``key`` as ``model_doc_index`` spells paths): the full path,
    else its longest dotted suffix the document names, else its last part when specific enough (has '_')."""
    parts = key.split(".")
    for i in range(len(parts) - 1):
        hit = index.get(".".join(parts[i:]))
        if hit is not None:
            return hit
    last = parts[-1]
    return index.get(last) if "_" in last else None


def assumptions_table(
    sc: Scenario, overrides: Mapping[str, Any] | None = None, doc_index: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Every scenario parameter (nested sections and lists walked to their leaves) with its value, its
    description (the pydantic field's) and its source (see ``field_source``)."""
    overrides = dict(overrides or {})
    index = model_doc_index() if doc_index is None else doc_index
    rows: list[dict[str, str]] = []

    def walk(
        model: BaseModel, prefix: str, key_prefix: str, parent_desc: str, parent_set: bool, parent_doc: str | None
    ) -> None:
        fields_set = model.model_fields_set
        for name, info in type(model).model_fields.items():
            if info.exclude:
                continue
            value = getattr(model, name)
            path = f"{prefix}{name}"
            key = f"{key_prefix}{name}"
            desc = info.description or parent_desc  # a distribution's fields: described by the parent field
            is_set = parent_set and name in fields_set
            doc = doc_section(key, index) or parent_doc
            if isinstance(value, BaseModel):
                walk(value, path + ".", key + ".", desc, is_set, doc)
                continue
            if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
                for i, v in enumerate(value):
                    walk(v, f"{path}[{i}].", f"{key}[].", desc, is_set, doc)
                continue
            if isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
                for k, v in value.items():
                    walk(v, f"{path}.{k}.", f"{key}.*.", desc, is_set, doc)
                continue
            over = overrides.get(path)
            shown = over[0] if over is not None else value
            rows.append(
                {
                    "parameter": path,
                    "value": _value_text(shown),
                    "description": desc or "",
                    "source": field_source(desc or "", is_set, over[1] if over is not None else None, doc),
                }
            )

    walk(sc, "", "", "", True, None)
    return pd.DataFrame(rows, columns=["parameter", "value", "description", "source"])


def _value_text(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str | int):
        return str(v)
    return json.dumps(v, default=str, separators=(", ", ": "))


def runbook_text(sc: Scenario, setting: float | None) -> str:
    """The runbook in a few words, with the setting the timing question is about."""
    rb = sc.runbook
    if isinstance(rb, KbMultiServer):
        return f"kb-multi-server, old certificate kept {rb.retention_days:g} days after the first update"
    if isinstance(rb, KbSingleServer):
        wait = f"{rb.wait_hours:g} h" if rb.wait_hours is not None else f"{rb.wait_heartbeats:g} heartbeats"
        got = f" = {setting:g} h" if setting is not None and rb.wait_hours is None else ""
        return f"kb-single-server, wait {wait}{got} before the certificate update"
    if isinstance(rb, Naive):
        return "naive: every certificate updated at once"
    if isinstance(rb, CustomRunbook):
        return f"custom runbook of {len(rb.steps)} steps"
    return type(rb).__name__  # pragma: no cover


@dataclass
class Report:
    """Everything the report shows, as tables and plain values; rendering only formats these."""

    scenario: Scenario
    source: str
    seed: int
    command: str
    threshold: Threshold
    sampling: Sampling
    judgement: dict[str, Any]
    orphans: dict[str, Any]
    orphan_rate: dict[str, Any]
    repair_hours: dict[str, Any]
    plan: Plan | None
    setting: float | None
    breakdown: dict[str, pd.DataFrame]
    handle_apart: pd.DataFrame
    at_risk: pd.DataFrame
    profiles: pd.DataFrame
    steps: pd.DataFrame
    trust: pd.DataFrame
    markers: list[tuple[float, str]]
    load: pd.DataFrame | None
    load_summary: pd.DataFrame | None
    assumptions: pd.DataFrame
    runs: pd.DataFrame
    horizon_hours: float
    generated_at: str

    @property
    def verdict(self) -> Verdict:
        v: Verdict = self.judgement["verdict"]
        return v

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def build_report(sampling: Sampling, *, source: str, command: str) -> Report:
    """Assemble the report's tables from the replications (no simulation here)."""
    reps = sampling.reps
    sc = reps.scenario
    s = reps.summary(CONFIDENCE)
    th = sampling.threshold
    runs = reps.runs.copy()
    runs["live"] = [d.live for d in reps.digests]
    runs["orphan_rate"] = runs["orphaned"] / runs["live"].clip(lower=1)
    pl: Plan | None = None
    if plan_axis(sc) is not None:
        pl = plan(
            reps,
            max_orphans=None if th.is_rate else th.value,
            max_orphan_rate=th.value if th.is_rate else None,
            confidence=CONFIDENCE,
        )
    settings = [x.setting for x in sampling.extras if x.setting is not None]
    setting = float(np.median(settings)) if settings else None
    steps = sampling.extras[0].steps if sampling.extras else pd.DataFrame(columns=["name", "kind"])
    horizon = float(sampling.extras[0].trust_time[-1]) if sampling.extras else sc.horizon_days * 24.0
    overrides: dict[str, tuple[Any, str]] = {}
    if sampling.clients is not None:
        overrides["fleet.clients"] = (sampling.clients, "command line (--clients)")
    if sampling.horizon_days is not None:
        overrides["horizon_days"] = (sampling.horizon_days, "command line (--horizon-days)")
    if reps.seed != sc.seed:
        overrides["seed"] = (reps.seed, "command line (--seed)")
    at_risk, profiles = at_risk_tables(sampling.extras)
    load = next((x.load for x in sampling.extras if x.load is not None), None)
    return Report(
        scenario=sc,
        source=source,
        seed=reps.seed,
        command=command,
        threshold=th,
        sampling=sampling,
        judgement=sampling.judge(),
        orphans=s["orphaned"],
        orphan_rate=describe(runs["orphan_rate"].to_numpy(), CONFIDENCE),
        repair_hours=s["repair_hours"],
        plan=pl,
        setting=setting,
        breakdown=breakdown_tables(reps),
        handle_apart=handle_apart_table(sampling.extras),
        at_risk=at_risk,
        profiles=profiles,
        steps=steps,
        trust=trust_band(sampling.extras),
        markers=trust_markers(steps, horizon) if len(steps) else [],
        load=load,
        load_summary=load_summary_table(sampling.extras),
        assumptions=assumptions_table(sc, overrides),
        runs=runs,
        horizon_hours=horizon,
        generated_at=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def canonical_command(
    scenario_path: str,
    *,
    out: str,
    threshold: Threshold,
    replications: int,
    max_replications: int,
    seed: int,
    clients: int | None = None,
    horizon_days: float | None = None,
) -> str:
    """The exact command that reproduces the report: every choice explicit, the seed included."""
    args = [
        "rotasim",
        "report",
        scenario_path,
        "--out",
        out,
        "--replications",
        str(replications),
        "--max-replications",
        str(max_replications),
        *threshold.option().split(),
        "--seed",
        str(seed),
    ]
    if clients is not None:
        args += ["--clients", str(clients)]
    if horizon_days is not None:
        args += ["--horizon-days", f"{horizon_days:g}"]
    return shlex.join(args)


def report_figures(rep: Report) -> dict[str, tuple[Figure, str]]:
    """name -> (figure, alt text) for every figure of the report."""
    label = rep.scenario.name
    th = rep.threshold
    out: dict[str, tuple[Figure, str]] = {}
    j = rep.judgement
    values = rep.runs["orphan_rate"] * 100 if th.is_rate else rep.runs["orphaned"]
    scale = 100.0 if th.is_rate else 1.0
    lo, hi = j["ci95"]
    out["verdict"] = (
        figs.orphans_distribution_figure(
            {label: values.to_numpy(float)},
            threshold=th.value * scale,
            interval={label: (None if lo is None else lo * scale, None if hi is None else hi * scale)},
            xlabel="orphan rate per rotation (% of clients not gone)"
            if th.is_rate
            else "orphaned clients per rotation (count)",
        ),
        "Histogram of orphans per replication with the 95% interval of the mean and the threshold.",
    )
    if rep.plan is not None:
        live = float(rep.runs["live"].mean()) if len(rep.runs) else 0.0
        line = th.value * live if th.is_rate else th.value
        out["curve"] = (
            figs.curve_figure(
                {
                    label: figs.CurveSpec(
                        rep.plan.curve, rep.plan.parameter, rep.plan.unit, rep.setting, rep.plan.recommended
                    )
                },
                threshold=line,
            ),
            "Expected orphans against the retention or wait, with the 95% band and the threshold.",
        )
    out["breakdown"] = (
        figs.breakdown_figure({label: rep.breakdown}),
        "Bar charts of orphans per rotation by cause, by group and by version.",
    )
    if len(rep.steps):
        out["timeline"] = (figs.timeline_figure({label: rep.steps}), "Timeline of the runbook's steps and waits.")
    if len(rep.trust):
        out["trust"] = (
            figs.trust_figure({label: rep.trust}, {label: rep.markers}),
            "Share of clients trusting the new certificates over time, with its band and the changes marked.",
        )
    if rep.load is not None:
        out["load"] = (figs.load_figure(rep.load), "Manager load against capacity over time.")
    return out


@dataclass
class Para:
    text: str
    strong: bool = False


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    df: pd.DataFrame
    caption: str = ""
    formats: dict[str, str] = field(default_factory=dict)  # column -> "pct" | "n1" | "n2" | "h"


@dataclass
class Fig:
    name: str  # key into the document's figures
    caption: str


@dataclass
class Code:
    text: str


Block = Para | Bullets | Table | Fig | Code


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block]


@dataclass
class Document:
    """A report or a comparison before rendering: text is plain (escaped when rendered)."""

    title: str
    subtitle: str
    badge: str | None  # GO / NO-GO / INCONCLUSIVE
    headline: str
    sections: list[Section]
    figures: dict[str, tuple[bytes, str, str]]  # name -> (png, file name, alt text)


def report_document(rep: Report, figures: Mapping[str, tuple[Figure, str]]) -> Document:
    """The report's sections, in the order the issue asks for."""
    pngs = {k: (figs.to_png(f), FIGURE_FILES[k], alt) for k, (f, alt) in figures.items()}
    sc = rep.scenario
    th = rep.threshold
    j = rep.judgement
    fmt = _pct if th.is_rate else _n1
    lo, hi = j["ci95"]
    o = rep.orphans
    sampling = rep.sampling
    headline = (
        f"{rep.verdict}: expected {'orphan rate' if th.is_rate else 'orphans'} {fmt(j['mean'])} "
        f"(95% interval {fmt(lo)} to {fmt(hi)}); threshold: {th.describe()}."
    )
    sections: list[Section] = []

    # 1. verdict
    b: list[Block] = [Para(_verdict_meaning(rep.verdict, th), strong=True)]
    b.append(
        Bullets(
            [
                f"Expected orphans per rotation: {_n1(o['mean'])} (95% interval {_n1(o['ci95'][0])} to "
                f"{_n1(o['ci95'][1])}); median {_n1(o['quantiles'].get('0.5'))}, 95th percentile "
                f"{_n1(o['quantiles'].get('0.95'))}.",
                f"Expected orphan rate: {_pct(rep.orphan_rate['mean'])} of the clients that are not gone "
                f"(95% interval {_pct(rep.orphan_rate['ci95'][0])} to {_pct(rep.orphan_rate['ci95'][1])}).",
                f"Repair work: {_n1(rep.repair_hours['mean'])} hours of hands-on work (95% interval "
                f"{_n1(rep.repair_hours['ci95'][0])} to {_n1(rep.repair_hours['ci95'][1])} hours; about "
                f"{_n1((rep.repair_hours['mean'] or 0) / 8)} person-days of 8 hours), assuming "
                f"{sc.repair_minutes:g} minutes per repair (repair_minutes, an assumption: set it in the scenario).",
                _sampling_text(sampling),
                f"Scenario: {sc.name} ({rep.source}); runbook: {runbook_text(sc, rep.setting)}; "
                f"{int(rep.runs['clients'].iloc[0]) if len(rep.runs) else 0} clients; horizon "
                f"{rep.horizon_hours / 24:g} days.",
            ]
        )
    )
    b.append(Fig("verdict", "Orphans per replication: the mean's 95% interval (shaded) against the threshold."))
    b.append(
        Table(
            pd.DataFrame(sampling.batches)[["replications", "verdict", "mean", "ci95"]].assign(
                ci95=lambda d: [f"{fmt(a)} to {fmt(c)}" for a, c in d["ci95"]],
                mean=lambda d: [fmt(v) for v in d["mean"]],
            ),
            "Sequential sampling: the verdict after each batch.",
        )
    )
    sections.append(Section("Verdict", "verdict", b))

    # 2. what would reach GO
    b = []
    if rep.plan is not None:
        pl = rep.plan
        what = "retention" if pl.parameter == "retention_days" else "wait"
        now = f"{rep.setting:g} {pl.unit}" if rep.setting is not None else "unknown"
        b.append(Para(pl.statement(), strong=True))
        if pl.recommended is not None:
            cmp = "already meets" if rep.setting is not None and rep.setting >= pl.recommended else "does not meet"
            b.append(
                Para(
                    f"The runbook's {what} is {now}; it {cmp} that. The recommended {what} is the 95% quantile, "
                    f"across replications, of the smallest {what} that meets the threshold in each."
                )
            )
        elif not pl.blocking_causes:
            b.append(
                Para(
                    f"Some clients do not come back within the simulated horizon ({rep.horizon_hours / 24:g} days), "
                    f"so no {what} inside it saves them: they need repair, or a longer horizon to see them return."
                )
            )
        b.append(Fig("curve", f"Expected orphans had the {what} been longer or shorter (the band: 95% interval)."))
    else:
        b.append(
            Para(
                "This runbook has no retention or wait that rotasim plans for (it does for kb-multi-server and "
                "kb-single-server); the orphans by cause below show what stands in the way."
            )
        )
    if len(rep.handle_apart):
        b.append(Para("Groups and versions to handle apart: their orphans no retention or wait prevents."))
        b.append(Table(rep.handle_apart, formats={"orphans_per_rotation": "n2"}))
    else:
        b.append(
            Para(
                "No group or version needs handling apart: no orphan has a cause that a longer wait or retention "
                "cannot cure."
            )
        )
    sections.append(Section("What would reach GO", "reach-go", b))

    # 3. orphans by cause, group, version
    b = [Fig("breakdown", "Orphans per rotation by cause, group and version (whiskers: 95% interval).")]
    for key in ("cause", "group", "version"):
        df = rep.breakdown[key]
        if len(df):
            b.append(
                Table(
                    df,
                    f"Orphans per rotation by {key}.",
                    {"mean": "n2", "ci95_low": "n2", "ci95_high": "n2", "share_of_orphans": "pct"},
                )
            )
        else:
            b.append(Para(f"By {key}: no orphans in any replication."))
    sections.append(Section("Orphans by cause, group and version", "breakdown", b))

    # 4. clients most at risk
    n = sampling.n
    generated = sc.fleet.files is None
    b = [
        Para(
            f"Risk is the share of the {n} replications in which a client was orphaned. "
            + (
                "The fleet is generated: a client id is not the same machine in every replication (its group, "
                "version and presence are drawn anew), so read the per-profile table first; the per-client "
                "columns show each id's most frequent profile when orphaned."
                if generated
                else "The fleet is read from files: a client id is the same machine in every replication."
            )
            + " first_contact_hours: the median, over the replications that orphaned it, of the client's first "
            "check-in after the procedure's window opened (blank: none within the horizon); profile_share: the "
            "share orphaned of all clients with its group, version and presence."
        ),
        Table(
            rep.profiles.head(TOP_AT_RISK),
            f"Profiles (group, version, presence) by share orphaned; top {TOP_AT_RISK}.",
            {"clients_per_rotation": "n1", "orphans_per_rotation": "n2", "orphaned_share": "pct"},
        ),
    ]
    if len(rep.at_risk):
        b.append(
            Table(
                rep.at_risk.head(TOP_AT_RISK)[
                    [
                        "client_id",
                        "orphaned_share",
                        "cause",
                        "group",
                        "version",
                        "presence",
                        "first_contact_hours_median",
                        "profile_orphaned_share",
                    ]
                ].rename(
                    columns={
                        "first_contact_hours_median": "first_contact_hours",
                        "profile_orphaned_share": "profile_share",
                    }
                ),
                f"The {min(TOP_AT_RISK, len(rep.at_risk))} clients most at risk, of {len(rep.at_risk)} orphaned in "
                "at least one replication (all of them in at-risk-clients.csv).",
                {"orphaned_share": "pct", "profile_share": "pct", "first_contact_hours": "h"},
            )
        )
    else:
        b.append(Para("No client was orphaned in any replication; at-risk-clients.csv has the header only."))
    sections.append(Section("Clients most at risk", "at-risk", b))

    # 5. runbook
    b = []
    if len(rep.steps):
        st = rep.steps.assign(
            duration=lambda d: [
                _dur(float(e) - float(s)) for s, e in zip(d["start_hours"], d["end_hours"], strict=True)
            ],
        )
        b.append(Fig("timeline", "The runbook's steps and waits (replication 1)."))
        b.append(
            Table(
                st[["name", "kind", "start_hours", "end_hours", "duration", "detail"]],
                "Steps, hours since the first step.",
                {"start_hours": "h", "end_hours": "h"},
            )
        )
    else:
        b.append(Para("The runbook has no steps."))
    sections.append(Section("Runbook timeline", "runbook", b))

    # 6. trust over time
    b = []
    if len(rep.trust):
        t = rep.trust
        days = [d for d in (1, 7, 30, 60, 90) if d * 24 <= rep.horizon_hours] + [rep.horizon_hours / 24]
        rows = []
        for d in days:
            i = int(np.searchsorted(t["time_hours"].to_numpy(), d * 24 - 1e-9))
            i = min(i, len(t) - 1)
            rows.append(
                {"day": f"{d:g}", "mean": t["mean"].iloc[i], "low": t["low"].iloc[i], "high": t["high"].iloc[i]}
            )
        b.append(
            Fig(
                "trust",
                "Share of clients (not gone) trusting the new certificates; band: middle 95% of "
                "replications; dotted lines: certificate changes and the end of the retention.",
            )
        )
        b.append(
            Table(
                pd.DataFrame(rows),
                "Share trusting the new certificates at selected days.",
                {"mean": "pct", "low": "pct", "high": "pct"},
            )
        )
    sections.append(Section("Clients trusting the new certificates", "trust", b))

    # 7. manager load
    if rep.load is not None or rep.load_summary is not None:
        b = []
        if rep.load is not None:
            b.append(Fig("load", "Check-ins offered per second against each manager's capacity (replication 1)."))
        if rep.load_summary is not None:
            b.append(
                Table(
                    rep.load_summary,
                    f"Per manager across the {sampling.n} replications: peak load, hours over capacity and "
                    "check-ins that timed out.",
                    {c: "n2" for c in rep.load_summary.columns if c != "manager"},
                )
            )
    else:
        b = [Para("Manager capacity is not modelled in this scenario: no load is shown.")]
    sections.append(Section("Manager load against capacity", "load", b))

    # 8. assumptions and reproduction
    b = [
        Para(
            f"Every parameter of the scenario, its value and where it comes from: the scenario file, the command "
            f"line or the default; 'domain fact N' cites the numbered facts and 'assumption' marks a value the "
            f"documentation does not give (both explained in {MODEL_DOC})."
        ),
        Bullets(
            [
                f"rotasim version: {__version__}",
                f"seed: {rep.seed} (replication k uses the seed sequence (seed, k))",
                f"replications: {sampling.n} (started at {sampling.initial}, cap {sampling.cap})",
                f"engine: {rep.sampling.reps.engine}",
                f"generated: {rep.generated_at}",
            ]
        ),
        Para("The exact command that reproduces this report:"),
        Code(rep.command),
        Table(rep.assumptions, "Scenario parameters."),
    ]
    sections.append(Section("Assumptions and reproduction", "assumptions", b))
    return Document(
        title=f"Certificate rotation risk report: {sc.name}",
        subtitle=f"rotasim {__version__}; {sc.description.strip()}"
        if sc.description.strip()
        else f"rotasim {__version__}",
        badge=rep.verdict,
        headline=headline,
        sections=sections,
        figures=pngs,
    )


def _verdict_meaning(v: str, th: Threshold) -> str:
    if v == "GO":
        return f"GO: the whole 95% interval of the expected value lies within the threshold ({th.describe()})."
    if v == "NO-GO":
        return f"NO-GO: the whole 95% interval of the expected value lies over the threshold ({th.describe()})."
    return (
        f"INCONCLUSIVE: the 95% interval straddles the threshold ({th.describe()}) even after the replication cap: "
        "the forecast sits too close to the threshold to call; treat it as a NO-GO or raise the cap."
    )


def _sampling_text(s: Sampling) -> str:
    if len(s.batches) == 1:
        return f"Replications: {s.n}; the first batch decided the verdict (cap {s.cap})."
    steps = " -> ".join(str(bt["replications"]) for bt in s.batches)
    how = "until the interval decided" if s.batches[-1]["verdict"] != "INCONCLUSIVE" else "and reached the cap"
    return (
        f"Replications: {s.n}. Sequential sampling: the interval straddled the threshold after {s.initial}, so "
        f"the report added replications ({steps}) {how} (cap {s.cap})."
    )


CSS = """
:root { --fg:#1a1a1a; --muted:#555; --line:#d0d0d0; --go:#009E73; --nogo:#D55E00; --inc:#E69F00; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
  margin: 0; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
.subtitle { color: var(--muted); margin: 0 0 16px; }
.badge { display: inline-block; font-weight: 700; font-size: 1.4em; padding: 4px 16px; border-radius: 6px;
  color: #fff; letter-spacing: .04em; margin-right: 12px; }
.badge.GO { background: var(--go); } .badge.NO-GO { background: var(--nogo); }
.badge.INCONCLUSIVE { background: var(--inc); color: #000; }
.headline { display: flex; align-items: center; flex-wrap: wrap; gap: 8px; padding: 12px 16px;
  border: 1px solid var(--line); border-radius: 8px; background: #fafafa; }
.headline p { margin: 0; font-weight: 600; }
nav ol { columns: 2; margin: 12px 0; padding-left: 20px; }
p.strong { font-weight: 600; }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9em; margin-top: 4px; }
.table-wrap { overflow-x: auto; margin: 12px 0; }
table { border-collapse: collapse; font-size: .88em; min-width: 40%; }
caption { caption-side: top; text-align: left; color: var(--muted); padding: 4px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nw { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
pre { background: #f4f4f4; padding: 10px 12px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap;
  word-break: break-all; }
@media print { main { max-width: none; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
"""


CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def esc(text: Any) -> str:
    """HTML-escape any value (quotes too: safe in attributes)."""
    return html.escape(str(text), quote=True)


def _cell(v: Any, kind: str | None) -> tuple[str, bool]:
    """(text, is-number) of one table cell."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "", False
    if kind == "pct":
        return _pct(float(v)), True
    if kind in ("n1", "n2"):
        return (_n1 if kind == "n1" else _n2)(float(v)), True
    if kind == "h":
        return f"{float(v):.2f}", True
    if isinstance(v, bool | np.bool_):
        return ("true" if v else "false"), False
    if isinstance(v, int | np.integer):
        return str(int(v)), True
    if isinstance(v, float | np.floating):
        return f"{float(v):.4g}", True
    return str(v), False


def render_html(doc: Document) -> str:
    """One self-contained page: inline CSS, figures as data: URIs, every text escaped, no script."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(doc.title)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{esc(doc.title)}</h1>",
        f'<p class="subtitle">{esc(doc.subtitle)}</p>',
    ]
    if doc.badge is not None:
        out.append(
            f'<div class="headline" role="status"><span class="badge {esc(doc.badge)}">{esc(doc.badge)}</span>'
            f"<p>{esc(doc.headline)}</p></div>"
        )
    else:
        out.append(f'<div class="headline"><p>{esc(doc.headline)}</p></div>')
    out.append("<nav><ol>" + "".join(f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a></li>' for s in doc.sections))
    out.append("</ol></nav>")
    for s in doc.sections:
        out.append(f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>')
        for blk in s.blocks:
            out.append(_html_block(blk, doc))
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def _html_block(blk: Block, doc: Document) -> str:
    if isinstance(blk, Para):
        return f'<p class="strong">{esc(blk.text)}</p>' if blk.strong else f"<p>{esc(blk.text)}</p>"
    if isinstance(blk, Bullets):
        return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in blk.items) + "</ul>"
    if isinstance(blk, Code):
        return f"<pre><code>{esc(blk.text)}</code></pre>"
    if isinstance(blk, Fig):
        if blk.name not in doc.figures:
            return ""
        png, _name, alt = doc.figures[blk.name]
        data = base64.b64encode(png).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
            f"<figcaption>{esc(blk.caption)}</figcaption></figure>"
        )
    df = blk.df
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for col, v in zip(df.columns, rec, strict=True):
            text, num = _cell(v, blk.formats.get(str(col)))
            if num:
                cells.append(f'<td class="num">{esc(text)}</td>')
            else:  # short labels (names, causes) stay on one line; long text wraps
                cells.append(f'<td class="nw">{esc(text)}</td>' if len(text) <= 24 else f"<td>{esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(blk.caption)}</caption>" if blk.caption else ""
    body = "".join(rows)
    return f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def md_text(text: Any) -> str:
    """Markdown-safe text: HTML special characters escaped (Markdown viewers pass raw HTML through) and the
    characters that would start emphasis, links or tables backslash-escaped."""
    s = html.escape(str(text), quote=False)
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", s).replace("\n", " ")


def render_markdown(doc: Document) -> str:
    """The same document as Markdown; figures are referenced as the PNG files written beside it."""
    out = [f"# {md_text(doc.title)}", "", f"_{md_text(doc.subtitle)}_", ""]
    out += [f"**{md_text(doc.headline)}**", ""]
    for i, s in enumerate(doc.sections, 1):
        out += [f"## {i}. {md_text(s.title)}", ""]
        for blk in s.blocks:
            out += _md_block(blk, doc) + [""]
    return "\n".join(out).rstrip() + "\n"


def _md_block(blk: Block, doc: Document) -> list[str]:
    if isinstance(blk, Para):
        return [f"**{md_text(blk.text)}**" if blk.strong else md_text(blk.text)]
    if isinstance(blk, Bullets):
        return [f"- {md_text(i)}" for i in blk.items]
    if isinstance(blk, Code):
        fence = "~~~" if "```" in blk.text else "```"
        return [fence + "bash", blk.text, fence]
    if isinstance(blk, Fig):
        if blk.name not in doc.figures:
            return []
        _png, name, alt = doc.figures[blk.name]
        return [f"![{md_text(alt)}]({name})", "", f"_{md_text(blk.caption)}_"]
    df = blk.df
    lines = [f"_{md_text(blk.caption)}_", ""] if blk.caption else []
    lines.append("| " + " | ".join(md_text(c) for c in df.columns) + " |")
    lines.append("|" + "|".join("---:" if _numeric(df[c]) else "---" for c in df.columns) + "|")
    for rec in df.itertuples(index=False):
        lines.append(
            "| "
            + " | ".join(md_text(_cell(v, blk.formats.get(str(c)))[0]) for c, v in zip(df.columns, rec, strict=True))
            + " |"
        )
    return lines


def _numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s)) and not pd.api.types.is_bool_dtype(s)


def report_json(rep: Report, files: Iterable[str]) -> dict[str, Any]:
    """The report for machines: the verdict and every table the page shows."""
    j = rep.judgement
    t = rep.trust
    daily = t[np.isclose(np.mod(t["time_hours"].to_numpy(float), 24.0), 0.0)] if len(t) else t
    return jsonable(
        {
            "rotasim_version": __version__,
            "verdict": rep.verdict,
            "exit_code": rep.exit_code,
            "threshold": rep.threshold.to_json(),
            "estimate": {
                "metric": "orphan_rate" if rep.threshold.is_rate else "orphans",
                "mean": j["mean"],
                "ci95": j["ci95"],
                "confidence": CONFIDENCE,
            },
            "orphans": rep.orphans,
            "orphan_rate": rep.orphan_rate,
            "repair": {
                "minutes_per_orphan": rep.scenario.repair_minutes,
                "minutes_source": "assumption (repair_minutes)",
                "hours": rep.repair_hours,
            },
            "sampling": {
                "initial": rep.sampling.initial,
                "cap": rep.sampling.cap,
                "replications": rep.sampling.n,
                "batches": rep.sampling.batches,
            },
            "scenario": {
                "name": rep.scenario.name,
                "source": rep.source,
                "description": rep.scenario.description,
                "runbook": runbook_text(rep.scenario, rep.setting),
                "clients": int(rep.runs["clients"].iloc[0]) if len(rep.runs) else 0,
                "horizon_hours": rep.horizon_hours,
            },
            "seed": rep.seed,
            "command": rep.command,
            "generated_at": rep.generated_at,
            "reach_go": {
                "plan": rep.plan.to_json() if rep.plan is not None else None,
                "current_setting": rep.setting,
                "handle_apart": rep.handle_apart,
            },
            "orphans_by": rep.breakdown,
            "at_risk": {
                "top_clients": rep.at_risk.head(TOP_AT_RISK),
                "clients_file": "at-risk-clients.csv",
                "clients_at_risk": len(rep.at_risk),
                "profiles": rep.profiles,
            },
            "runbook": rep.steps,
            "trust_daily": daily,
            "trust_markers": [{"time_hours": a, "label": b} for a, b in rep.markers],
            "manager_load": "capacity not modelled in this scenario"
            if rep.load is None and rep.load_summary is None
            else {"figure": "manager-load.png" if rep.load is not None else None, "managers": rep.load_summary},
            "assumptions": rep.assumptions,
            "replication_runs": rep.runs,
            "files": sorted(files),
        }
    )


def report_files(rep: Report) -> dict[str, bytes]:
    """Every file of the report, name -> content."""
    figures = report_figures(rep)
    doc = report_document(rep, figures)
    files: dict[str, bytes] = {name: png for png, name, _alt in doc.figures.values()}
    files["at-risk-clients.csv"] = csv_bytes(rep.at_risk)
    files["report.md"] = render_markdown(doc).encode("utf-8")
    files["report.html"] = render_html(doc).encode("utf-8")
    names = [*files, "report.json"]
    files["report.json"] = (json.dumps(report_json(rep, names), indent=2, allow_nan=False) + "\n").encode("utf-8")
    return files


def write_report(rep: Report, out: Path) -> list[str]:
    """Write the report's files into ``out`` atomically; returns the file names."""
    files = report_files(rep)
    write_outputs(out, files, last=("report.json",), owned=REPORT_FILES)
    return sorted(files)


def generate_report(
    scenario: Scenario,
    out: Path,
    *,
    source: str,
    threshold: Threshold,
    replications: int = DEFAULT_REPLICATIONS,
    max_replications: int = DEFAULT_MAX_REPLICATIONS,
    seed: int | None = None,
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    log: Log | None = None,
    command: str | None = None,
) -> Report:
    """Run the sequential replications, build the report and write it; the library form of ``rotasim report``."""
    check_out_dir(out)
    seed = scenario.seed if seed is None else seed
    sampling = run_sequential(
        scenario,
        threshold,
        replications=replications,
        max_replications=max_replications,
        seed=seed,
        clients=clients,
        horizon_days=horizon_days,
        workers=workers,
        progress=progress,
        log=log,
    )
    cmd = command or canonical_command(
        source,
        out=str(out),
        threshold=threshold,
        replications=replications,
        max_replications=max_replications,
        seed=seed,
        clients=clients,
        horizon_days=horizon_days,
    )
    rep = build_report(sampling, source=source, command=cmd)
    if log is not None:
        log("drawing figures and writing the report")
    write_report(rep, out)
    return rep


def _n1(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:,.1f}"


def _n2(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:,.2f}"


def _pct(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{100 * v:.2f}%" if v < 0.1 else f"{100 * v:.1f}%"


def _dur(hours: float) -> str:
    if hours <= 0:
        return "0"
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    if hours >= 1:
        return f"{hours:.2f} h"
    return f"{hours * 60:.0f} min"
