"""Output files and folders (``sim.io``): a reader sees the previous files or the complete new ones, the verdict
file last; an interruption leaves no staging folder and no half-written file; a target that is not a regular
file (stdout, a device, a FIFO, a symlink) is written through or refused, never replaced; a full disk is one
line; a killed run's leftovers are removed by the next; two runs into one folder leave one complete set."""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sim.io
from sim.errors import InputError
from sim.io import check_out_dir, check_out_file, write_outputs


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


# ------------------------------------------------------------------ targets that are not regular files


def test_dash_is_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    sim.io.atomic_write_csv(pd.DataFrame({"a": [1, 2]}), "-")
    assert capsys.readouterr().out == "a\n1\n2\n"


def test_a_character_device_is_written_through_never_replaced(tmp_path: Path) -> None:
    """/dev/null itself, and a symlink to it: both stay what they were (as root, /dev/null was replaced)."""
    link = tmp_path / "null.csv"
    link.symlink_to(os.devnull)
    for target in (Path(os.devnull), link):
        sim.io.atomic_write_csv(pd.DataFrame({"a": [1]}), target)
    assert link.is_symlink() and stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null.csv"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_is_written_through_to_its_reader(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    sim.io.atomic_write_csv(pd.DataFrame({"a": [1]}), fifo)
    reader.join(timeout=10)
    assert got == ["a\n1\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_input_error_and_dev_full_stays_a_device() -> None:
    with pytest.raises(InputError, match=r"/dev/full: cannot write the file \(No space left on device\)"):
        sim.io.atomic_write_csv(pd.DataFrame({"a": range(100_000)}), "/dev/full")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_full_disk_under_an_output_folder_is_one_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sim.io.os, "fsync", full)
    with pytest.raises(InputError, match="No space left on device"):
        write_outputs(tmp_path / "rep", {"report.json": b"x"})
    with pytest.raises(InputError, match="No space left on device"):
        sim.io.atomic_write_text(tmp_path / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_to_a_file_keeps_its_link(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    sim.io.atomic_write_text(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"


def test_unusable_targets_are_refused_in_one_line(tmp_path: Path) -> None:
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match="symlink loop"):
        check_out_file(loop, "--clients-out")
    with pytest.raises(InputError, match="NUL byte"):
        check_out_file(Path("a\0b.csv"), "--out")
    with pytest.raises(InputError, match="is a folder"):
        check_out_file(tmp_path, "--out")
    sock_path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(InputError, match="is a socket"):
            sim.io.atomic_write_text(sock_path, "x")
    with pytest.raises(InputError, match="expected a folder name"):
        check_out_dir(Path(" "))


# ------------------------------------------------------------------ leftovers and concurrent runs


def test_stale_temporary_files_and_staging_folders_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    """A run killed with SIGKILL leaves its temporary file and staging folder (named with its process id,
    here one that cannot exist); the next write of the same target removes them, and leaves a live one's."""
    dead = 2**22 + 1  # above Linux's largest pid
    (tmp_path / f".out.csv.{dead}.abcd.tmp").write_text("half")
    (tmp_path / f".out.csv.{os.getpid()}.live.tmp").write_text("being written")
    sim.io.atomic_write_text(tmp_path / "out.csv", "whole\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".out.csv.{os.getpid()}.live.tmp", "out.csv"]
    (tmp_path / f".rep.staging-{dead}-xyz").mkdir()
    (tmp_path / f".rep.staging-{dead}-xyz" / "report.json").write_text("{")
    write_outputs(tmp_path / "rep", {"report.json": b"{}"})
    (tmp_path / "rep" / f".rep.staging-{dead}-abc").mkdir()
    write_outputs(tmp_path / "rep", {"report.json": b"{}"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".out.csv.{os.getpid()}.live.tmp", "out.csv", "rep"]
    assert [p.name for p in (tmp_path / "rep").iterdir()] == ["report.json"]


def test_two_runs_into_one_folder_at_once_leave_one_complete_set(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    names = [f"f{i}.txt" for i in range(12)]
    for _round in range(5):
        barrier = threading.Barrier(2)

        def writer(tag: str, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            write_outputs(out, {n: tag.encode() for n in names}, last=("f0.txt",), owned=names)

        threads = [threading.Thread(target=writer, args=(t,)) for t in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        contents = {(out / n).read_bytes() for n in names}
        assert len(contents) == 1, contents
        assert sorted(p.name for p in out.iterdir()) == sorted(names)
        assert [p.name for p in tmp_path.iterdir()] == ["rep"]
