"""Rewards beyond rules: a reward-model folder (the score of the rendered prompt + completion, as
the RM itself computes it) and an OpenAI-compatible judge (a stub server on localhost), each
combined with rules by weight."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import torch

from lmforge.errors import UserError
from lmforge.model import load_model
from lmforge.rl.reward_model import load_reward_model, reward_model_from, save_reward_model
from lmforge.rl.rewards import ModelReward, RewardSet, RuleReward
from lmforge.rl.rewards_judge import JudgeReward
from lmforge.sft.data import encode
from lmforge.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory, base_dir):
    tok = Tokenizer.from_dir(base_dir)
    folder = tmp_path_factory.mktemp("rm") / "rm"
    save_reward_model(reward_model_from(load_model(base_dir), tok.pad_id, seed=5), folder, created_by="test",
                      copy_from=base_dir)
    return folder


def test_model_reward_scores_the_conversation_and_combines_with_rules(rm_dir):
    prompts = [[{"role": "user", "content": "read 12"}], [{"role": "user", "content": "read 7"}],
               [{"role": "user", "content": "read 40 please"}]]
    completions, refs = ["twelve", "eight", "forty"], ["twelve", "seven", "forty"]
    rs = RewardSet([RuleReward(kind="exact"), ModelReward(kind="model", path=str(rm_dir), weight=0.5, batch_size=2)])
    total, parts = rs.score(completions, refs, prompts)
    rm, tok = load_reward_model(rm_dir), Tokenizer.from_dir(rm_dir)
    with torch.no_grad():
        want = [rm(torch.tensor([encode(tok, [*p, {"role": "assistant", "content": c}], "nfkc-cjk")[0]])).item()
                for p, c in zip(prompts, completions)]
    assert parts["model"] == pytest.approx(want, abs=1e-5)  # batched with padding == one by one
    assert len(set(round(x, 6) for x in want)) == 3
    assert total == pytest.approx([e + 0.5 * w for e, w in zip([1.0, 0.0, 1.0], want)])


def test_model_reward_needs_a_folder(tmp_path):
    with pytest.raises(ValueError, match="not a reward-model folder"):
        ModelReward(kind="model", path=str(tmp_path))


class _Judge(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Judge.seen.append((self.path, body, self.headers.get("Authorization")))
        text = body["messages"][0]["content"]
        answer = text.split("Answer: ")[-1]
        reply = "no idea" if answer == "?" else ("9" if answer == "twelve" else "Score: 2/10")
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def judge_url():
    server = HTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Judge.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_judge_grades_through_an_openai_compatible_endpoint(judge_url):
    judge = JudgeReward(kind="judge", url=judge_url, model="grader", api_key="k", weight=2.0)
    rs = RewardSet([judge, RuleReward(kind="regex", pattern="e", weight=0.1)])
    total, parts = rs.score(["twelve", "eleven", "?"], ["twelve"] * 3,
                            [[{"role": "user", "content": "read 12"}]] * 3)
    assert parts["judge"] == [0.9, 0.2, 0.0]  # "9" / 10, "Score: 2/10" -> 2 / 10, no number -> 0
    assert total == pytest.approx([1.9, 0.5, 0.0])
    path, body, auth = _Judge.seen[0]
    assert path == "/v1/chat/completions" and body["model"] == "grader" and auth == "Bearer k"
    assert "Question: read 12" in body["messages"][0]["content"]
    assert "Reference answer: twelve" in body["messages"][0]["content"]


def test_unreachable_judge_is_a_clear_error():
    judge = JudgeReward(kind="judge", url="http://127.0.0.1:9", timeout=2)
    with pytest.raises(UserError, match=r"judge at http://127.0.0.1:9/v1/chat/completions failed"):
        judge.grade("q", "a", "r")
