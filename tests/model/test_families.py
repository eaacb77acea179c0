"""The bases a team starts from (Llama-2, Mistral, Llama-3.1, Qwen2.5, Qwen3): a stand-in of each
family's real config.json loads in lmforge with transformers' logits, trains a step, saves, and
the saved folder loads in transformers with the same logits; rope scaling (linear, dynamic NTK,
YaRN, llama3) computes what transformers computes."""

from __future__ import annotations

import json

import pytest
import torch

from lmforge.errors import UserError
from lmforge.model import load_model, save_model
from lmforge.model.cache import KVCache
from lmforge.model.flops import param_count
from lmforge.model.generate import SamplingParams, generate
from lmforge.model.io import ModelFolderError, load_config
from lmforge.model.source import ModelSource
from lmforge.model.transformer import document_mask
from tests.cli_config import config_of
from tests.model.families import REAL_CONFIGS, TINY_VOCAB, tiny_config, write_standin

transformers = pytest.importorskip("transformers")

ATOL = 1e-4
HF_CLASS = {"llama2": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "llama3": "LlamaForCausalLM",
            "qwen2.5": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
# what each family's structure must become in lmforge's config
STRUCTURE = {
    "llama2": dict(qkv_bias=False, qk_norm=False, sliding_window=None, rope_scaling=None),
    "mistral": dict(qkv_bias=False, qk_norm=False, sliding_window=4096, rope_scaling=None),
    "llama3": dict(qkv_bias=False, qk_norm=False, sliding_window=None),
    "qwen2.5": dict(qkv_bias=True, qk_norm=False, sliding_window=None, rope_scaling=None),
    "qwen3": dict(qkv_bias=False, qk_norm=True, sliding_window=None, rope_scaling=None, head_dim=32),
}


def _ids(b: int = 2, t: int = 24) -> torch.Tensor:
    return torch.randint(0, TINY_VOCAB, (b, t), generator=torch.Generator().manual_seed(1))


def _positions(start: int, b: int = 2, t: int = 24) -> torch.Tensor:
    return torch.arange(start, start + t).expand(b, t)


def _max_diff(ours, hf_dir, starts=(0, 3000, 60000)) -> float:
    """Largest |logit difference| between our model and transformers' load of `hf_dir`, over
    batches placed at the given first positions (far ones make every rope scaling count)."""
    ref = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    ids, worst = _ids(), 0.0
    with torch.no_grad():
        for start in starts:
            pos = _positions(start)
            worst = max(worst, (ours(ids, position_ids=pos) - ref(ids, position_ids=pos).logits).abs().max().item())
    return worst


def test_tiny_configs_keep_each_familys_structure():
    for family, real in REAL_CONFIGS.items():
        tiny = tiny_config(family)
        assert set(tiny) == set(real), family
        for key in ("model_type", "rope_scaling", "rope_theta", "tie_word_embeddings", "sliding_window",
                    "max_position_embeddings", "rms_norm_eps", "use_sliding_window"):
            assert tiny.get(key) == real.get(key), (family, key)
        real_group = real["num_attention_heads"] // real["num_key_value_heads"]
        assert tiny["num_attention_heads"] // tiny["num_key_value_heads"] == real_group
        assert tiny["hidden_size"] < 300 and tiny["vocab_size"] == TINY_VOCAB
    qwen3 = tiny_config("qwen3")  # explicit head_dim that hidden/heads would get wrong
    assert qwen3["head_dim"] != qwen3["hidden_size"] // qwen3["num_attention_heads"]


@pytest.mark.peer
@pytest.mark.parametrize("family", list(REAL_CONFIGS))
def test_family_loads_trains_saves_and_matches_transformers(tmp_path, family):
    base = write_standin(family, tmp_path / "base")
    model = load_model(base)
    cfg = model.config
    for key, want in STRUCTURE[family].items():
        assert getattr(cfg, key) == want, (family, key)
    assert _max_diff(model, base) < ATOL

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = model(_ids(), labels=_ids())
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any("q_norm" in k for k in changed) == (family == "qwen3")
    model.eval()

    out = save_model(model, tmp_path / "trained", created_by="test", parent=base)
    saved = json.loads((out / "config.json").read_text())
    assert saved["architectures"] == [HF_CLASS[family]]
    real_rope = REAL_CONFIGS[family].get("rope_scaling")
    if real_rope:
        assert {k: saved["rope_scaling"][k] for k in real_rope} == real_rope
    if family == "mistral":
        assert saved["sliding_window"] == 4096
    assert _max_diff(model, out) < ATOL
    back = load_config(out)  # and it reads back as the same shape (head_dim now written out)
    assert back.model_dump(exclude={"head_dim"}) == cfg.model_dump(exclude={"head_dim"})
    assert back.head_size == cfg.head_size


@pytest.mark.peer
@pytest.mark.parametrize("family,scaling", [
    ("llama2", {"type": "linear", "factor": 4}),
    ("llama2", {"type": "dynamic", "factor": 4}),
    ("llama2", {"type": "yarn", "factor": 4}),
    ("mistral", {"rope_type": "yarn", "factor": 8, "beta_fast": 16, "attention_factor": 1.2}),
    ("qwen2.5", {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}),
    ("qwen3", {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}),
    ("llama2", {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}),
])
def test_rope_scaling_saved_in_transformers_form_gives_the_same_logits(tmp_path, family, scaling):
    """Context extension asked for when continuing (a folder plus `rope_scaling.*` overrides),
    saved as transformers' rope_scaling, read by transformers with the same logits."""
    base = write_standin(family, tmp_path / "base")
    source = ModelSource.model_validate({"path": str(base), "rope_scaling": scaling})
    model = source.build()
    kind = scaling.get("rope_type", scaling.get("type"))
    assert model.config.rope_scaling.rope_type == kind
    out = save_model(model, tmp_path / "extended", created_by="test", parent=base)
    saved = json.loads((out / "config.json").read_text())["rope_scaling"]
    assert saved["rope_type"] == saved["type"] == kind and saved["factor"] == scaling["factor"]
    original = scaling.get("original_max_position_embeddings", REAL_CONFIGS[family]["max_position_embeddings"])
    if kind != "dynamic":
        assert saved["original_max_position_embeddings"] == original
        assert model.config.max_position_embeddings == int(scaling["factor"] * original)
    else:  # dynamic NTK starts growing the base at max_position_embeddings: it must stay
        assert model.config.max_position_embeddings == REAL_CONFIGS[family]["max_position_embeddings"]
    assert _max_diff(model, out) < ATOL
    plain = load_model(base)
    with torch.no_grad():  # and the scaling is not a no-op at long range
        far = _positions(60000)
        assert (plain(_ids(), position_ids=far) - model(_ids(), position_ids=far)).abs().max() > 1e-3


@pytest.mark.peer
def test_sliding_window_matches_transformers_and_the_kv_cache(tmp_path):
    base = write_standin("mistral", tmp_path / "m", sliding_window=8)
    model = load_model(base)
    assert model.config.sliding_window == 8
    assert _max_diff(model, base, starts=(0,)) < ATOL
    ids = _ids(1, 20)
    with torch.no_grad():
        full = model(ids)
        cache = KVCache(model.config.num_hidden_layers)
        steps = [model(ids[:, :5], cache=cache)] + [model(ids[:, i:i + 1], cache=cache) for i in range(5, 20)]
        no_window = load_model(base, overrides={"sliding_window": None})(ids)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=ATOL, rtol=0)
    assert (no_window[:, 8:] - full[:, 8:]).abs().max() > 1e-3  # the window is applied


