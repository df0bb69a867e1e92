"""The notebooks and the API page: stored without outputs, run top to bottom on the public API, examples that run.

Why: notebooks rot silently (an API renamed, a column gone) unless something runs them. Each notebook is run
in a fresh Jupyter kernel of this very interpreter (a kernel spec written for the test, so a user's own
``python3`` kernel elsewhere on the machine cannot stand in), from ``notebooks/`` as Jupyter itself would, on
the small fleets the notebooks choose. How long they take is measured by benchmarks/bench_notebooks.py, not
asserted here: a wall-clock limit fails on a busy machine without anything being wrong.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest

import sim

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402 - nbclient's dependency, present if it is

ROOT = Path(__file__).parent.parent
NOTEBOOKS = ROOT / "notebooks"
API_DOC = ROOT / "docs" / "api.md"
EXPECTED = {
    "01-quick-start.ipynb",
    "02-procedures-compared.ipynb",
    "03-retention-or-wait-for-an-imported-fleet.ipynb",
    "04-sensitivity.ipynb",
    "06-track-a-rotation.ipynb",
}
# What each notebook's text claims, checked on its own variables by a cell the test appends (never stored in the
# notebook): a model change that makes the prose wrong fails here instead of misleading a reader.
CLAIMS = {
    "06-track-a-rotation.ipynb": """
assert week1.verdict == "NO-GO" and week2.verdict == "NO-GO"
assert week1.forecast.orphans_if(week1.forecast.tracked.now).mean() > week1.forecast.orphans.mean()
assert week2.forecast.replications == 80 and week2.record["earliest_go"] is not None
assert week2.record["time_away"]["returned"] > 0
assert (by_date["day"].diff().dropna() > 0).all()
assert week3.forecast.tracked.decisive is None and len(week3.needs_repair) > 0
assert len(scores) == 2 and (scores["without_final_observed"] == 27).all()
""",
    "01-quick-start.ipynb": """
assert r.orphaned > 0 and set(r.orphaned_by_cause) == {"retired-before-return"}
assert r.trust.loc[r.trust["time_hours"] < 24 * 30, "share_trusting_new"].max() == 0  # nobody before sepm3's update
assert r.trust["share_trusting_new"].iloc[-1] > 0.95
assert r90.orphaned < r.orphaned and len(saved) == r.orphaned - r90.orphaned
assert reps.n == 10 and len(reps.runs) == 10
""",
    "02-procedures-compared.ipynb": """
assert all(r.clients[who].equals(first) for r in runs.values())
live = (runs["naive"].clients["outcome"] != "gone").sum()
assert runs["naive"].orphaned == live == runs["naive"].orphaned_by_cause["no-failover-target"]
assert set(runs["kb-single-server"].orphaned_by_cause) <= {"offline-through-window", "wait-too-short"}
assert set(runs["kb-multi-server"].orphaned_by_cause) == {"retired-before-return", "unsupported-version"}
c = runs["kb-multi-server"].clients
assert set(c.loc[c["cause"] == "unsupported-version", "version"]) == {"14.2"}
assert len(single & multi) > 0
kb_lost = runs["kb-multi-server"].orphaned_by_cause["unsupported-version"]
live_14_2 = c[(c["version"] == "14.2") & (c["outcome"] != "gone")]
assert (live_14_2["outcome"] == "orphaned").all()  # the KB's reading: every 14.2 client that is not gone is lost
hopeful_lost = sim.simulate(hopeful, seed=SEED).orphaned_by_cause.get("unsupported-version", 0)
no_restart_run = sim.simulate(no_restart, seed=SEED).orphaned_by_cause["unsupported-version"]
assert hopeful_lost < kb_lost and no_restart_run > 3 * hopeful_lost
assert list(table.index) == ["kb-single-server", "kb-multi-server", "naive"]
assert table.loc["kb-multi-server", "orphaned_mean"] < table.loc["kb-single-server", "orphaned_mean"]
""",
    "03-retention-or-wait-for-an-imported-fleet.ipynb": """
assert fit["rows"]["clients"] == 40
assert plan_multi.recommended is None and "unsupported-version" in plan_multi.blocking_causes
assert risk.index.get_level_values("version")[0].startswith("14.2")
assert plan_upgraded.recommended is not None and 0 < plan_upgraded.recommended < 90
assert plan_single.recommended is not None and plan_single.recommended > 168
assert not OUT.exists()  # the temporary folder was removed
""",
    "04-sensitivity.ipynb": """
