"""Outputs written atomically (a temp file or folder beside the target, then one rename), and
output paths checked before any work starts, with errors that name the path."""

from __future__ import annotations

import json
import os
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


@contextmanager
def atomic_dir(out: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside `out`; on success it replaces `out` in one rename, on failure
    it is removed and `out` is left as it was. `out` is checked first (check_output_path)."""
    out = check_output_path(out, "dir")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
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
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
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
    `make_parents`), the folder it goes in is not writable, or the name is invalid. Creates nothing."""
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
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"{path}: cannot write {what}: folder {base} is not writable")
    return path
