"""The `transcript` stage: skill examples, first- vs second-turn exact match, chats whose history
is the model's own replies."""

import pytest

from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.eval.answers import exact_match
from lmforge.eval.generation import chat_answers
from lmforge.model.loader import load_for_inference
from lmforge.recipes.kinds import StageContext
from lmforge.recipes.stages.transcript import TranscriptParams, transcript
from lmforge.synth.skills import number_skill, two_turn_test
from tests.sft.conftest import base_dir, tok_dir  # noqa: F401


def _jsonl(path, recs) -> str:
    write_jsonl_atomic(path, recs)
    return str(path)


def test_transcript_scores_both_turns_and_keeps_the_models_replies(tmp_path, base_dir):  # noqa: F811
    loaded = load_for_inference(base_dir)
    model, tok = loaded.model, loaded.tokenizer
    test = number_skill(6, seed=3, numbers=range(10))
    # the untrained model's own replies made the reference for the first 3 questions: 3 of 6 right
    first = chat_answers(model, tok, [r["messages"][:1] for r in test], 8)
    for r, reply in zip(test[:3], first):
        r["answer"] = r["messages"][1]["content"] = reply
    two = two_turn_test(test)
    second = chat_answers(model, tok, [t["messages"][:3] for t in two], 8)
    params = TranscriptParams(model=str(base_dir), skill_test=_jsonl(tmp_path / "t1.jsonl", test),
                              skill_test_2turn=_jsonl(tmp_path / "t2.jsonl", two), examples=4, max_new_tokens=8,
                              chats=[["你好", "用中文写出数字 5。"]])
    _, s = transcript(params, StageContext(name="transcript", out_dir=tmp_path, run_dir=tmp_path, outputs={}))
    assert s["skill_exact_match_turn1"]["value"] == 0.5 and s["skill_exact_match_turn1"]["n"] == 6
    hits2 = sum(exact_match(a, t["answer"]) for a, t in zip(second, two))
    assert s["skill_exact_match_turn2"]["value"] == hits2 / 6
    diffs = [float(exact_match(a, t["answer"])) - (1.0 if i < 3 else 0.0) for i, (a, t) in enumerate(zip(second, two))]
    paired = s["headline"]["skill exact match change, turn 1 -> turn 2, paired by question"]
    assert paired["n"] == 6 and paired["value"] == pytest.approx(sum(diffs) / 6) and paired["paired"]
    examples = s["tables"]["skill questions: expected and model answers"]
    assert len(examples) == 4 and [e["model"] for e in examples if e["exact"]] == [e["expected"] for e in examples if e["exact"]]
    chat = s["tables"]["chat transcript (greedy; the model's replies are the history)"]
    reply1 = chat_answers(model, tok, [[{"role": "user", "content": "你好"}]], 8)[0]
    reply2 = chat_answers(model, tok, [[{"role": "user", "content": "你好"}, {"role": "assistant", "content": reply1},
                                        {"role": "user", "content": "用中文写出数字 5。"}]], 8)[0]
    assert [(r["turn"], r["model"]) for r in chat] == [(1, reply1), (2, reply2)]
