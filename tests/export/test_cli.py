"""`lmforge export gguf`: flags, key=value and the `export_gguf` stage reach one GGUFConfig, and
the verb writes the library's file."""

from __future__ import annotations

import gguf
import pytest

from lmforge.cli import main
from lmforge.export.gguf import GGUFConfig, export_gguf
from lmforge.recipes.runner import check_params  # registers the stage kinds
from tests.cli_config import config_of


def test_type_flag_key_value_and_stage_reach_the_same_field(model_dir, tmp_path):
    out = str(tmp_path / "m.gguf")
    by_flag = config_of(["export", "gguf", "--model", str(model_dir), "--out", out, "--type", "q8_0"])
    by_key = config_of(["export", "gguf", "type=q8_0", "--model", str(model_dir), "out=" + out])
    assert by_flag == by_key == GGUFConfig(model=str(model_dir), out=out, type="q8_0")
    staged = check_params("export_gguf", {"model": str(model_dir), "type": "q8_0"}, "stages.g", out_dir=tmp_path)
    assert staged.model_copy(update={"out": out}) == by_flag


def test_verb_writes_the_library_file(model_dir, tmp_path, capsys):
    assert main(["export", "gguf", "--model", str(model_dir), "--out", str(tmp_path / "cli.gguf"),
                 "--type", "q8_0"]) == 0
    assert "q8_0" in capsys.readouterr().out
    lib = export_gguf(model_dir, tmp_path / "lib.gguf", "q8_0")
    a, b = gguf.GGUFReader(tmp_path / "cli.gguf"), gguf.GGUFReader(lib)
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    assert all((x.data == y.data).all() for x, y in zip(a.tensors, b.tensors))


def test_bad_type_is_one_clear_line(model_dir, tmp_path, capsys):
    argv = ["export", "gguf", "--model", str(model_dir), "--out", str(tmp_path / "x.gguf")]
    with pytest.raises(SystemExit):  # argparse knows the choices of --type
        main(argv + ["--type", "q4"])
    assert "invalid choice: 'q4'" in capsys.readouterr().err
    assert main(argv + ["type=q4"]) == 2
    err = capsys.readouterr().err
    assert "'f32', 'f16' or 'q8_0'" in err and "Traceback" not in err
    assert not (tmp_path / "x.gguf").exists()
