from __future__ import annotations

import json

import pytest
import torch

from lmforge.model import ModelFolderError, build_model, load_model, preset, save_model
from lmforge.model.flops import flops_per_token, param_count


def test_roundtrip_and_lineage(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "a", created_by="test init", details={"seed": 0})
    loaded = load_model(tmp_path / "a")
    for (k, v), (k2, v2) in zip(tiny_model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    save_model(loaded, tmp_path / "b", created_by="test child", parent=tmp_path / "a")
    lineage = json.loads((tmp_path / "b" / "lmforge.json").read_text())["lineage"]
    assert [x["created_by"] for x in lineage] == ["test init", "test child"]
    assert json.loads((tmp_path / "b" / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]


def test_sharded_save_loads(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "s", created_by="test", shard_bytes=20_000)
    index = json.loads((tmp_path / "s" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    ids = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(load_model(tmp_path / "s")(ids), tiny_model(ids))


def test_overwrite_is_atomic_and_leaves_no_temp(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m", created_by="one")
    with pytest.raises(RuntimeError):
        from lmforge.model import io

        with io.atomic_dir(tmp_path / "m") as tmp:
            (tmp / "partial").write_text("x")
            raise RuntimeError("killed mid-write")
    assert load_model(tmp_path / "m") is not None  # old folder intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_truncated_safetensors_is_a_clear_error(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m", created_by="test")
    f = tmp_path / "m" / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ModelFolderError, match="model.safetensors.*(corrupted|truncated)"):
        load_model(tmp_path / "m")


def test_wrong_type_in_config(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m", created_by="test")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["hidden_size"] = "wide"
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match="(?s)config.json.*hidden_size"):
        load_model(tmp_path / "m")


def test_shape_mismatch_names_tensor(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m", created_by="test")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["intermediate_size"] += 8
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match="gate_proj.weight has shape"):
        load_model(tmp_path / "m")


def test_missing_folder_and_unsupported_arch(tmp_path, tiny_model):
    with pytest.raises(ModelFolderError, match="not found"):
        load_model(tmp_path / "nope")
    save_model(tiny_model, tmp_path / "m", created_by="test")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["model_type"] = "gpt2"
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match="unsupported model_type 'gpt2'"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("name,billions", [("llama2-7b", 6.74), ("mistral-7b", 7.24),
                                            ("solar-10.7b", 10.7)])
def test_preset_parameter_counts(name, billions):
    assert param_count(preset(name)) == pytest.approx(billions * 1e9, rel=0.005)


def test_param_count_formula_matches_module():
    for kw in ({}, {"tie_word_embeddings": True}, {"qkv_bias": True}):
        cfg = preset("tiny", **kw)
        assert param_count(cfg) == build_model(cfg).num_parameters()
    assert flops_per_token(preset("tiny"), 256) > 6 * param_count(preset("tiny")) * 0.5


def test_deepnorm_folder_needs_lmforge(tmp_path):
    cfg = preset("tiny", deepnorm=True, hidden_act="gelu")
    model = build_model(cfg).eval()
    save_model(model, tmp_path / "d", created_by="test")
    assert json.loads((tmp_path / "d" / "config.json").read_text())["model_type"] == "lmforge"
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(load_model(tmp_path / "d")(ids), model(ids))


def test_unknown_preset_lists_valid():
    with pytest.raises(ValueError, match="valid presets: tiny, demo"):
        preset("huge")


def test_corrupted_header_and_missing_weights_name_the_file(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m", created_by="test")
    f = tmp_path / "m" / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[8:24] = b"\x00garbage-header"  # header JSON no longer parses
    f.write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match="model.safetensors: corrupted"):
        load_model(tmp_path / "m")
    f.unlink()
    with pytest.raises(ModelFolderError, match="no model.safetensors"):
        load_model(tmp_path / "m")
    save_model(tiny_model, tmp_path / "s", created_by="test", shard_bytes=20_000)
    shard = sorted((tmp_path / "s").glob("model-*.safetensors"))[1]
    shard.unlink()
    with pytest.raises(ModelFolderError, match=f"index.json: shard.*{shard.name}"):
        load_model(tmp_path / "s")
    (tmp_path / "s" / "config.json").unlink()
    with pytest.raises(ModelFolderError, match="config.json: file not found"):
        load_model(tmp_path / "s")
