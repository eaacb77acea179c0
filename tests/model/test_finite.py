"""NaN/Inf weights are refused by `lmforge generate` and `lmforge export gguf`, naming the tensor."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lmforge.cli import main
from lmforge.model import load_model, save_model
from lmforge.model.finite import NonFiniteWeightsError, check_finite
from tests.export.conftest import model_dir  # noqa: F401  (fixture)

BAD_TENSOR = "model.layers.1.mlp.down_proj.weight"


def planted(model_dir: Path, out: Path, value: float) -> Path:  # noqa: F811
    """A copy of `model_dir` (tokenizer included) with one weight set to `value`."""
    model = load_model(model_dir)
    with torch.no_grad():
        model.get_parameter(BAD_TENSOR)[3, 5] = value
    return save_model(model, out, created_by="test", copy_from=model_dir)


def test_check_finite_names_every_bad_tensor_and_counts():
    good, bad = torch.ones(4), torch.tensor([1.0, float("nan"), float("inf"), float("-inf")])
    check_finite([("a", good), ("ids", torch.arange(3))], "m")
    with pytest.raises(NonFiniteWeightsError, match=r"^m: weights are not finite .*: b: 1 NaN and 2 "
                                                    r"infinite of 4 values \(float32\); c: "):
        check_finite([("a", good), ("b", bad), ("c", bad.half())], "m")
    with pytest.raises(NonFiniteWeightsError, match="w4: .*; and 2 more tensors$"):
        check_finite([(f"w{i}", bad) for i in range(7)], "m")


def test_generate_refuses_nan_weights(model_dir, tmp_path, capsys):  # noqa: F811
    assert main(["generate", str(model_dir), "--prompt", "hello", "--max-new-tokens", "2"]) == 0
    folder = planted(model_dir, tmp_path / "nan", float("nan"))
    capsys.readouterr()
    assert main(["generate", str(folder), "--prompt", "hello", "--max-new-tokens", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: weights are not finite" in err and f"{BAD_TENSOR}: 1 NaN and 0 infinite" in err
    assert "Traceback" not in err


def test_export_gguf_refuses_inf_weights_and_writes_nothing(model_dir, tmp_path, capsys):  # noqa: F811
    folder = planted(model_dir, tmp_path / "inf", float("inf"))
    out = tmp_path / "out"
    assert main(["export", "gguf", "--model", str(folder), "--out", str(out / "m.gguf")]) == 2
    err = capsys.readouterr().err
    assert f"{BAD_TENSOR}: 0 NaN and 1 infinite" in err and "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []
    assert main(["export", "gguf", "--model", str(model_dir), "--out", str(out / "m.gguf")]) == 0


def test_values_whose_sum_overflows_are_still_finite():
    big = torch.full((4,), 6e4, dtype=torch.float16)  # sums past float16's 65504, each value finite
    assert not torch.isfinite(big.sum())
    check_finite([("big", big)], "m")
    with pytest.raises(NonFiniteWeightsError, match="big: 1 NaN and 0 infinite of 5 values"):
        check_finite([("big", torch.cat([big, torch.tensor([float("nan")], dtype=torch.float16)]))], "m")
