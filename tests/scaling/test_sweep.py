import json

import pytest

from lmforge.cli import main
from lmforge.scaling.fit import fit_chinchilla, read_points
from lmforge.scaling.sweep import RunOutcome, SweepConfig, run_sweep, size_overrides, sweep_grid


def fake_data(tmp_path, vocab=512):
    folder = tmp_path / "packed"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"vocab_size": vocab, "dtype": "uint16", "sources": {}}))
    return folder


def base_config(data):
    return {"model": {"preset": "tiny"}, "data": {"path": str(data)},
            "train": {"batch_size": 2, "seq_len": 16, "device": "cpu"}}


def law_runner(calls):
    """Loss from a known Chinchilla law; records each run config."""
    def run(cfg):
        calls.append(cfg)
        h, L = cfg.model.overrides()["hidden_size"], cfg.model.overrides()["num_hidden_layers"]
        n = 12 * L * h * h
        d = cfg.train.max_steps * cfg.train.batch_size * cfg.train.seq_len
        loss = 1.5 + 400 / n ** 0.35 + 300 / d ** 0.3
        return RunOutcome(d, loss, loss - 0.01)
    return run


def test_size_knob():
    s = size_overrides(4)
    assert s["hidden_size"] == 256 and s["num_attention_heads"] == 4 and s["intermediate_size"] % 32 == 0
    with pytest.raises(ValueError, match="depth must be >= 1"):
        size_overrides(0)


def test_sweep_grid_rows_and_resume(tmp_path):
    data = fake_data(tmp_path)
    calls = []
    out = tmp_path / "sweep"
    csv_path = sweep_grid(base_config(data), [1, 2], [320, 640, 1280], out, runner=law_runner(calls))
    assert len(calls) == 6
    assert calls[0].train.max_steps == 10 and calls[0].out == str(out / "runs" / "d1-t320")
    pts = read_points(csv_path)
    assert len(pts["N"]) == 6 and (pts["C"] > 6 * pts["N"] * pts["D"]).all()  # + lm_head, attention
    best = read_points(csv_path, loss_column="best_val_loss")
    assert (best["loss"] < pts["loss"]).all()

    # Resuming: finished points are skipped, new ones appended.
    calls.clear()
    sweep_grid(base_config(data), [1, 2, 3], [320, 640, 1280], out, runner=law_runner(calls))
    assert [c.out.rsplit("/", 1)[1] for c in calls] == ["d3-t320", "d3-t640", "d3-t1280"]
    pts = read_points(csv_path)
    assert len(pts["N"]) == 9
    fit_chinchilla(pts["N"], pts["D"], pts["loss"])  # enough points to fit


def test_sweep_real_trainer_one_point(tmp_path):
    """One real point end to end: packed byte-level data -> trainer -> CSV row."""
    from lmforge.tokens.pack import pack_texts
    from lmforge.tokenizer import byte_tokenizer

    tok = byte_tokenizer()
    docs = [f"sentence {i} about scaling laws and tokens. " * 4 for i in range(60)]
    data = pack_texts({"en": docs}, tok, tmp_path / "packed", val_fraction=0.1)
    cfg = base_config(data)
    cfg["train"].update(seq_len=32, eval_batches=2)
    csv_path = sweep_grid(cfg, [1], [192], tmp_path / "sweep", aspect=32, head_dim=32)
    pts = read_points(csv_path)
    assert pts["D"][0] == 192 and 0 < pts["loss"][0] < 10


def test_sweep_cli_needs_preset(tmp_path, capsys):
    cfg = tmp_path / "base.yaml"
    cfg.write_text(f"model:\n  from: {tmp_path}\ndata:\n  path: {tmp_path}\n")
    assert main(["scaling", "sweep", str(cfg), "--depths", "1", "--tokens", "100",
                 "--out", str(tmp_path / "s")]) == 2
    assert "model.preset is required" in capsys.readouterr().err


def test_sweep_config_from_cli_file_and_settings(tmp_path):
    """Comma lists or repeated values, the base file with `pretrain.*` over it, one SweepConfig."""
    from tests.cli_config import config_of

    data = fake_data(tmp_path)
    base = tmp_path / "base.yaml"
    base.write_text(json.dumps(base_config(data)))
    argv = ["scaling", "sweep", str(base), "--depths", "1,2", "--tokens", "3.2e2", "640", "--out",
            str(tmp_path / "s"), "pretrain.train.batch_size=4"]
    cfg = config_of(argv)
    same = SweepConfig(base=str(base), depths=[1, 2], tokens=[320, 640], out=str(tmp_path / "s"),
                       pretrain={"train": {"batch_size": 4}})
    assert cfg == same
    settings = cfg.settings()
    assert settings["train"] == {**base_config(data)["train"], "batch_size": 4}
    calls = []
    run_sweep(cfg, runner=law_runner(calls))
    assert len(calls) == 4 and {c.train.batch_size for c in calls} == {4}
