"""`lmforge rm|rl`: a flag, its key=value and the recipe stage's field reach the same config field;
user errors exit 2 naming the key."""

import json

from lmforge.cli import main
from lmforge.recipes.runner import check_params  # registers the kinds
from lmforge.rl.reward_model import RMConfig
from lmforge.rl.run import RLConfig
from tests.cli_config import config_of


def _rl_yaml(tmp_path, base_dir):
    (tmp_path / "p.jsonl").write_text(json.dumps({"prompt": "2+2?", "answer": "#### 4"}) + "\n")
    path = tmp_path / "rl.yaml"
    path.write_text(f"out: {tmp_path / 'out'}\nmodel: {base_dir}\nprompts:\n  files: [{tmp_path / 'p.jsonl'}]\n"
                    "rewards:\n  - {kind: numeric}\n  - {kind: regex, pattern: '####', weight: 0.1}\n")
    return str(path)


def test_rl_flag_override_and_stage_agree(tmp_path, base_dir):
    path = _rl_yaml(tmp_path, base_dir)
    by_flag = config_of(["rl", path, "--model", str(base_dir), "grpo.group=8", "train.batch_size=16"])
    by_override = config_of(["rl", f"model={base_dir}", "grpo.group=8", path, "train.batch_size=16"])
    assert by_flag == by_override and by_flag.grpo.group == 8 and by_flag.rewards[1].weight == 0.1
    spec = {k: v for k, v in by_flag.model_dump().items() if k != "out"}
    staged = check_params("rl", spec, "stages.rl", out_dir=tmp_path / "run")
    assert isinstance(staged, RLConfig)
    assert staged.grpo == by_flag.grpo and staged.rewards == by_flag.rewards


def test_rm_override_reaches_the_stage(tmp_path, base_dir):
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"prompt": "a", "chosen": "b", "rejected": "c"}) + "\n")
    path = tmp_path / "rm.yaml"
    path.write_text(f"out: {tmp_path / 'out'}\nmodel: {base_dir}\ndata:\n  files: [{tmp_path / 'pairs.jsonl'}]\n")
    cfg = config_of(["rm", str(path), "rm.margin=true", "data.heldout_fraction=0.2"])
    assert cfg.rm.margin is True and cfg.data.heldout_fraction == 0.2
    staged = check_params("rm", {k: v for k, v in cfg.model_dump().items() if k != "out"}, "stages.rm",
                          out_dir=tmp_path / "run")
    assert isinstance(staged, RMConfig) and staged.rm == cfg.rm


def test_rl_bad_group_is_a_clear_error(tmp_path, base_dir, capsys):
    assert main(["rl", _rl_yaml(tmp_path, base_dir), "grpo.group=3"]) == 2
    err = capsys.readouterr().err
    assert "multiple of grpo.group" in err and "Traceback" not in err
