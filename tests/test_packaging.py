"""Packaging: the built wheel carries the shipped recipes and the chat page, and installed on its
own (no checkout, nothing downloaded) runs the demo from another folder; lmforge imports without
any optional extra, and an optional feature used without its extra names the extra to install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from lmforge.errors import UserError
from lmforge.model import build_model, preset
from lmforge.sft.lora import add_lora

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lmforge"
SHIPPED = [PACKAGE / "recipes" / "builtin", PACKAGE / "serve" / "web"]


def _optional_packages() -> list[str]:
    """Import names of everything in an extra of pyproject.toml that the core install lacks."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def name(requirement: str) -> str:
        return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("-", "_")

    core = {name(r) for r in project["dependencies"]}
    extras = {name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    return sorted(extras - core)


def _build_wheel(dest: Path) -> Path:
    """`pip wheel` of a copy of the sources (the checkout gets no build/ folder), offline."""
    src = dest / "src"
    shutil.copytree(PACKAGE, src / "lmforge", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
           "-q", "-w", str(dest / "dist"), str(src)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = (dest / "dist").glob("lmforge-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_carries_the_shipped_recipes_and_the_chat_page(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        shipped = [p for d in SHIPPED for p in sorted(d.rglob("*")) if p.is_file()]
        assert any(p.name == "demo.yaml" for p in shipped) and any(p.suffix == ".jsonl" for p in shipped)
        for path in shipped:
            inside = path.relative_to(ROOT).as_posix()
            assert inside in names, inside
            assert z.read(inside) == path.read_bytes(), inside
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        scripts = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "lmforge = lmforge.cli:main" in scripts
    assert "Provides-Extra: lora" in meta and re.search(r"Requires-Dist: peft.*extra == \"lora\"", meta)
    assert not any(n.startswith(("tests/", "recipes/")) for n in names)


def _installed(wheel: Path, where: Path) -> Path:
    """A fresh venv holding only the wheel; its dependencies (torch, ...) are this environment's,
    on sys.path after the venv's own site-packages, so nothing is downloaded or resolved."""
    venv = where / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, timeout=300)
    site = Path(subprocess.check_output([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    # Plain paths, not site dirs: this environment's own .pth files (the editable lmforge) stay off.
    (site / "zz-lmforge-test-deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    corpus = Path(sys.prefix) / "corpus"  # the Makefile's Chinese prose, kept in the environment
    if corpus.is_dir():
        (venv / "corpus").symlink_to(corpus)
    return venv


@pytest.mark.slow
def test_installed_wheel_runs_the_tiny_demo_from_another_folder(wheel, tmp_path):
    venv = _installed(wheel, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        env["OMP_NUM_THREADS"] = "1"  # one core per xdist worker
    where = subprocess.check_output([venv / "bin" / "python", "-c", "import lmforge; print(lmforge.__file__)"],
                                    cwd=elsewhere, env=env, text=True).strip()
    assert Path(where).is_relative_to(venv), where  # the wheel's copy, not the checkout's
    out = tmp_path / "run"
    done = subprocess.run([venv / "bin" / "lmforge", "run", "demo", "scale=tiny", "--out", str(out)],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (out / "report.md").read_text(encoding="utf-8")
    recipe = re.search(r"Recipe `([^`]+)`, scale `tiny`", report)
    assert recipe and Path(recipe.group(1)).is_relative_to(venv), report[:300]
    for measure in ("pretrain validation loss", "right after DUS", "DPO reward accuracy", "GGUF (f16) written"):
        assert measure in report, measure
    assert list(elsewhere.iterdir()) == []  # nothing written into the working directory


def test_lmforge_imports_without_any_optional_package():
    """Every module imports with the extras' packages absent, as in a core install."""
    code = ("import sys, importlib, pkgutil\n"
            f"for name in {_optional_packages()!r}:\n"
            "    sys.modules[name] = None\n"
            "import lmforge\n"
            "for m in pkgutil.walk_packages(lmforge.__path__, 'lmforge.'):\n"
            "    if not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {"peft", "transformers", "openai", "wandb"} <= set(_optional_packages())


def test_lora_without_peft_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # as if peft were not installed
    model = build_model(preset("tiny", vocab_size=64, num_hidden_layers=1))
    with pytest.raises(UserError) as err:
        add_lora(model, r=2)
    assert str(err.value) == "LoRA needs peft: pip install 'lmforge[lora]'"
