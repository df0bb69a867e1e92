"""Output files: atomic where they can be, written through where they must be, never a trap.

Why: a run can fail or be interrupted (Ctrl-C, SIGTERM) while it writes, and a half-written CSV that looks
complete is worse than no file at all. What each kind of target gets (``atomic_open``):

- a regular file (or a name not taken yet): written to a temporary file in the target's own folder (same
  file system, so the final rename is atomic), flushed and fsynced, then ``os.replace``\\ d over the target.
  On any failure, KeyboardInterrupt and SIGTERM included, the temporary file is removed and the target is left
  as it was. A symlink to a regular file keeps its link: the file it points to is replaced.
- ``-``: standard output (where a command writes a single file).
- a character device or a FIFO (``/dev/null``, ``/dev/stdout``, a named pipe), or a symlink to one: written
  through, never replaced by a regular file. A block device or a socket is refused.
- a write that fails (a full disk, ``/dev/full``) is an ``InputError``: one line, exit 2, nothing left.

Temporary files carry the writer's process id (``.NAME.PID.XXXX.tmp``); a later write of the same target
removes those whose process is gone (a run killed with SIGKILL cannot clean up after itself).

A folder of outputs (a report, a comparison, a fleet import) is written the same way as a whole:
``write_outputs`` stages every file in a folder beside the target, then renames them into place, the file a
pipeline reads last. Commits into one folder take a lock, so two runs into the same ``--out`` at once leave
one complete set, the later one's. ``check_out_dir`` and ``check_out_file`` refuse an unusable target before
any work starts.

Every CSV written here goes through ``safe_cells``: a text cell a spreadsheet would evaluate as a formula
(one starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe; numbers
stay numbers. Client ids and group names come from inventory exports that anyone on the network can
influence, and administrators open these files in spreadsheets.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import InputError

if sys.platform != "win32":
    import fcntl

CSV_FLOAT_FORMAT = "%.6f"  # hours to 6 decimals: 3.6 ms, far below any heartbeat

STDOUT = "-"  # as an output file name: standard output


STALE_UNOWNED_SECONDS = 3600  # a temporary file without a process id (older versions) is stale after this


def is_stdout(path: str | os.PathLike[str] | None) -> bool:
    """``-`` given as an output file: write to standard output."""
    return path is not None and os.fspath(path) == STDOUT


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see the module docstring)."""
    with atomic_open(path, encoding=encoding) as f:
        f.write(text)


def atomic_write_csv(df: pd.DataFrame, path: str | os.PathLike[str], float_format: str = CSV_FLOAT_FORMAT) -> None:
    """Write ``df`` as CSV (no index, ``\\n`` line ends, NaN as an empty cell, formulas neutralised) to
    ``path`` atomically."""
    with atomic_open(path) as f:
        safe_cells(df).to_csv(f, index=False, na_rep="", float_format=float_format, lineterminator="\n")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(v: Any) -> Any:
    """A text cell a spreadsheet would evaluate (``=HYPERLINK(..)``, ``+cmd|..``, ``@SUM(..)``) as text. A
    plain number written as text (``-107.37``, hours before the start) stays a number: a spreadsheet reads it
    as one, which is harmless, and rotasim's own readers must read it back."""
    if isinstance(v, str) and v.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(v):
        return "'" + v
    return v


