"""`lmforge select entropy` and the `select_entropy` stage share SelectConfig."""

from __future__ import annotations

import pytest

from lmforge.config import ConfigError
from lmforge.recipes.runner import check_params  # registers the stage kinds
from lmforge.select.entropy import SelectConfig
from tests.cli_config import config_of


@pytest.fixture
def files(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (tmp_path / "d.jsonl").write_text('{"prompt": "a", "response": "b"}\n')
    (tmp_path / "h.txt").write_text("one\n\ntwo\n")
    return tmp_path


def test_flag_key_value_and_stage_reach_the_sameconfig_of(files):
    out = str(files / "run" / "selection")
    common = ["--model", str(files / "m"), "--data", str(files / "d.jsonl"), "--heldout", str(files / "h.txt")]
    by_flag = config_of(["select", "entropy", *common, "--out", out, "--low", "-0.5", "--clusters", "3",
                       "--val-fraction", "0.1"])
    by_key = config_of(["select", "entropy", "low=-0.5", *common, "clusters=3", "--out", out, "val_fraction=0.1"])
    stage = check_params("select_entropy", {"model": str(files / "m"), "data": str(files / "d.jsonl"),
                                            "heldout": str(files / "h.txt"), "low": -0.5, "clusters": 3,
                                            "val_fraction": 0.1}, "stages.select", out_dir=files / "run" / "selection")
    assert isinstance(stage, SelectConfig) and by_flag == by_key == stage
    assert stage.heldout == [str(files / "h.txt")] and stage.low == -0.5


def test_heldout_text_is_one_document_per_line(files):
    cfg = SelectConfig(model=str(files / "m"), data=str(files / "d.jsonl"), heldout=[str(files / "h.txt")],
                       out=str(files / "o"))
    assert cfg.heldout_documents() == ["one", "two"]
    with pytest.raises(ValueError, match="no documents in .* at val_fraction"):
        SelectConfig(**{**cfg.model_dump(), "val_fraction": 0.001}).heldout_documents()


def test_missing_files_name_the_key(files):
    with pytest.raises(ConfigError, match="(?s)model: .*not found.*data: .*no such file"):
        config_of(["select", "entropy", "--model", str(files / "x"), "--data", str(files / "x.jsonl"),
                 "--heldout", str(files / "h.txt"), "--out", str(files / "o")])
