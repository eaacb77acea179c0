"""Recipe stage `distill`: a student from a teacher (`lmforge distill`)."""

from __future__ import annotations

from typing import Any

from lmforge.distill.run import DistillConfig, run_distill
from lmforge.recipes.kinds import StageContext, stage_kind
from lmforge.recipes.stages.training import StageInterrupted


@stage_kind("distill", DistillConfig)
def distill(p: DistillConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge distill`: white-box (KL on the teacher's logits) or black-box (SFT on its answers)."""
    r = run_distill(p)
    if r.train.interrupted:
        raise StageInterrupted(f"{ctx.name} interrupted at step {r.train.step}")
    summary: dict[str, Any] = {"metrics_file": str(ctx.out_dir / "metrics.jsonl"), "steps": r.train.step,
                               "mode": r.mode, "tokens": r.train.tokens, "final_loss": r.train.loss}
    if r.val_ce is not None:
        summary["val_ce"] = r.val_ce
        summary["headline"] = {"distilled student validation cross-entropy": round(r.val_ce, 4)}
    if r.teacher_answers is not None:
        summary["teacher_answers"] = r.teacher_answers
    return str(r.model_dir), summary
