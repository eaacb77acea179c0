import pytest
import torch

from lmforge.errors import UserError
from lmforge.model.config import preset
from lmforge.model.transformer import CausalLM
from lmforge.sft.data import IGNORE, SFTBatches, encode, encode_records, to_messages
from lmforge.sft.pairs import encode_pairs
from lmforge.text import iter_jsonl
from lmforge.tokenizer.chat_template import render
from lmforge.tokenizer.core import Tokenizer

CONV = [{"role": "system", "content": "You are terse."},
        {"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"},
        {"role": "user", "content": "七十三是多少？"}, {"role": "assistant", "content": "73"},
        {"role": "user", "content": "and 2+2?"}, {"role": "assistant", "content": "4, of course."}]


def test_assistant_only_labels_match_template_and_transformers(tok_dir):
    from transformers import AutoTokenizer

    tok = Tokenizer.from_dir(tok_dir)
    ids, labels = encode(tok, CONV)
    hf = AutoTokenizer.from_pretrained(str(tok_dir))
    hf_ids = hf.apply_chat_template(CONV, tokenize=True, return_dict=True)["input_ids"]
    assert ids == list(hf_ids)
    _, mask = render(tok, CONV)
    assert [int(x != IGNORE) for x in labels] == mask
    trained = tok.tok.decode([t for t in labels if t != IGNORE], skip_special_tokens=False)
    assert trained == "2<|im_end|>73<|im_end|>4, of course.<|im_end|>"


def test_readers_and_bad_input_counted(tok_dir):
    tok = Tokenizer.from_dir(tok_dir)
    recs = [{"instruction": "Say hi", "input": "", "output": "hi"},
            {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
            {"prompt": "p", "response": "r"},
            {"messages": [{"role": "user", "content": "no answer"}]},
            {"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "y"}]},
            {"conversations": [{"from": "alien", "value": "a"}]},
            {"prompt": "long " * 200, "response": "r"}]
    assert to_messages(recs[0])[0] == {"role": "user", "content": "Say hi"}
    samples, stats = encode_records(tok, recs, max_len=64)
    assert stats["kept"] == 3 and stats["dropped (too long)"] == 1
    assert sum(v for k, v in stats.items() if k.startswith("skipped")) == 3
    _, cut = encode_records(tok, recs[-1:], max_len=64, truncation="cut")
    assert cut["cut (too long)"] == 1


def test_packing_equals_separate_samples(tok_dir):
    tok = Tokenizer.from_dir(tok_dir)
    samples, _ = encode_records(tok, [{"prompt": f"q{i} " * (i + 1), "response": f"a{i}"} for i in range(4)], 128)
    model = CausalLM(preset("tiny", vocab_size=tok.vocab_size, num_hidden_layers=2)).init_weights(0).eval()
    packed = SFTBatches(samples, batch_size=1, pack=True, seq_len=128).next_batch()
    assert packed["attention_mask"].shape[-2:] == (128, 128)
    with torch.no_grad():
        out = model(packed["input_ids"], attention_mask=packed["attention_mask"],
                    position_ids=packed["position_ids"])[0]
        at = 0
        end = int((packed["position_ids"][0] > 0).nonzero().max()) + 1
        starts = [s for s in (packed["position_ids"][0] == 0).nonzero().flatten().tolist() if s < end]
        ends = starts[1:] + [end]
        for s, e in zip(starts, ends):
            alone = model(packed["input_ids"][:, s:e])[0]
            torch.testing.assert_close(out[s:e], alone, atol=1e-4, rtol=1e-4)
            at += 1
    assert at == 4
    b = SFTBatches(samples, batch_size=2)
    state = b.state_dict()
    first = b.next_batch()
    b.load_state_dict(state)
    assert torch.equal(b.next_batch()["input_ids"], first["input_ids"])


def test_skip_reasons_are_sentences(tok_dir):
    tok = Tokenizer.from_dir(tok_dir)
    recs = [{"messages": [{"role": "user", "content": "no answer"}]},
            {"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "y"}]},
            {"conversations": [{"from": "bot", "value": "a"}]},
            {"text": "plain text, not a conversation"}]
    _, stats = encode_records(tok, recs, max_len=64)
    assert dict(stats) == {
        "skipped: no assistant turn to learn from": 1,
        "skipped: a message without a known role or without text content": 1,
        "skipped: a role other than system/user/assistant (ShareGPT: human/gpt)": 1,
        "skipped: none of the known record schemas (messages, conversations, instruction/output, "
        "prompt/response)": 1}


def test_bad_record_shapes_are_named_and_no_sample_left_is_an_error(tmp_path, tok_dir):
    tok = Tokenizer.from_dir(tok_dir)
    path = tmp_path / "in.jsonl"
    path.write_text('{"messages": "hello"}\n{"messages": [{"role": "user", "content": "hi"}, '
                    '{"role": "assistant", "content": " "}]}\n', encoding="utf-8")
    _, stats = encode_records(tok, iter_jsonl(path, strict=True), max_len=64)
    assert stats.problems == [f"{path}:1: 'messages' must be a list of message objects, got str 'hello'",
                              f"{path}:2: an empty assistant turn"]
    with pytest.raises(UserError, match="no SFT samples left to train on") as err:
        stats.report("sft data", "SFT samples", [str(path)])
    assert f"{path}:1" in str(err.value) and f"{path}:2" in str(err.value)
    pairs = [{"prompt": "1+1?", "chosen": 2, "rejected": "3"}, {"prompt": "1+1?", "chosen": "", "rejected": "3"},
             {"prompt": "1+1?", "chosen": "2"}, {"prompt": "1+1?", "chosen": "2", "rejected": "3"}]
    kept, pstats = encode_pairs(tok, pairs, max_len=64)
    assert len(kept) == 1 and pstats.problems == [
        "record 1: 'chosen' must be text or a list of messages, got int", "record 2: 'chosen' is empty",
        "record 3: no rejected"]
    # an empty rejected reply is a preference too (a reply that ends at once): kept, its one token the end
    kept, pstats = encode_pairs(tok, [{"prompt": "1+1?", "chosen": "2", "rejected": ""}], max_len=64)
    assert pstats["kept"] == 1 and not pstats.problems
    rejected, chosen = ([t for t in kept[0][k][1] if t != -100] for k in ("rejected", "chosen"))
    assert len(rejected) == 1 and rejected == chosen[-1:]  # the end-of-turn token
