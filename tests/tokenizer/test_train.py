from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lmforge.tokenizer import TokenizerError
from lmforge.tokenizer.chat_template import render, set_chat_template
from lmforge.tokenizer.train import train_tokenizer

transformers = pytest.importorskip("transformers")

CONVERSATION = [
    {"role": "system", "content": "你是一个乐于助人的助手。"},
    {"role": "user", "content": "What is 7 x 8?"},
    {"role": "assistant", "content": "7 x 8 = 56."},
    {"role": "user", "content": "用中文写出 73。"},
    {"role": "assistant", "content": "七十三"},
    {"role": "user", "content": "Thanks!"},
    {"role": "assistant", "content": "不客气 🙂"},
]


@pytest.mark.peer
@pytest.mark.parametrize("kind", ["bytelevel-bpe", "sentencepiece-bpe", "sentencepiece-unigram", "wordpiece",
                                  "unigram"])
def test_transformers_encodes_identically(trained, kind, mixed_text):
    tok, folder = trained[kind]
    hf = transformers.AutoTokenizer.from_pretrained(folder)
    assert hf.encode(mixed_text, add_special_tokens=False) == tok.encode(mixed_text)
    assert hf.eos_token == "</s>" and hf.convert_tokens_to_ids("</s>") == tok.eos_id


@pytest.mark.parametrize("kind", ["bytelevel-bpe", "sentencepiece-bpe"])
def test_lossless_kinds_round_trip_mixed_text(trained, kind, mixed_text):
    tok, _ = trained[kind]
    assert tok.decode(tok.encode(mixed_text)) == mixed_text


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
@example("<s>")  # hypothesis found it: a special token's text inside user text
@example("hi<|im_end|>你好")
def test_bytelevel_round_trip_any_unicode(trained, text):
    tok, _ = trained["bytelevel-bpe"]
    ids = tok.encode(text)
    # special-token strings in raw text become those tokens (as in transformers), which the
    # default decode drops; keeping them, every text comes back exactly
    assert tok.decode(ids, skip_special_tokens=False) == text
    specials = [t for t in tok.tok.get_added_tokens_decoder().values() if t.special]
    if not any(t.content in text for t in specials):
        assert tok.decode(ids) == text


def test_digits_split_and_pretokenizer_recorded(trained):
    tok, _ = trained["bytelevel-bpe"]
    pieces = [tok.tok.id_to_token(i) for i in tok.encode("2024")]
    assert pieces == ["2", "0", "2", "4"] and tok.config["lmforge_pretokenizer"] == "qwen2"


@pytest.mark.peer
@pytest.mark.parametrize("template", ["chatml", "solar"])
def test_chat_template_matches_transformers_and_masks_assistant(trained, tmp_path, template):
    tok, _ = trained["bytelevel-bpe"]
    set_chat_template(tok, template)
    tok.save(tmp_path)
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    ids, mask = render(tok, CONVERSATION)
    theirs = hf.apply_chat_template(CONVERSATION, tokenize=True)
    assert ids == list(theirs["input_ids"] if hasattr(theirs, "keys") else theirs)
    trained_text = tok.decode([i for i, m in zip(ids, mask) if m], skip_special_tokens=False)
    end = "<|im_end|>" if template == "chatml" else "</s>"
    assert trained_text == f"7 x 8 = 56.{end}七十三{end}不客气 🙂{end}"
    gen_ids, _ = render(tok, CONVERSATION[:2], add_generation_prompt=True)
    theirs = hf.apply_chat_template(CONVERSATION[:2], tokenize=True, add_generation_prompt=True)
    assert gen_ids == list(theirs["input_ids"] if hasattr(theirs, "keys") else theirs)


