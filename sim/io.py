"""Atomic output files: a reader sees the old file or the complete new one, never half of one.

Why: a run can fail or be interrupted (Ctrl-C) while it writes, and a half-written CSV that looks complete is
worse than no file at all. Each helper writes to a temporary file in the target's own folder (same file
system, so the final rename is atomic), flushes and fsyncs it, then ``os.replace``\\ s it over the target. On
any failure, KeyboardInterrupt included, the temporary file is removed and the target is left as it was.

A folder of outputs (a report, a comparison) is written the same way as a whole: ``write_outputs`` stages
every file in a folder beside the target, then renames them into place, the file a pipeline reads last.
``check_out_dir`` refuses an unusable folder before any work starts.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import InputError

CSV_FLOAT_FORMAT = "%.6f"  # hours to 6 decimals: 3.6 ms, far below any heartbeat


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see the module docstring)."""
    with atomic_open(path, encoding=encoding) as f:
        f.write(text)


def atomic_write_csv(df: pd.DataFrame, path: str | os.PathLike[str], float_format: str = CSV_FLOAT_FORMAT) -> None:
    """Write ``df`` as CSV (no index, ``\\n`` line ends, NaN as an empty cell) to ``path`` atomically."""
    with atomic_open(path) as f:
        df.to_csv(f, index=False, na_rep="", float_format=float_format, lineterminator="\n")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], encoding: str = "utf-8", binary: bool = False) -> Iterator[Any]:
    """A text file to write that replaces ``path`` only when the ``with`` block ends without an exception.

    The new file gets the mode of the file it replaces, or the usual mode of a new file (0666 less the umask)
    rather than ``mkstemp``'s private 0600.
    """
    target = Path(path)
    folder = target.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(folder)


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)  # the only portable way to read it; set straight back
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; best effort (not every platform can open a folder)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """CSV or Parquet by the file's suffix, atomically."""
    target = Path(path)
    if target.suffix.lower() not in (".parquet", ".pq"):
        atomic_write_csv(df, target)
        return
    with atomic_open(target, binary=True) as f:
        df.to_parquet(f, index=False)


def jsonable(v: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, NaN and infinities as null, tables as lists of rows."""
    if isinstance(v, pd.DataFrame):
        return [jsonable(r) for r in v.to_dict(orient="records")]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def dumps(obj: Any) -> str:
    """Indented, strict JSON (any JSON reader accepts it) of ``jsonable(obj)``."""
    return json.dumps(jsonable(obj), indent=2, allow_nan=False)


def check_out_dir(out: Path, option: str = "--out") -> None:
    """Refuse an unusable output folder before any simulation runs."""
    if out.exists() and not out.is_dir():
        raise InputError(option, str(out), "exists and is not a folder")
    p = out
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        raise InputError(option, str(out), f"{p} is not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(option, str(out), f"cannot write in {p}")


def write_outputs(
    out: Path, files: Mapping[str, bytes], *, last: Sequence[str] = (), owned: Iterable[str] = ()
) -> None:
    """Write ``files`` (name -> bytes) into ``out`` so that no reader sees a half-written file.

    Everything is first written and fsynced in a staging folder on the same file system. A new ``out`` is
    then one atomic rename of the whole folder; an existing one gets each file renamed into place, the names
    in ``last`` at the end (the verdict file a pipeline reads), and loses files of ``owned`` (earlier
    outputs of the same kind) that this run did not produce. On any interruption the staging folder is
    removed and ``out`` is as it was, save for files already renamed, each complete.
    """
    check_out_dir(out)
    fresh = not out.exists()
    parent = out.parent if fresh else out
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=parent))
    try:
        for name, data in files.items():
            with open(staging / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for p in [staging, *staging.iterdir()]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        if fresh:
            try:
                os.rename(staging, out)
                _fsync_folder(parent)
                return
            except OSError:
                out.mkdir(parents=True, exist_ok=True)  # created meanwhile: fall back to file by file
        order = [n for n in files if n not in last] + [n for n in last if n in files]
        for name in order:
            os.replace(staging / name, out / name)
        for name in owned:
            if name not in files:
                with contextlib.suppress(FileNotFoundError):
                    (out / name).unlink()
        _fsync_folder(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """A table as the CSV bytes of a report's or comparison's folder (six significant digits, ``\\n`` line ends)."""
    return df.to_csv(index=False, na_rep="", float_format="%.6g", lineterminator="\n").encode("utf-8")
