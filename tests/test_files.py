"""Atomic writes leave the old output or the new one, never a half-written file or a temp file;
output paths are checked before work starts, with errors naming the path."""

from __future__ import annotations

import json
import os

import pytest

from lmforge.errors import UserError
from lmforge.files import atomic_dir, atomic_write_json, atomic_write_text, check_output_path


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "out.json"
    atomic_write_json(p, {"a": "中文"})
    assert json.loads(p.read_text("utf-8")) == {"a": "中文"} and "中文" in p.read_text("utf-8")
    atomic_write_text(p, "new")
    assert p.read_text() == "new" and os.listdir(tmp_path) == ["out.json"]


def test_failed_atomic_write_keeps_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / "out.json"
    p.write_text("old")
    with pytest.raises(TypeError):
        atomic_write_json(p, {"x": object()})
    from lmforge.files import atomic_open

    with pytest.raises(RuntimeError), atomic_open(p) as f:
        f.write("half of the new content")
        raise RuntimeError("killed mid-write")
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["out.json"]


def test_failed_atomic_dir_keeps_the_old_folder_and_no_temp(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("second")
        raise RuntimeError("boom")
    assert (out / "a.txt").read_text() == "first" and os.listdir(tmp_path) == ["model"]
    with atomic_dir(out) as tmp:
        (tmp / "b.txt").write_text("replaced")
    assert os.listdir(out) == ["b.txt"] and os.listdir(tmp_path) == ["model"]


def test_check_output_path_names_the_problem(tmp_path, monkeypatch):
    f = tmp_path / "file.txt"
    f.write_text("x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(UserError, match="file.txt: output must be a folder, but a file is there"):
        check_output_path(f, "dir")
    with pytest.raises(UserError, match="folder: --out must be a file, but a folder is there"):
        check_output_path(tmp_path / "folder", "file", what="--out")
    with pytest.raises(UserError, match=f"cannot create output: {f} is a file, not a folder"):
        check_output_path(f / "sub" / "out", "dir")
    with pytest.raises(UserError, match="folder .*missing.* does not exist"):
        check_output_path(tmp_path / "missing" / "out.json", "file", make_parents=False)
    with pytest.raises(UserError, match="already exists"):
        check_output_path(f, "file", exist_ok=False)
    with pytest.raises(UserError, match="longer than"):
        check_output_path(tmp_path / ("x" * 300), "file")
    with pytest.raises(UserError, match="not a valid path"):
        check_output_path("a\x00b", "file")
    monkeypatch.setattr("lmforge.files.os.access", lambda path, mode: False)  # tests run as root
    with pytest.raises(UserError, match=f"folder {tmp_path} is not writable"):
        check_output_path(tmp_path / "new", "dir")
    monkeypatch.undo()
    assert check_output_path(tmp_path / "a" / "b", "dir") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checking creates nothing


def test_atomic_dir_refuses_to_replace_a_file(tmp_path):
    f = tmp_path / "taken"
    f.write_text("precious")
    with pytest.raises(UserError, match="must be a folder"), atomic_dir(f):
        pass
    assert f.read_text() == "precious" and os.listdir(tmp_path) == ["taken"]