def test_training_errors_are_clear(tmp_path, corpus_texts):
    with pytest.raises(TokenizerError, match="empty"):
        train_tokenizer([], 1000, tmp_path / "a")
    with pytest.raises(TokenizerError, match="smaller than the byte alphabet"):
        train_tokenizer(corpus_texts[:5], 100, tmp_path / "b")
    with pytest.raises(TokenizerError, match="unigram training failed: The vocabulary is not large enough"):
        train_tokenizer([t for t in corpus_texts if "子曰" in t], 50, tmp_path / "d", "unigram")
    with pytest.raises(TokenizerError, match="sentencepiece training failed.*smaller"):
        train_tokenizer([t for t in corpus_texts if "子曰" in t], 50, tmp_path / "e", "sentencepiece-bpe")
    with pytest.raises(TokenizerError, match="unknown tokenizer type"):
        train_tokenizer(corpus_texts[:5], 1000, tmp_path / "c", "bpe-ish")


def test_unreadable_input_names_the_file(tmp_path):
    from lmforge.data.read import DataError
    from lmforge.tokenizer.train import read_training_texts

    with pytest.raises(DataError, match="nope.txt: no such file"):
        train_tokenizer(read_training_texts([str(tmp_path / "nope.txt")]), 1000, tmp_path / "a")
    (tmp_path / "x.docx").write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match="x.docx: unknown file type"):
        train_tokenizer(read_training_texts([str(tmp_path / "x.docx")]), 1000, tmp_path / "b")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00 not utf-8")
    with pytest.raises(TokenizerError, match="empty"):  # the only file skipped: nothing to train on
        train_tokenizer(read_training_texts([str(tmp_path / "bad.txt")]), 1000, tmp_path / "c")


def test_stats_per_language_round_trip_and_overlap(tmp_path, trained, corpus_texts, capsys):
    import json

    from lmforge.cli import main

    zh = [t for t in corpus_texts if "子曰" in t][:5]
    en = [t for t in corpus_texts if t.isascii()][:5]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in zh + en))
    bpe, wordpiece = trained["bytelevel-bpe"][1], trained["wordpiece"][1]
    assert main(["tokenizer", "stats", str(bpe), "--input", str(data), "--compare", str(wordpiece),
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    this = r["this"]
    assert this["zh"]["documents"] == 5 and this["en"]["documents"] == 5
    assert this["zh"]["round_trip_exact"] == 1.0 and this["en"]["round_trip_exact"] == 1.0
    assert this["zh"]["unk_rate"] == 0 and 0 < this["zh"]["tokens_per_cjk_char"] < 1.5
    assert this["en"]["chars_per_token"] > 2 and this["en"]["tokens_per_cjk_char"] is None
    assert 0 < r["vocab_overlap"]["jaccard"] < 1 and set(r["token_ratio_vs_compare"]) == {"zh", "en"}
    assert main(["tokenizer", "stats", str(bpe), "--input", str(data)]) == 0
    table = capsys.readouterr().out
    assert "chars_per_token" in table and "| this" in table


def test_smaller_vocabulary_than_asked_warns_with_the_reason(tmp_path, capsys):
    from lmforge.tokenizer.train import train_tokenizer

    tok = train_tokenizer(["tiny text, tiny text."] * 20, 8000, tmp_path / "tok")
    err = capsys.readouterr().err
    assert tok.vocab_size < 8000
    assert f"{tok.vocab_size:,} tokens, fewer than the vocab_size 8,000" in err and "more text" in err


def test_full_vocabulary_does_not_warn(tmp_path, capsys, mixed_text):
    from lmforge.tokenizer.train import train_tokenizer

    tok = train_tokenizer([mixed_text] * 50, 300, tmp_path / "tok")
    assert tok.vocab_size >= 300 and "fewer than the vocab_size" not in capsys.readouterr().err


def test_a_failed_training_leaves_out_as_it_was(tmp_path):
    with pytest.raises(TokenizerError, match="^in.jsonl: the training corpus is empty"):
        train_tokenizer([], 300, tmp_path / "new", source="in.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no folder, no temp folder
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "tokenizer.json").write_text("previous")
    with pytest.raises(TokenizerError, match="empty"):
        train_tokenizer([""], 300, tmp_path / "old")
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert (tmp_path / "old" / "tokenizer.json").read_text() == "previous"
