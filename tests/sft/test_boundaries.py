"""Stage-boundary checks (issue 17 item 1, issue 16 item 3): a tokenizer that is not the model's
is refused by SFT, DPO, eval, select and pretrain, naming both folders; a vocabulary larger than
the embedding is refused; seq_len / max_len past the model's context are refused naming the key;
`--dry-run` runs the checks without training; SFT text gets the pretraining normalization."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from lmforge.cli import main
from lmforge.config import load_config
from lmforge.errors import UserError
from lmforge.eval.perplexity import PerplexityConfig, run_perplexity
from lmforge.model import build_model, preset, save_model
from lmforge.select.entropy import SelectConfig, run_select
from lmforge.sft.data import encode, encode_records, normalize_messages
from lmforge.sft.finetune import DPOConfig, SFTConfig, TunePlan, run_dpo, run_sft
from lmforge.synth.skills import number_preferences, number_skill
from lmforge.tokenizer import Tokenizer, byte_tokenizer
from lmforge.tokens.pack import pack_texts
from lmforge.train.pretrain import PretrainConfig, run_pretrain


def _jsonl(path, recs):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    return str(path)


def _yaml(path, cfg):
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _tune_cfg(tmp_path, model, out="run", max_len=64, steps=1, files=None, cls=SFTConfig):
    files = files or [_jsonl(tmp_path / "s.jsonl", number_skill(16, seed=1, numbers=range(10)))]
    return load_config(cls, _yaml(tmp_path / f"{out}.yaml", {
        "out": str(tmp_path / out), "model": str(model), "data": {"files": files, "max_len": max_len},
        "train": {"max_steps": steps, "batch_size": 4, "device": "cpu", "precision": "fp32"}}), [])


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, base_dir):
    """A model folder made by one SFT step: its lmforge.json records the tokenizer it trained with."""
    tmp = tmp_path_factory.mktemp("tuned")
    result = run_sft(_tune_cfg(tmp, base_dir))
    return result.model_dir


@pytest.fixture
def swapped(tmp_path, tuned):
    """The tuned folder with another tokenizer copied over its own (same embedding, other ids)."""
    folder = tmp_path / "swapped"
    shutil.copytree(tuned, folder)
    byte_tokenizer().save(folder)
    return folder


def test_tuned_folder_records_its_tokenizer(tuned, base_dir):
    entry = json.loads((tuned / "lmforge.json").read_text())["lineage"][-1]
    assert entry["details"]["tokenizer"]["vocab_size"] == Tokenizer.from_dir(base_dir).vocab_size
    assert entry["details"]["tokenizer"]["folder"] == str(base_dir)


@pytest.mark.parametrize("cls", [SFTConfig, DPOConfig])
def test_sft_and_dpo_refuse_a_swapped_tokenizer_naming_both(tmp_path, swapped, base_dir, cls):
    files = [_jsonl(tmp_path / "p.jsonl", number_preferences(8, seed=1, numbers=range(10)))] \
        if cls is DPOConfig else None
    cfg = _tune_cfg(tmp_path, swapped, files=files, cls=cls)
    with pytest.raises(UserError, match="was trained with tokenizer") as err:
        (run_dpo if cls is DPOConfig else run_sft)(cfg)
    assert str(base_dir) in str(err.value) and str(swapped) in str(err.value)
    assert not (tmp_path / "run").exists()  # refused before any step


def test_eval_refuses_a_swapped_tokenizer(tmp_path, swapped, base_dir):
    (tmp_path / "t.txt").write_text("Some text to score.\n", encoding="utf-8")
    cfg = PerplexityConfig(model=str(swapped), files=[str(tmp_path / "t.txt")])
    with pytest.raises(UserError, match="was trained with tokenizer") as err:
        run_perplexity(cfg)
    assert str(base_dir) in str(err.value) and str(swapped) in str(err.value)
    assert main(["eval", "perplexity", "--model", str(swapped), "--files", str(tmp_path / "t.txt")]) == 2


def test_select_refuses_a_swapped_tokenizer(tmp_path, swapped):
    data = _jsonl(tmp_path / "s.jsonl", number_skill(8, seed=1, numbers=range(10)))
    (tmp_path / "held.txt").write_text("held out text\n", encoding="utf-8")
    cfg = SelectConfig(model=str(swapped), data=data, heldout=[str(tmp_path / "held.txt")], out=str(tmp_path / "sel"))
    with pytest.raises(UserError, match="was trained with tokenizer"):
        run_select(cfg)
    assert not (tmp_path / "sel").exists()


def test_vocabulary_larger_than_the_embedding_is_refused(tmp_path, tok_dir):
    small = tmp_path / "small"
    cfg = preset("tiny", vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                 num_attention_heads=2, num_key_value_heads=1)
    save_model(build_model(cfg, seed=0), small, created_by="test", copy_from=tok_dir)  # a 600-token tokenizer
    with pytest.raises(UserError, match="embeds only 300") as err:
        run_sft(_tune_cfg(tmp_path, small))
    assert str(small) in str(err.value)


def test_pretrain_refuses_a_tokenizer_other_than_the_models_own(tmp_path, base_dir):
    tok = tmp_path / "bytes"
    byte_tokenizer().save(tok)
    pack_texts({"en": ["Some English text for packing. " * 20] * 8}, byte_tokenizer(), tmp_path / "data")
    cfg = PretrainConfig(out=str(tmp_path / "run"), model={"path": str(base_dir)}, tokenizer=str(tok),
                         data={"path": str(tmp_path / "data")}, train={"max_steps": 1, "seq_len": 32})
    with pytest.raises(UserError, match="is not the model's own tokenizer") as err:
        run_pretrain(cfg)
    assert str(tok) in str(err.value) and str(base_dir) in str(err.value)


def test_pretrain_seq_len_past_the_context_is_refused(tmp_path):
    tok = tmp_path / "bytes"
    byte_tokenizer().save(tok)
    pack_texts({"en": ["Some English text for packing. " * 80] * 8}, byte_tokenizer(), tmp_path / "data")
    cfg = PretrainConfig(out=str(tmp_path / "run"), tokenizer=str(tok), data={"path": str(tmp_path / "data")},
                         model={"preset": "tiny", "max_position_embeddings": 128, "hidden_size": 32,
                                "intermediate_size": 64, "num_hidden_layers": 1},
                         train={"max_steps": 1, "seq_len": 256, "batch_size": 2})
    with pytest.raises(UserError, match="train.seq_len 256 is longer than the context .*max_position_embeddings 128"):
        run_pretrain(cfg)
    assert not (tmp_path / "run").exists()


def test_sft_max_len_past_the_context_is_refused(tmp_path, base_dir):
    context = json.loads((base_dir / "config.json").read_text())["max_position_embeddings"]
    with pytest.raises(UserError, match=f"data.max_len {context + 1} is longer than the context"):
        run_sft(_tune_cfg(tmp_path, base_dir, max_len=context + 1))


def test_sft_dry_run_checks_without_training(tmp_path, base_dir, capsys):
    cfg = _tune_cfg(tmp_path, base_dir)
    path = _yaml(tmp_path / "dry.yaml", {**cfg.model_dump(exclude={"lora"}), "dry_run": True})
    assert main(["sft", str(path)]) == 0
    out = capsys.readouterr().out
    assert "checked: model 2 layers" in out and "data 16 kept" in out
    assert not (tmp_path / "run").exists()
    plan = run_sft(cfg.model_copy(update={"dry_run": True}))
    assert isinstance(plan, TunePlan) and plan.stats["kept"] == 16


def test_dry_run_flag_reaches_the_config_and_catches_a_bad_context(tmp_path, base_dir):
    cfg = _tune_cfg(tmp_path, base_dir, max_len=100_000)
    path = _yaml(tmp_path / "bad.yaml", cfg.model_dump(exclude={"lora"}))
    assert main(["sft", str(path), "--dry-run"]) == 2  # the same check, no training
    assert not (tmp_path / "run").exists()


def test_sft_text_gets_the_pretraining_normalization(tok_dir):
    tok = Tokenizer.from_dir(tok_dir)
    msgs = [{"role": "user", "content": "今天天气很好，我们去公园散步吧！ＡＢＣ１２３"},
            {"role": "assistant", "content": "好的！"}]
    kept = normalize_messages(msgs, "nfkc-cjk")
    assert kept[0]["content"] == "今天天气很好，我们去公园散步吧！ABC123"  # full-width letters folded, marks kept
    assert normalize_messages(msgs, "nfkc")[0]["content"] == "今天天气很好,我们去公园散步吧!ABC123"
    assert normalize_messages(msgs, "none") == msgs
    rec = {"messages": msgs}
    samples, _ = encode_records(tok, [rec], 256, how="nfkc-cjk")
    assert samples[0] == encode(tok, kept)
    assert samples[0] != encode(tok, msgs)


def test_sft_default_normalization_matches_the_default_cleaning():
    assert SFTConfig.model_fields["data"].annotation.model_fields["normalize"].default == "nfkc-cjk"


def test_pretrain_dry_run_checks_and_reports_without_training(tmp_path, capsys):
    tok = tmp_path / "bytes"
    byte_tokenizer().save(tok)
    pack_texts({"en": ["Some English text for packing. " * 40] * 8}, byte_tokenizer(), tmp_path / "data")
    path = _yaml(tmp_path / "p.yaml", {
        "out": str(tmp_path / "run"), "tokenizer": str(tok), "data": {"path": str(tmp_path / "data")},
        "model": {"preset": "tiny", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1},
        "train": {"max_steps": 1, "seq_len": 64, "batch_size": 2}})
    assert main(["pretrain", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "checked: model 1 layers" in out and "en " in out and "GiB on one GPU" in out
    assert not (tmp_path / "run").exists()
    assert main(["pretrain", str(path), "--dry-run", "train.seq_len=100000"]) == 2
