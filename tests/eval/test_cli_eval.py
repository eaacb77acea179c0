"""`lmforge eval KIND`: derived verbs with --device/--dtype, the one loader, the one results writer,
and the recipe eval stage reaching the same config fields (issue 15); empty sets are errors (16)."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
import torch

from lmforge.cli import main
from lmforge.errors import UserError
from lmforge.eval import elo
from lmforge.eval.contamination import ContaminationConfig, run_contamination
from lmforge.eval.multiple_choice import MCEvalConfig, run_mc_eval
from lmforge.eval.perplexity import perplexity
from lmforge.model import load_model
from lmforge.model.loader import load_for_inference, load_tokenizer
from lmforge.recipes.runner import check_params  # registers the stage kinds
from lmforge.recipes.stages.results import mc_config
from lmforge.tokenizer.core import Tokenizer
from tests.cli_config import config_of


def test_mc_on_cpu_from_the_cli_gives_the_library_numbers(model_dir, ceval_dir, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["eval", "mc", "--device", "cpu", "--dtype", "fp32", "--model", str(model_dir),
                 "--tasks", f"ceval={ceval_dir}", "--shots", "1", "--limit", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "results.json").read_text())
    lib = run_mc_eval(MCEvalConfig(model=str(model_dir), tasks={"ceval": str(ceval_dir)}, shots=1, limit=5,
                                   progress=False)).results
    assert saved["kind"] == "mc" and saved["config"]["device"] == "cpu"
    assert saved["results"]["ceval"]["items"] == lib["ceval"]["items"] and lib["ceval"]["n"] == 5
    assert f"| ceval | 5 | 1 | {lib['ceval']['acc']:.4f} |" in printed
    assert (out / "results.md").read_text() in printed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_cli_flag_override_and_recipe_stage_reach_the_same_config(model_dir, ceval_dir, tmp_path):
    by_flag = config_of(["eval", "mc", "--model", str(model_dir), "--tasks", f"ceval={ceval_dir}",
                       "--shots", "2", "--device", "cpu", "--dtype", "fp32", "--chat", "--no-progress"])
    by_override = config_of(["eval", "mc", f"tasks.ceval={ceval_dir}", "--model", str(model_dir), "shots=2",
                           "device=cpu", "dtype=fp32", "chat=true", "progress=false"])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ceval").symlink_to(ceval_dir)
    by_data_dir = config_of(["eval", "mc", "--model", str(model_dir), "--tasks", "ceval",
                           "--data-dir", str(tmp_path / "data"), "shots=2", "--dtype", "fp32", "--chat",
                           "--no-progress"])
    assert by_flag == by_override
    assert by_data_dir.tasks == {"ceval": str(tmp_path / "data" / "ceval")}
    stage = check_params("eval", {"models": {"base": str(model_dir)}, "tasks": {"ceval": str(ceval_dir)},
                                  "shots": 2, "device": "cpu", "dtype": "fp32", "chat": True},
                         "stages.eval", out_dir=tmp_path / "run")
    assert mc_config(stage, str(model_dir), tmp_path / "run") == by_flag.model_copy(
        update={"out": str(tmp_path / "run")})


def test_missing_device_is_a_clear_error(model_dir, ceval_dir, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["eval", "mc", "--device", "cuda", "--model", str(model_dir),
                 "--tasks", f"ceval={ceval_dir}"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: CUDA is not available" in err and "Traceback" not in err
    assert main(["eval", "perplexity", "--device", "gpu0", "--model", str(model_dir), "--files",
                 str(ceval_dir / "val" / "law_val.csv")]) == 2
    assert "not a device" in capsys.readouterr().err


def test_folder_without_tokenizer_is_an_error(model_dir, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(model_dir, bare)
    (bare / "tokenizer.json").unlink()
    with pytest.raises(UserError, match=r"bare: no tokenizer.json"):
        load_for_inference(bare)
    with pytest.raises(UserError, match=r"no tokenizer.json"):
        load_tokenizer(bare)


def test_loader_dtype_and_metadata(model_dir):
    loaded = load_for_inference(model_dir, "cpu", "bf16")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16 and loaded.device.type == "cpu"
    assert loaded.meta["lineage"][-1]["created_by"] == "test"
    assert load_for_inference(model_dir, dtype="float32").model.model.embed_tokens.weight.dtype == torch.float32


@pytest.mark.parametrize("content", ["", "id,question,A,B,C,D,answer,explanation\n"])
def test_empty_or_header_only_csv_is_an_error_not_zero_accuracy(model_dir, tmp_path, capsys, content):
    (tmp_path / "ceval" / "val").mkdir(parents=True)
    (tmp_path / "ceval" / "val" / "law_val.csv").write_text(content)
    out = tmp_path / "res"
    assert main(["eval", "mc", "--model", str(model_dir), "--tasks", f"ceval={tmp_path / 'ceval'}",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no questions" in err and "law" in err and "acc" not in err
    assert not out.exists()


def test_bad_task_folder_and_out_named_before_work(model_dir, ceval_dir, tmp_path, capsys):
    assert main(["eval", "mc", "--model", str(model_dir), "--tasks", f"ceval={tmp_path / 'nope'}"]) == 2
    err = capsys.readouterr().err
    assert "tasks: Value error, ceval:" in err and "nope not found" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["eval", "mc", "--model", str(model_dir), "--tasks", f"ceval={ceval_dir}",
                 "--out", str(blocker)]) == 2
    assert "must be a folder" in capsys.readouterr().err and blocker.read_text() == "x"


def test_perplexity_cli_matches_the_function(model_dir, tmp_path):
    text = tmp_path / "t.jsonl"
    docs = ["北京是中国的首都。", "1 + 1 = 2, 3 * 4 = 12"]
    text.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    assert main(["eval", "perplexity", "--model", str(model_dir), "--files", str(text),
                 "--out", str(tmp_path / "p")]) == 0
    got = json.loads((tmp_path / "p" / "results.json").read_text())["results"]["perplexity"]
    want = perplexity(load_model(model_dir), Tokenizer.from_dir(model_dir), docs, progress=False)
    assert set(got) == set(want) and got["documents"] == 2
    for key, value in want.items():  # the intervals are lists
        assert got[key] == pytest.approx(value), key


def test_contamination_cli_matches_the_library(ceval_dir, tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    first = (ceval_dir / "val" / "law_val.csv").read_text(encoding="utf-8").splitlines()[1].split(",")
    corpus.write_text(f"{first[1]}\n" + "\n".join(first[2:6]) + "\n", encoding="utf-8")
    assert main(["eval", "contamination", "--tasks", f"ceval={ceval_dir}", "--corpus", str(corpus),
                 "--ngram", "3", "--out", str(tmp_path / "c")]) == 0
    got = json.loads((tmp_path / "c" / "results.json").read_text())["results"]
    want = run_contamination(ContaminationConfig(tasks={"ceval": str(ceval_dir)}, corpus=[str(corpus)],
                                                 ngram=3)).results
    assert got == json.loads(json.dumps(want)) and got["ceval"]["n"] == 24
    assert "| ceval | 24 |" in capsys.readouterr().out


def test_elo_cli_with_an_http_judge(tmp_path, monkeypatch):
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"question": f"{i} + 1?", "answers": {
        "strong": f"good {i + 1}", "weak": "no idea", "mid": "good guess" if i % 2 else "no"}}) + "\n"
        for i in range(6)))

    def endpoint(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["messages"][0]["content"]
        a, b = prompt.split("Answer A: ")[1].split("\n\nAnswer B: ")
        score = lambda s: ("good" in s) + any(c.isdigit() for c in s)  # noqa: E731
        verdict = "A" if score(a) > score(b) else "B" if score(b) > score(a) else "tie"
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": verdict}}]})

    class MockClient(elo.ChatClient):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.http = httpx.Client(transport=httpx.MockTransport(endpoint))

    monkeypatch.setattr(elo, "ChatClient", MockClient)
    assert main(["eval", "elo", "--answers", str(answers), "--judge", "http://judge.test",
                 "--judge-model", "j", "--rounds", "50", "--out", str(tmp_path / "e")]) == 0
    got = json.loads((tmp_path / "e" / "results.json").read_text())["results"]
    assert list(got["ratings"]) == ["strong", "mid", "weak"]
    assert got["battles"] == 6 * 6 and got["unreadable"] == 0
    assert [r["games"] for r in got["ratings"].values()] == [24, 24, 24]  # 6 questions x 2 rivals x 2 orders


def test_elo_refuses_bad_answers(tmp_path, capsys):
    answers = tmp_path / "a.jsonl"
    answers.write_text('{"question": "q", "answers": {"only": "x"}}\n')
    assert main(["eval", "elo", "--answers", str(answers), "--judge", "http://judge.test"]) == 2
    assert "a.jsonl:1: needs 'question'" in capsys.readouterr().err