def test_a_folder_takes_context_overrides_only(tmp_path):
    base = write_standin("llama2", tmp_path / "m")
    with pytest.raises(ValueError, match="hidden_size"):
        ModelSource.model_validate({"path": str(base), "hidden_size": 8})
    cfg = ModelSource.model_validate({"path": str(base), "rope_scaling": {"type": "yarn", "factor": 2}}).config()
    assert cfg.rope_scaling.original_max_position_embeddings == 4096 and cfg.max_position_embeddings == 8192
    with pytest.raises(UserError, match="rope_scaling"):
        ModelSource.model_validate({"path": str(base), "rope_scaling": {"type": "ntk", "factor": 2}}).config()


@pytest.mark.parametrize("change,message", [
    ({"model_type": "qwen2", "use_sliding_window": True}, "use_sliding_window"),
    ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, "low_freq_factor"),
    ({"rope_scaling": {"rope_type": "longrope", "factor": 8.0}}, "rope_scaling"),
    ({"partial_rotary_factor": 0.5}, "partial_rotary_factor"),
])
def test_what_lmforge_cannot_express_is_refused_naming_the_key(tmp_path, change, message):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**tiny_config("llama2"), **change}))
    with pytest.raises(ModelFolderError, match=message):
        load_config(folder)


def test_transformers5_rope_parameters_are_read(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    d = tiny_config("llama3")
    d["rope_parameters"] = {**d.pop("rope_scaling"), "rope_theta": d.pop("rope_theta")}
    (folder / "config.json").write_text(json.dumps(d))
    cfg = load_config(folder)
    assert cfg.rope_theta == 500000.0 and cfg.rope_scaling.rope_type == "llama3"
    assert cfg.rope_scaling.original_max_position_embeddings == 8192


@pytest.mark.peer
@pytest.mark.parametrize("family", ["mistral", "llama3", "qwen3"])  # llama/qwen2 are in test_generate
def test_batched_greedy_generation_matches_transformers(tmp_path, family):
    """The serving path (KV cache, left-padded batch) gives transformers' greedy tokens; Mistral's
    window is shrunk to 8 so generation runs past it."""
    base = write_standin(family, tmp_path / "m", **({"sliding_window": 8} if family == "mistral" else {}))
    model = load_model(base)
    ref = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    prompts = [_ids(1, 6)[0].tolist(), _ids(1, 11)[0].tolist()]
    eos = model.config.eos_token_id
    ours = generate(model, prompts, SamplingParams(max_new_tokens=12, stop_token_ids=[eos]))
    for prompt, got in zip(prompts, ours):
        with torch.no_grad():
            out = ref.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False,
                               eos_token_id=eos, pad_token_id=eos)
        assert got == out[0, len(prompt):].tolist()


