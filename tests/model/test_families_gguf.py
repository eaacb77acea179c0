"""GGUF export of the family stand-ins writes what llama.cpp's converter (convert_hf_to_gguf.py)
writes for those families: the qwen3 architecture with per-head q/k norm tensors
(`blk.N.attn_q_norm.weight`), `{arch}.rope.scaling.type/factor/original_context_length` for
linear and YaRN, and Llama 3's frequency divisors as the `rope_freqs.weight` tensor."""

from __future__ import annotations

import shutil

import gguf
import numpy as np
import pytest
import torch

from lmforge.errors import UserError
from lmforge.export.gguf import export_gguf
from lmforge.model import load_model, save_model
from lmforge.model.source import ModelSource
from lmforge.tokenizer.train import train_tokenizer
from tests.export.conftest import TEXTS
from tests.model.families import write_standin

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(TEXTS, vocab_size=300, out_dir=out, chat_template="chatml")
    return out


def _standin(tmp_path, family, tokenizer_dir, rope_scaling=None):
    folder = write_standin(family, tmp_path / family)
    for f in tokenizer_dir.iterdir():
        shutil.copy2(f, folder / f.name)
    if rope_scaling is None:
        return folder
    model = ModelSource.model_validate({"path": str(folder), "rope_scaling": rope_scaling}).build()
    return save_model(model, tmp_path / f"{family}-scaled", created_by="test", copy_from=folder)


def _read(folder, tmp_path):
    reader = gguf.GGUFReader(export_gguf(folder, tmp_path / "m.gguf", "f32"))
    fields = {k: f.contents() for k, f in reader.fields.items()}
    tensors = {t.name: np.array(t.data) for t in reader.tensors}
    return fields, tensors


def test_llama3_exports_rope_freqs_as_llama_cpp_does(tmp_path, tokenizer_dir):
    folder = _standin(tmp_path, "llama3", tokenizer_dir)
    fields, tensors = _read(folder, tmp_path)
    assert fields["general.architecture"] == "llama"
    assert "llama.rope.scaling.type" not in fields  # the converter ships the tensor instead
    assert fields["llama.rope.freq_base"] == pytest.approx(500000.0)
    ref = transformers.AutoModelForCausalLM.from_pretrained(folder)
    rope = ref.model.rotary_emb
    plain = 1.0 / (500000.0 ** (torch.arange(0, 16, 2).float() / 16))
    divisors = (plain / rope.inv_freq).numpy()  # transformers' llama3 frequencies as divisors
    np.testing.assert_allclose(tensors["rope_freqs.weight"], divisors, rtol=1e-5)
    assert divisors.max() == pytest.approx(8.0) and divisors.min() == pytest.approx(1.0)


def test_qwen3_exports_q_k_norms_unpermuted(tmp_path, tokenizer_dir):
    folder = _standin(tmp_path, "qwen3", tokenizer_dir)
    fields, tensors = _read(folder, tmp_path)
    model = load_model(folder)
    attn = model.model.layers[1].self_attn
    assert fields["general.architecture"] == "qwen3"
    assert fields["qwen3.attention.key_length"] == 32 == fields["qwen3.rope.dimension_count"]
    np.testing.assert_array_equal(tensors["blk.1.attn_q_norm.weight"], attn.q_norm.weight.detach().numpy())
    np.testing.assert_array_equal(tensors["blk.1.attn_k_norm.weight"], attn.k_norm.weight.detach().numpy())
    # qwen3 is NEOX rope in llama.cpp: the rotate-half layout is kept, no Q/K permutation
    np.testing.assert_array_equal(tensors["blk.1.attn_q.weight"], attn.q_proj.weight.detach().numpy())


@pytest.mark.parametrize("family,scaling,arch", [
    ("qwen2.5", {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}, "qwen2"),
    ("llama2", {"type": "linear", "factor": 2.0}, "llama"),
])
def test_rope_scaling_keys(tmp_path, tokenizer_dir, family, scaling, arch):
    folder = _standin(tmp_path, family, tokenizer_dir, scaling)
    fields, _ = _read(folder, tmp_path)
    assert fields["general.architecture"] == arch
    assert fields[f"{arch}.rope.scaling.type"] == scaling["type"]
    assert fields[f"{arch}.rope.scaling.factor"] == pytest.approx(scaling["factor"])
    if scaling["type"] == "yarn":
        assert fields[f"{arch}.rope.scaling.original_context_length"] == 32768
        assert fields[f"{arch}.context_length"] == 4 * 32768


def test_dynamic_ntk_is_refused_for_llama_cpp(tmp_path, tokenizer_dir):
    folder = _standin(tmp_path, "llama2", tokenizer_dir, {"type": "dynamic", "factor": 2.0})
    with pytest.raises(UserError, match="dynamic"):
        export_gguf(folder, tmp_path / "m.gguf", "f32")
