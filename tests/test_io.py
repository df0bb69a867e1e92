"""Atomic output folders (``sim.io.write_outputs``): a reader sees the previous files or the complete new ones,
the verdict file last; an interruption leaves no staging folder and no half-written file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import sim.io
from sim.errors import InputError
from sim.io import check_out_dir, write_outputs


def test_write_outputs_fresh_folder_and_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "new" / "rep"
    write_outputs(out, {"a.txt": b"A", "report.json": b"{}"}, last=("report.json",))
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "report.json"]
    (out / "manager-load.png").write_bytes(b"old")
    write_outputs(
        out,
        {"a.txt": b"A2", "report.json": b"{1}"},
        last=("report.json",),
        owned=("a.txt", "report.json", "manager-load.png"),
    )
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "report.json"]  # the stale figure is gone
    assert (out / "a.txt").read_bytes() == b"A2"
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["rep"]  # no staging folder left


def test_interrupted_write_leaves_the_previous_verdict_and_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "rep"
    write_outputs(out, {"report.html": b"old page", "report.json": b"old verdict"}, last=("report.json",))
    calls = {"n": 0}
    real = os.replace

    def interrupted(a: Any, b: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real(a, b)

    monkeypatch.setattr(sim.io.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(
            out,
            {"report.html": b"new page", "report.md": b"new md", "report.json": b"new verdict"},
            last=("report.json",),
        )
    assert (out / "report.json").read_bytes() == b"old verdict"  # written last: never reached
    assert (out / "report.html").read_bytes() == b"new page"  # complete, renamed before the interruption
    assert not (out / "report.md").exists()
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json"]  # no staging left


def test_interrupted_write_of_a_new_folder_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.io.os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(tmp_path / "rep", {"report.json": b"x"})
    assert list(tmp_path.iterdir()) == []


def test_out_must_be_a_folder(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        check_out_dir(f)
    with pytest.raises(InputError, match="not a folder"):
        check_out_dir(f / "sub")


def test_input_errors_and_warnings_survive_pickling_from_a_worker() -> None:
    """An InputError raised in a pool worker must reach the CLI as itself (one line, exit 2), not break the pool."""
    import pickle

    from sim.errors import InputError, InputWarning

    for cls in (InputError, InputWarning):
        e = pickle.loads(pickle.dumps(cls("clients.csv", "line 3, group", "unknown group 'x'")))
        assert type(e) is cls and (e.source, e.location, e.message) == (
            "clients.csv",
            "line 3, group",
            "unknown group 'x'",
        )
        assert str(e) == "clients.csv: line 3, group: unknown group 'x'"