def test_continuing_with_yarn_from_the_command_line(tmp_path):
    """`lmforge pretrain run.yaml model.rope_scaling.type=yarn model.rope_scaling.factor=4`
    continues the folder with YaRN over 4x its context."""
    base = write_standin("qwen3", tmp_path / "m")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text("{}")
    (tmp_path / "run.yaml").write_text(f"model: {{from: {base}}}\ndata: {{path: {tmp_path / 'data'}}}\n")
    cfg = config_of(["pretrain", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "out"),
                     "model.rope_scaling.type=yarn", "model.rope_scaling.factor=4"])
    shape = cfg.model.config()
    assert shape.rope_scaling.rope_type == "yarn" and shape.rope_scaling.factor == 4.0
    assert shape.rope_scaling.original_max_position_embeddings == 40960
    assert shape.max_position_embeddings == 4 * 40960
    assert cfg.model.build().config == shape


def test_sliding_window_document_mask_same_for_flex_and_sdpa():
    """Packed documents under a sliding window: the FlexAttention mask (CUDA path) equals the
    boolean SDPA mask (CPU path) element by element."""
    flex_attention = pytest.importorskip("torch.nn.attention.flex_attention")
    docs = torch.tensor([[0] * 5 + [1] * 7 + [2] * 4, [0] * 16])
    dense = document_mask(docs, flex=False, window=3)
    block = document_mask(docs, flex=True, window=3)
    assert torch.equal(flex_attention.create_mask(block.mask_mod, 2, 1, 16, 16, device="cpu"), dense)
    row = dense[0, 0, 10].tolist()  # query 10 (document 1) sees keys 8, 9, 10 only
    assert [i for i, seen in enumerate(row) if seen] == [8, 9, 10]


@pytest.mark.parametrize("family", list(REAL_CONFIGS))
def test_parameter_count_formula_counts_every_tensor(tmp_path, family):
    folder = write_standin(family, tmp_path / "m")
    model = load_model(folder)
    assert param_count(model.config) == model.num_parameters()
