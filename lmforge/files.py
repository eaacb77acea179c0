"""Outputs written atomically (a temp file or folder beside the target, then one rename), and
output paths checked before any work starts, with errors that name the path."""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Literal

from lmforge.errors import UserError


def _fsync_tree(root: Path) -> None:
    for f in root.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_prefix(path: Path) -> str:
    """Temp names carry the writer's pid, so a later writer can clear what a killed one left."""
    return f".{path.name}.tmp-{os.getpid()}-"


def clear_stale_temps(path: Path) -> None:
    """Remove the temp files/folders a killed writer of `path` left beside it (their pid is gone)."""
    if not path.parent.is_dir():
        return
    for p in path.parent.glob(f".{glob.escape(path.name)}.tmp-*-*"):
        pid = p.name[len(path.name) + 6:].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def temp_path(path: str | Path) -> Path:
    """An unused temp name beside `path` for a writer that opens the file itself (rename it over
    `path` when done); the temps of killed writers of `path` are cleared first."""
    path = Path(path)
    clear_stale_temps(path)
    return path.parent / f"{_temp_prefix(path)}{secrets.token_hex(4)}"


@contextmanager
def atomic_dir(out: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside `out`; on success it replaces `out` in one rename, on failure
    it is removed and `out` is left as it was. `out` is checked first (check_output_path)."""
    out = check_output_path(out, "dir")
    out.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_temps(out)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(out), dir=out.parent))
    try:
        yield tmp
        _fsync_tree(tmp)
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_open(path: str | Path, mode: Literal["w", "wb"] = "w",
                encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temp file beside `path` for writing; on success it replaces `path` (os.replace),
    on failure it is removed and `path` is left as it was."""
    path = check_output_path(path, "file")
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_temps(path)
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding) as f:
        f.write(text)
    return Path(path)


def atomic_write_json(path: str | Path, value: Any, indent: int | None = 2) -> Path:
    """JSON (UTF-8, Chinese kept readable) written atomically; the value is serialised before
    the file is touched, so an unserialisable value leaves no trace."""
    return atomic_write_text(path, json.dumps(value, indent=indent, ensure_ascii=False) + "\n")


def _nearest_existing(path: Path) -> Path:
    p = path
    while not os.path.exists(p) and p != p.parent:  # os.path.exists: False for a too-long name
        p = p.parent
    return p


def _check_existing(path: Path, kind: str, what: str, exist_ok: bool) -> None:
    if not os.path.lexists(path):
        return
    if not exist_ok:
        raise UserError(f"{path}: {what} already exists; choose another path or remove it")
    if kind == "dir" and not path.is_dir():
        raise UserError(f"{path}: {what} must be a folder, but a file is there")
    if kind == "file" and path.is_dir():
        raise UserError(f"{path}: {what} must be a file, but a folder is there")


def _check_names(path: Path, base: Path, what: str) -> None:
    name_max = os.pathconf(base, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    for part in path.relative_to(base).parts:
        if len(os.fsencode(part)) > name_max:
            raise UserError(f"{path}: {what} name {part[:40]!r}... is longer than {name_max} bytes")


def check_output_path(path: str | Path, kind: Literal["dir", "file"] = "dir", what: str = "output",
                      exist_ok: bool = True, make_parents: bool = True) -> Path:
    """Raise a UserError naming `path` when a `kind` output cannot be written there: it exists as
    the other kind (or exists at all, unless `exist_ok`), a parent is a file or missing (unless
    `make_parents`), the folder it goes in is not writable, or the name is invalid. Leaves nothing behind."""
    raw = str(path)
    if not raw.strip() or "\x00" in raw:
        raise UserError(f"{what} path {raw!r} is not a valid path")
    path = Path(path).expanduser()
    base = _nearest_existing(path.parent)
    _check_names(path, base, what)
    _check_existing(path, kind, what, exist_ok)
    if not base.is_dir():
        raise UserError(f"{path}: cannot create {what}: {base} is a file, not a folder")
    if base != path.parent and not make_parents:
        raise UserError(f"{path}: cannot create {what}: folder {path.parent} does not exist")
    if not os.access(base, os.W_OK | os.X_OK) or not _can_create_in(base):
        raise UserError(f"{path}: cannot write {what}: folder {base} is not writable")
    return path


def _can_create_in(folder: Path) -> bool:
    """Whether a file can really be made in `folder` (os.access says yes to root on a read-only
    or virtual file system); the probe file is removed at once."""
    try:
        fd, name = tempfile.mkstemp(prefix=".lmforge-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def read_json(path: str | Path, what: str = "JSON file", error: type[UserError] = UserError,
              expect: type = dict) -> Any:
    """A JSON file's value, or `error` naming the file and where it is broken: missing, not
    UTF-8, invalid or too deeply nested JSON, or a top-level value that is not an `expect`."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise error(f"{path}:{e.lineno}: invalid JSON in {what} ({e.msg} at column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: {what} is not UTF-8 (byte {e.start})") from None
    except RecursionError:
        raise error(f"{path}: {what} is nested too deeply") from None
    if not isinstance(value, expect):
        raise error(f"{path}: {what} must hold a JSON {'object' if expect is dict else expect.__name__}, "
                    f"not {type(value).__name__}")
    return value