def safe_cells(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell neutralised (``safe_cell``); numeric columns are left as they are."""
    text = [c for c in df.columns if df[c].dtype == object or isinstance(df[c].dtype, pd.StringDtype)]
    risky = [c for c in text if df[c].map(lambda v: safe_cell(v) is not v).any()]
    renamed = {c: safe_cell(c) for c in df.columns if isinstance(c, str) and safe_cell(c) != c}
    if not risky and not renamed:
        return df
    out = df.copy()
    for c in risky:
        out[c] = out[c].map(safe_cell)
    return out.rename(columns=renamed)


def _cannot_write(path: str | os.PathLike[str], exc: OSError) -> InputError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return InputError(os.fspath(path), "", f"cannot write the file ({reason})")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], encoding: str = "utf-8", binary: bool = False) -> Iterator[Any]:
    """A file to write that replaces ``path`` only when the ``with`` block ends without an exception.

    What a target that is not a regular file gets is in the module docstring. The new file gets the mode of
    the file it replaces, or the usual mode of a new file (0666 less the umask) rather than ``mkstemp``'s
    private 0600.
    """
    if is_stdout(path):
        with _write_through_stream(binary) as f:
            yield f
        return
    target = Path(path)
    kind = output_kind(target, "output")
    if kind == "stream":
        with _write_through(target, encoding, binary) as f:
            yield f
        return
    if target.is_symlink():  # keep the link: replace the file it points to
        target = Path(os.path.realpath(target))
    folder = target.parent
    remove_stale(folder, f".{target.name}.", ".tmp")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding=encoding, newline="") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _mode_for(target))
            os.replace(tmp, target)
        except OSError as exc:
            raise _cannot_write(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(folder)


@contextlib.contextmanager
def _write_through(target: Path, encoding: str, binary: bool) -> Iterator[Any]:
    """A character device or a FIFO: opened and written as it is (a FIFO waits for its reader)."""
    try:
        with open(target, "wb") if binary else open(target, "w", encoding=encoding, newline="") as f:
            yield f
            f.flush()
    except OSError as exc:
        raise _cannot_write(target, exc) from None


@contextlib.contextmanager
def _write_through_stream(binary: bool) -> Iterator[Any]:
    stream: Any = sys.stdout.buffer if binary and hasattr(sys.stdout, "buffer") else sys.stdout
    try:
        yield stream
        stream.flush()
    except BrokenPipeError:  # the reader went away (``| head``): what it wanted, it has
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:
        raise _cannot_write(STDOUT, exc) from None


def output_kind(path: Path, option: str) -> str:
    """``"missing"``, ``"file"`` or ``"stream"`` (a character device or FIFO, also through a symlink);
    refuses a folder, a block device, a socket, a symlink loop and a name with a NUL byte."""
    text = os.fspath(path)
    if "\0" in text:
        raise InputError(option, text.replace("\0", "\\0"), "a file name cannot contain a NUL byte")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"  # a new name, or a dangling symlink (the file it names is created)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(option, text, "is a symlink loop") from None
        raise InputError(option, text, f"cannot use it ({exc.strerror or exc})") from None
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return "stream"
    what = "a folder" if stat.S_ISDIR(mode) else "a block device" if stat.S_ISBLK(mode) else "a socket"
    raise InputError(option, text, f"is {what}; expected a file name")


def check_out_file(path: Path | None, option: str) -> None:
    """Refuse an unusable output file before running, not after minutes of simulation (``-``: stdout)."""
    if path is None or is_stdout(path):
        return
    if output_kind(path, option) == "stream":
        return
    real = Path(os.path.realpath(path)) if path.is_symlink() else path
    if not real.parent.is_dir():
        raise InputError(option, str(path), f"the folder {real.parent} does not exist")
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise InputError(option, str(path), f"cannot write in {real.parent}")


_PID = re.compile(r"(\d+)[.-]")


def remove_stale(folder: Path, prefix: str, suffix: str = "") -> None:
    """Remove ``prefix<pid>...<suffix>`` files and folders in ``folder`` whose process is gone.

    Temporary files and staging folders of a run killed with SIGKILL (or one that lost power) are left
    behind; the next write of the same target removes them. One without a process id is removed when it is
    over an hour old."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(suffix)]
    except OSError:
        return
    for name in names:
        m = _PID.match(name[len(prefix) :])
        p = folder / name
        if m is not None:
            if _alive(int(m.group(1))):
                continue
        else:
            try:
                if time.time() - p.lstat().st_mtime < STALE_UNOWNED_SECONDS:
                    continue
            except OSError:
                continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or not a pid we can ask about: leave it
    return True


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
    text = os.fspath(out)
    if text.strip() == "":
        raise InputError(option, "", "expected a folder name (got an empty one)")
    if "\0" in text:
        raise InputError(option, text.replace("\0", "\\0"), "a folder name cannot contain a NUL byte")
    try:
        if out.exists() and not out.is_dir():
            raise InputError(option, str(out), "exists and is not a folder")
        p = out
        while not p.exists() and not p.is_symlink():
            p = p.parent
    except OSError as exc:  # a symlink loop on the way, a name too long
        raise InputError(option, str(out), f"cannot use it ({exc.strerror or exc})") from None
    if not p.is_dir():
        raise InputError(option, str(out), f"{p} is not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(option, str(out), f"cannot write in {p}")


def write_outputs(
    out: Path,
    files: Mapping[str, bytes],
    *,
    last: Sequence[str] = (),
    owned: Iterable[str] = (),
    check: Callable[[Path], None] | None = None,
    option: str = "--out",
) -> None:
    """Write ``files`` (name -> bytes) into ``out`` so that no reader sees a half-written file.

    Everything is first written and fsynced in a staging folder on the same file system (``check``, if given,
    then looks at the staged folder: a failure there leaves ``out`` as it was). The commit holds a lock on
    ``out``'s parent folder, so that commits into one ``out`` follow each other: a new ``out`` is one atomic
    rename of the whole folder; an existing one gets each file renamed into place, the names in ``last`` at
    the end (the verdict file a pipeline reads), and loses files of ``owned`` (earlier outputs of the same
    kind) that this run did not produce. On any interruption the staging folder is removed and ``out`` is as
    it was, save for files already renamed, each complete. A write that fails (a full disk) is one
    ``InputError``.
    """
    check_out_dir(out, option)
    parent = out.parent
    prefix = f".{out.name}.staging-"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale(parent, prefix)
        if out.is_dir():
            remove_stale(out, prefix)
        staging = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise InputError(option, str(out), f"cannot write there ({exc.strerror or exc})") from None
    try:
        try:
            for name, data in files.items():
                with open(staging / name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            for p in [staging, *staging.iterdir()]:
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        except OSError as exc:
            raise InputError(option, str(out), f"cannot write there ({exc.strerror or exc})") from None
        if check is not None:
            check(staging)
        with _locked(parent):
            try:
                _commit(staging, out, files, last, owned)
            except OSError as exc:
                raise InputError(option, str(out), f"cannot write there ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit(staging: Path, out: Path, files: Mapping[str, bytes], last: Sequence[str], owned: Iterable[str]) -> None:
    if not out.exists():
        try:
            os.rename(staging, out)
            _fsync_folder(out.parent)
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


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (``flock`` on the folder itself: no lock file left behind); where
    the platform has no ``flock``, no lock."""
    if sys.platform == "win32":  # pragma: no cover
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def csv_bytes(df: pd.DataFrame, float_format: str = "%.6g") -> bytes:
    """A table as the CSV bytes of an output folder (six significant digits unless told, ``\\n`` line ends,
    formulas neutralised)."""
    text = safe_cells(df).to_csv(index=False, na_rep="", float_format=float_format, lineterminator="\n")
    return text.encode("utf-8")