assert set(oat["parameter"].iloc[:3]) == {
    "runbook.retention_days", "fleet.presence.leave.rate_per_year", "fleet.presence.leave.duration_days.median"
}
assert set(oat["parameter"].iloc[-2:]) == {"groups.0.heartbeat_minutes", "fleet.jitter"}
assert oat.loc[oat["parameter"] == "runbook.retention_days", "change at high"].item() < 0
assert sobol_sample is not None and len(Y) == 128 * 5
assert (sobol["ST"] > 0).all()
""",
}


def _paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _code(cell: dict) -> str:
    """A code cell's source as Python: IPython magics and shell lines commented out."""
    return "\n".join("# " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in cell["source"].splitlines())


def test_the_four_notebooks_exist() -> None:
    assert {p.name for p in _paths()} >= EXPECTED


@pytest.mark.parametrize("path", _paths(), ids=lambda p: p.stem)
def test_stored_without_outputs_with_a_title_and_a_question(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook with no code"
    for c in code:
        assert c.outputs == [], f"outputs stored in cell {c.get('id')}"
        assert c.execution_count is None, f"execution count stored in cell {c.get('id')}"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the first cell is the title"
    assert "**Question.**" in first.source, "the first cell says what question the notebook answers"
    # short markdown between the steps: no long run of code cells without a word
    run = longest = 0
    for c in nb.cells:
        run = run + 1 if c.cell_type == "code" else 0
        longest = max(longest, run)
    assert longest <= 3


@pytest.mark.parametrize("path", _paths(), ids=lambda p: p.stem)
def test_uses_only_the_public_api(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    public = set(sim.__all__)
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        tree = ast.parse(_code(c))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    assert not a.name.startswith("sim."), f"{path.name} imports {a.name}"
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sim":
                assert node.module == "sim", f"{path.name} imports from {node.module}"
                assert all(a.name in public for a in node.names), f"{path.name}: from sim import non-public name"
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sim":
                assert node.attr in public, f"{path.name} uses sim.{node.attr}, not in sim.__all__"


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data folder whose ``python3`` kernel is this interpreter (first on JUPYTER_PATH)."""
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "rotasim test", "language": "python"}))
    return folder


@pytest.mark.parametrize("path", _paths(), ids=lambda p: p.stem)
def test_runs_top_to_bottom(path: Path, kernel_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets the debugger's warning on frozen modules
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CLAIMS.get(path.name, "pass")))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        startup_timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # where Jupyter runs it: relative paths as for a user
    )
    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:  # the cell and its traceback, readable
        pytest.fail(f"{path.name}: a cell failed:\n{exc}")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook shows its figures"
    drawn_as_text = [
        o for o in outputs if o.get("data", {}).get("text/plain", "").startswith("<Figure") and o not in images
    ]
    assert not drawn_as_text, "a figure printed as '<Figure size ...>' instead of drawn (%matplotlib inline?)"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_api_page_documents_every_public_name() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    for name in sim.__all__:
        assert f"`{name}" in text, f"docs/api.md does not mention {name}"
    for method in ("with_", "plot_trust", "plot_curve", "orphans_by", "curve", "table", "statement", "verdict"):
        assert method in text


def test_api_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/api.md, in order, in one namespace, in a folder holding the scenarios
    (so files the examples write land in a temporary folder)."""
    blocks = _python_blocks(API_DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    for folder in ("scenarios", "tests"):  # the shipped scenarios, and the sample inventory export
        (tmp_path / folder).symlink_to(ROOT / folder, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    ns: dict[str, object] = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/api.md block {i + 1}", "exec"), ns)  # noqa: S102 - our own documentation
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"docs/api.md example {i + 1} failed: {exc!r}\n{block}")
    # the examples' promises hold
    longer, base = ns["longer"], ns["sc"]
    assert longer.runbook.retention_days == 90 and base.runbook.retention_days == 30  # type: ignore[attr-defined]
    assert ns["rep"].verdict in ("GO", "NO-GO", "INCONCLUSIVE")  # type: ignore[attr-defined]
    assert (tmp_path / "report" / "report.json").is_file()
    assert list(ns["cmp"].table()["label"]) == ["multi-server", "single-server"]  # type: ignore[attr-defined]
    assert (tmp_path / "myfleet" / "scenario.yaml").is_file()
