"""report.md tells the truth: scores carry n, interval and chance; a run that learned nothing says it
is a smoke test; a real gain is called a gain; plots mark the learning-rate warm-up."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt

from lmforge.report import learning_banner, save_figure, val_loss_line, warmup_end, write_report
from lmforge.stats import change, mean, moved, paired_difference, proportion, reading, show


def _write(tmp_path: Path, headlines: dict[str, dict]) -> str:
    records = {name: {"kind": "x", "output": str(tmp_path), "seconds": 1.0, "summary": {"headline": h}}
               for name, h in headlines.items()}
    recipe = SimpleNamespace(name="t", out=tmp_path, source="t.yaml", scale="tiny")
    return write_report(recipe, records).read_text()


def test_a_run_at_chance_is_called_a_smoke_test(tmp_path):
    # the tiny steel-llm's shape: skill 0 -> 0 on 20, C-Eval/CMMLU accuracies around 1/4
    report = _write(tmp_path, {
        "sft": {"skill exact match before -> after SFT": change(proportion(0, 20), proportion(0, 20)),
                "pretrain validation loss (first eval -> last)": "6.9 -> 6.3"},
        "eval": {"ceval acc (sft)": proportion(6, 20, chance=0.25),
                 "cmmlu acc (sft)": proportion(3, 20, chance=0.25)}})
    top = report.split("## Report card")[0]
    assert "A smoke test of the plumbing" in top and "no score moved beyond its 95% interval" in top
    assert "(3 checked: skill exact match before -> after SFT, ceval acc, cmmlu acc)" in top
    assert "| eval | ceval acc (sft) | 0.300 | 20 questions | [0.145, 0.519] | 0.25 | at chance (0.25) |" in report
    assert "| sft | skill exact match before -> after SFT | 0.000 -> 0.000 | 20 questions |" in report
    assert "no change beyond the 95% intervals" in report
    assert "| sft | pretrain validation loss (first eval -> last) | 6.9 -> 6.3 |" in report
    assert "Wilson" in report and "chance level" in report  # how to read the card


def test_a_real_gain_is_called_a_gain(tmp_path):
    # the demo's shape: skill 0 -> 25 of 40 after SFT, C-Eval still at chance
    report = _write(tmp_path, {
        "sft": {"skill exact match before -> after SFT": change(proportion(0, 40), proportion(25, 40))},
        "eval": {"ceval acc (sft)": proportion(20, 80, chance=0.25)}})
    top = report.split("## Report card")[0]
    assert "smoke test" not in report
    assert "**Moved beyond its 95% interval:** skill exact match before -> after SFT (sft): 0.000 " in top
    assert "| 0.000 -> 0.625 | 40 questions | [0.000, 0.088] -> [0.470, 0.758] |  | gain |" in report
    assert "| 0.250 | 80 questions | [0.168, 0.355] | 0.25 | at chance (0.25) |" in report


def test_above_chance_counts_as_learned_and_plain_values_decide_nothing(tmp_path):
    above = {"eval": {"summary": {"headline": {"ceval acc": proportion(50, 80, chance=0.25)}}}}
    assert learning_banner(above)[0].startswith("**Moved beyond")
    plain = {"pretrain": {"summary": {"headline": {"validation loss": "6.9 -> 6.3", "reward": mean([0.5, 1.0])}}}}
    assert learning_banner(plain) == []  # nothing that could move was scored: no claim either way
    assert "smoke test" not in _write(tmp_path, {"pretrain": plain["pretrain"]["summary"]["headline"]})


def test_warmup_end_and_the_loss_plot(tmp_path):
    rows = [{"step": s, "lr": min(s, 4) / 4 * 1e-3, "loss": 7.0 - s / 10} for s in range(1, 11)]
    assert warmup_end(rows) == 4
    assert warmup_end([{"step": s, "lr": 1e-3 / s} for s in range(1, 5)]) is None  # decay only
    assert warmup_end([{"step": 1, "lr": 1e-3}]) is None
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records = {"pretrain": {"kind": "pretrain", "output": str(tmp_path), "seconds": 1.0,
                            "summary": {"metrics_file": str(metrics), "notes": ["a note under the plot"]}}}
    recipe = SimpleNamespace(name="t", out=tmp_path, source="t.yaml", scale="tiny")
    report = write_report(recipe, records).read_text()
    assert "![pretrain loss](pretrain_loss.png)" in report and "a note under the plot" in report
    assert (tmp_path / "pretrain_loss.png").stat().st_size > 1000


def test_a_score_note_is_read_with_it():
    chat = {**proportion(0, 20, chance=0.25), "note": "100% of replies name no option"}
    assert show(chat) == "0.000 [0.000, 0.161], n=20 questions: below chance (0.25); 100% of replies name no option"
    many = {"eval": {"summary": {"headline": {f"ceval acc ({m})": proportion(5, 20, chance=0.25)
                                              for m in ("a", "b")}}}}
    assert "(2 checked: ceval acc x2)" in learning_banner(many)[0]


def _val_row(step: int, loss: float, lo: float, hi: float) -> dict:
    return {"step": step, "val_loss": loss, "val_batches": 4, "val_tokens": 8192,
            "val_loss_ci95_lo": lo, "val_loss_ci95_hi": hi}


def test_validation_loss_line_carries_n_and_interval_but_decides_nothing(tmp_path):
    line = val_loss_line([_val_row(10, 6.9, 6.8, 7.0), {"step": 20, "loss": 6.5}, _val_row(30, 6.3, 6.2, 6.4)])
    assert line["verdict"] == "gain" and line["after"]["n"] == 4 and line["after"]["ci95"] == [6.2, 6.4]
    assert val_loss_line([_val_row(10, 6.9, 6.8, 7.0), _val_row(30, 6.85, 6.75, 6.95)])["verdict"].startswith("no change")
    report = _write(tmp_path, {"sft": {"pretrain validation loss (first eval -> last)": line,
                                       "skill exact match": change(proportion(0, 20), proportion(0, 20))}})
    assert ("| sft | pretrain validation loss (first eval -> last) | 6.900 -> 6.300 | 4 batches, 8192 tokens | "
            "[6.800, 7.000] -> [6.200, 6.400] |  | gain |") in report
    top = report.split("## Report card")[0]  # the loss fell beyond its interval, yet nothing was learned
    assert "A smoke test of the plumbing" in top and "Validation-loss lines are shown" in top
    assert "(1 checked: skill exact match)" in top
    # an old metrics.jsonl (no interval keys) keeps the plain line; no evaluation, no line
    assert val_loss_line([{"step": 1, "val_loss": 6.9}, {"step": 2, "val_loss": 6.3}]) == "6.900 -> 6.300"
    assert val_loss_line([{"step": 1, "loss": 3.0}]) is None


def test_save_figure_writes_atomically_and_closes(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = save_figure(fig, tmp_path / "new" / "line.png", dpi=50)
    assert out == tmp_path / "new" / "line.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number) and [p.name for p in out.parent.iterdir()] == ["line.png"]


def test_a_paired_change_is_read_against_zero(tmp_path):
    # 40 questions: 9 right only after, 2 right only before. The two intervals overlap (no gain on
    # their own), the paired difference of +0.175 excludes 0: a gain, counted in the banner.
    before, after = [1] * 17 + [1] * 2 + [0] * 9 + [0] * 12, [1] * 17 + [0] * 2 + [1] * 9 + [0] * 12
    diffs = [a - b for a, b in zip(after, before)]
    report = _write(tmp_path, {"grpo": {
        "skill exact match before -> after GRPO": change(proportion(19, 40), proportion(26, 40)),
        "skill exact match change of GRPO, paired by question": paired_difference(diffs, unit="questions")}})
    assert "| 0.475 -> 0.650 | 40 questions | [0.329, 0.625] -> [0.495, 0.779] |  | no change beyond" in report
    row = next(line for line in report.splitlines() if "paired by question |" in line)
    low = float(row.split("| [")[1].split(",")[0])
    assert row.startswith("| grpo | skill exact match change of GRPO, paired by question | 0.175 | 40 questions |")
    assert 0 < low < 0.175 and row.endswith("|  | paired: gain |")
    assert "**Moved beyond its 95% interval:** skill exact match change of GRPO, paired by question" in report
    same = paired_difference([1, -1] * 10, unit="questions")
    assert not moved(same) and reading(same) == "paired: no change (the interval spans 0)"
    assert reading(paired_difference([-1.0, -0.5, -1.0, -0.8] * 5)) == "paired: drop"
