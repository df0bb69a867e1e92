"""The stable public API: names, result tables, plot helpers returning labelled Figures, report/compare."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

import sim

ROOT = Path(__file__).parent.parent
SCENARIO = ROOT / "scenarios" / "three-manager-failover.yaml"

SECTIONS = ["Scenarios", "Runs", "Planning", "Reports", "Fleet import", "Tracking a rotation", "Errors", "Version"]
API_DOC = ROOT / "docs" / "api.md"

PUBLIC = {
    "load_scenario",
    "simulate",
    "replicate",
    "plan",
    "sweep",
    "compare",
    "report",
    "Result",
    "Replications",
    "Plan",
    "Sweep",
    "Comparison",
    "Report",
    "Scenario",
    "InputError",
    "InputWarning",
    "RunOptions",
    "import_inventory",
    "__version__",
}


def _sections_of_all() -> list[tuple[str, list[str]]]:
    """``sim.__all__`` as written in sim/__init__.py: (section comment, names) in order."""
    src = (ROOT / "sim" / "__init__.py").read_text(encoding="utf-8")
    body = src[src.index("__all__ = [") :]
    body = body[: body.index("]")]
    sections: list[tuple[str, list[str]]] = []
    for line in body.splitlines()[1:]:
        line = line.strip()
        if line.startswith("#"):
            sections.append((line.lstrip("# "), []))
        elif line:
            sections[-1][1].append(line.strip('",'))
    return sections


def test_public_names_are_exported_and_documented() -> None:
    """Every public name has a docstring of its own (why it exists, not just its signature)."""
    assert set(sim.__all__) >= PUBLIC
    for name in set(sim.__all__) - {"__version__"}:
        obj = getattr(sim, name)
        doc = obj.__doc__ or ""
        assert len(doc.strip()) > 20 and not doc.startswith(f"{name}("), f"sim.{name} has no docstring"
    assert isinstance(sim.__version__, str)


def test_all_is_by_sections_and_api_md_has_a_section_for_every_name() -> None:
    """``sim.__all__`` is written by sections; docs/api.md has those sections, as ``##`` headings in the same
    order, and under each a heading naming each of its public names."""
    sections = _sections_of_all()
    assert [s for s, _ in sections] == SECTIONS
    assert [n for _, names in sections for n in names] == list(sim.__all__)
    lines = API_DOC.read_text(encoding="utf-8").splitlines()
    top = [i for i, ln in enumerate(lines) if ln.startswith("## ")]
    at = {lines[i][3:].strip(): i for i in top}
    assert [s for s in at if s in SECTIONS] == SECTIONS, "docs/api.md: the sections of sim.__all__, in order"
    for section, names in sections:
        start = at[section]
        end = next((i for i in top if i > start), len(lines))
        headings = " ".join(ln for ln in lines[start:end] if ln.startswith("#"))
        for name in names:
            assert f"`{name}`" in headings, f"docs/api.md: no heading for {name} under '## {section}'"


@pytest.fixture(scope="module")
def small() -> sim.Scenario:
    return sim.load_scenario(SCENARIO).with_(**{"fleet.clients": 400})


def _labelled(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() or fig.get_suptitle()
    assert ax.get_xlabel() and (ax.get_ylabel() or ax.get_yticklabels())


def test_result_tables_and_plots(small: sim.Scenario) -> None:
    r = sim.simulate(small, seed=3)
    for table in (r.clients, r.steps, r.events, r.trust):
        assert isinstance(table, pd.DataFrame) and len(table)
    for fig in (r.plot_trust(), r.plot_orphans("group"), r.plot_timeline()):
        _labelled(fig)
    with pytest.raises(ValueError, match="load.enabled"):
        r.plot_load()


def test_scenario_changes_in_code(small: sim.Scenario) -> None:
    longer = small.with_(**{"runbook.retention_days": 90})
    assert longer.runbook.retention_days == 90  # type: ignore[union-attr]
    assert small.runbook.retention_days == 30  # type: ignore[union-attr]
    with pytest.raises(sim.InputError):
        small.with_(**{"runbook.retention_dayz": 90})


def test_replicate_plan_sweep_plots(small: sim.Scenario) -> None:
    reps = sim.replicate(small, n=3, workers=1, progress=False)
    _labelled(reps.plot_curve())
    p = sim.plan(reps, max_orphans=2)
    assert p.recommended is None or p.recommended >= 0
    _labelled(p.plot(reps))
    p2 = sim.plan(small, max_orphans=2, replications=3, max_replications=3, workers=1)
    assert p2.recommended == p.recommended  # the same replications: the same answer
    assert p2.reason == p.reason
    sw = sim.sweep(small, {"runbook.retention_days": [10, 40]}, replications=2, workers=1, progress=False)
    _labelled(sw.plot())


def test_compare_and_report_write_their_files(small: sim.Scenario, tmp_path: Path) -> None:
    c = sim.compare(
        [small, small.with_(**{"runbook.retention_days": 90})],
        labels=["30 days", "90 days"],
        replications=3,
        workers=1,
        out=tmp_path / "cmp",
    )
    t = c.table()
    assert list(t["label"]) == ["30 days", "90 days"]
    assert (tmp_path / "cmp" / "compare.html").is_file()
    rep = sim.report(small, tmp_path / "rep", max_orphans=1000, replications=3, max_replications=3, workers=1)
    assert rep.verdict == "INCONCLUSIVE"  # 3 replications cannot show a chance below 5%, even with none exceeding
    rep = sim.report(
        small, tmp_path / "rep", max_orphans=1000, replications=72, max_replications=72, clients=100, workers=1
    )
    assert rep.verdict == "GO" and rep.judgement["exceeding"] == 0
    assert (tmp_path / "rep" / "report.html").is_file() and (tmp_path / "rep" / "at-risk-clients.csv").is_file()
