"""`lmforge serve`: flags and key=value reach one LaunchConfig; bad limits are clear errors."""

from __future__ import annotations

from lmforge.cli import main
from lmforge.serve.launch import LaunchConfig
from lmforge.serve.server import model_name_for
from tests.cli_config import config_of


def test_serve_flags_and_key_values_reach_the_same_config(model_dir):
    by_flag = config_of(["serve", str(model_dir), "--port", "9001", "--max-batch", "4", "--api-key", "k"])
    by_key = config_of(["serve", "port=9001", str(model_dir), "max_batch=4", "api_key=k"])
    assert by_flag == by_key == LaunchConfig(model=str(model_dir), port=9001, max_batch=4, api_key="k")
    app = by_flag.app_config()
    assert (app.model_name, app.api_key, app.max_tokens_cap) == (model_name_for(model_dir), "k", 512)


def test_serve_refuses_bad_limits_before_loading(model_dir, capsys):
    assert main(["serve", str(model_dir), "--max-batch", "0"]) == 2
    err = capsys.readouterr().err
    assert "max_batch" in err and "greater than 0" in err and "Traceback" not in err
    assert main(["serve", str(model_dir), "--dtype", "int3"]) == 2
    assert "--dtype 'int3'" in capsys.readouterr().err
