"""`run_distill(DistillConfig)`: a student model learns from a teacher.

White-box, when teacher and student share a vocabulary: the student trains on the teacher's
logits (forward KL, reverse KL or generalized JSD, with a temperature, optionally mixed with the
plain cross-entropy) on packed pretraining data or SFT conversations, run by the one training loop
as an objective. Black-box, when the teacher is only reachable through an OpenAI-compatible
endpoint (or its tokenizer differs): the teacher answers the conversations' prompts and the
student is fine-tuned on those answers by `run_sft`. The `lmforge distill` verb and the `distill`
recipe stage are derived from this config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lmforge.distill.blackbox import TeacherEndpoint, collect_answers, read_prompt_records
from lmforge.distill.loss import distill_objective
from lmforge.errors import UserError
from lmforge.model import load_model
from lmforge.model.config import ModelConfig
from lmforge.model.loader import load_tokenizer
from lmforge.model.source import ModelSource
from lmforge.report import read_metrics
from lmforge.sft.finetune import SFTConfig, SFTData, TunePlan, check_sft, run_sft
from lmforge.tokenizer import Tokenizer
from lmforge.tokens.loader import DataConfig, TokenLoader
from lmforge.train.boundary import check_context, check_model_folder, tokenizer_identity
from lmforge.train.config import TrainConfig
from lmforge.train.distributed import init_distributed
from lmforge.train.pretrain import PretrainConfig, PretrainPlan, check_pretrain
from lmforge.train.trainer import TrainResult, pick_device, train

Mode = Literal["white-box", "black-box"]


class KDOptions(BaseModel):
    """The white-box loss: alpha * CE + (1 - alpha) * divergence(student, teacher) at temperature T."""

    model_config = ConfigDict(extra="forbid")
    divergence: Literal["forward_kl", "reverse_kl", "jsd"] = Field("forward_kl", description=(
        "forward_kl: KL(teacher || student), mass-covering (Hinton); reverse_kl: KL(student || teacher), "
        "mode-seeking (MiniLLM); jsd: generalized Jensen-Shannon with `beta` (GKD)"))
    beta: float = Field(0.5, gt=0, lt=1, description="jsd: the teacher's weight in the mixture (TRL GKD's "
                        "beta; forward_kl is beta 0, reverse_kl beta 1)")
    temperature: float = Field(1.0, gt=0, description="both logits are divided by it (no T^2 rescaling, as TRL)")
    alpha: float = Field(0.0, ge=0, le=1, description="weight of the plain next-token cross-entropy on the data")

    def gkd_beta(self) -> float:
        return {"forward_kl": 0.0, "reverse_kl": 1.0}.get(self.divergence, self.beta)


class DistillConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="run folder: model/, checkpoints/, metrics.jsonl (teacher.jsonl when black-box)")
    teacher: str | None = Field(None, description="teacher model folder (white-box: its vocabulary must be the "
                                "student's)")
    endpoint: TeacherEndpoint | None = Field(None, description="black-box teacher: an OpenAI-compatible "
                                             "endpoint (used when there is no `teacher` folder or its "
                                             "tokenizer differs from the student's)")
    model: ModelSource = Field(description="the student: a folder to continue, or {preset: NAME, ...} for a new "
                               "model (its tokenizer: `tokenizer`, else the teacher's)")
    data: DataConfig | None = Field(None, description="packed data (lmforge data pack), white-box only")
    sft_data: SFTData | None = Field(None, description="conversations (jsonl): white-box on their assistant "
                                     "tokens; black-box: the prompts the teacher answers")
    kd: KDOptions = Field(default_factory=KDOptions)
    train: TrainConfig = Field(default_factory=TrainConfig)
    dry_run: bool = Field(False, description="run every check (folders, tokenizers, data, context) and stop "
                          "before any teacher request or training step")

    @model_validator(mode="after")
    def _inputs(self, info: ValidationInfo) -> "DistillConfig":
        if not (self.teacher or self.endpoint):
            raise UserError("give `teacher` (a model folder, white-box) or `endpoint` (an OpenAI-compatible "
                            "teacher, black-box)")
        if (self.data is None) == (self.sft_data is None):
            raise UserError("give one of `data` (packed tokens) or `sft_data` (conversations), not "
                            f"{'both' if self.data else 'neither'}")
        if (info.context or {}).get("files_made_later"):
            return self
        if self.teacher and not (Path(self.teacher) / "config.json").is_file():
            raise UserError(f"teacher: {self.teacher} is not a model folder (no config.json)")
        if self.data and not (Path(self.data.path) / "manifest.json").is_file():
            raise UserError(f"data.path: {self.data.path} is not a packed data folder (run `lmforge data pack`)")
        return self

    def student_tokenizer_dir(self) -> str | None:
        return self.model.tokenizer_dir() or self.teacher


@dataclass
class DistillPlan:
    """What the checks found: the mode, the teacher's shape (white-box), the student's data plan."""

    mode: Mode
    teacher_shape: ModelConfig | None
    data: PretrainPlan | TunePlan | None  # white-box
    prompts: int = 0  # black-box

    def summary(self) -> str:
        if self.mode == "black-box":
            return f"checked: black-box distillation, {self.prompts} prompts for the teacher endpoint"
        t = self.teacher_shape
        return (f"checked: white-box distillation from a {t.num_hidden_layers}-layer teacher "
                f"(vocab {t.vocab_size:,}); student {self.data.summary().removeprefix('checked: ')}")


@dataclass
class DistillResult:
    mode: Mode
    train: TrainResult
    model_dir: Path
    val_ce: float | None  # the student's next-token cross-entropy on the validation data (packed data)
    teacher_answers: int | None = None  # black-box: conversations the teacher answered


def _same_vocabulary(t_tok: Tokenizer, s_tok: Tokenizer) -> bool:
    return s_tok.tok.get_vocab() == t_tok.tok.get_vocab()


def _mode(cfg: DistillConfig) -> tuple[Mode, ModelConfig | None]:
    """White-box when the teacher folder shares the student's vocabulary; else black-box when an
    endpoint is given; else an error naming both folders."""
    if not cfg.teacher:
        return "black-box", None
    shape, t_tok = check_model_folder(cfg.teacher)
    student_tok = cfg.student_tokenizer_dir()
    s_tok = load_tokenizer(student_tok)
    if _same_vocabulary(t_tok, s_tok):
        return "white-box", shape
    if cfg.endpoint is not None:
        return "black-box", None
    raise UserError(f"teacher {cfg.teacher} and student {student_tok} have different tokenizers "
                    f"({t_tok.vocab_size:,} vs {s_tok.vocab_size:,} tokens, or the same "
                    "count with other pieces): white-box distillation compares logits token by token. Give the "
                    "student the teacher's tokenizer, or distill black-box: serve the teacher (`lmforge serve "
                    f"{cfg.teacher}`) and set endpoint.url, with sft_data holding the prompts")


def _student_folder(cfg: DistillConfig, why: str) -> str:
    if not cfg.model.path:
        raise UserError(f"model: {why} starts from a student model folder (model: PATH), not a fresh preset")
    return cfg.model.path


def _sft_config(cfg: DistillConfig, student: str, data: SFTData) -> SFTConfig:
    return SFTConfig(out=cfg.out, model=student, data=data, train=cfg.train)


def check_distill(cfg: DistillConfig) -> DistillPlan:
    """Every check before a teacher request or a training step (all that `--dry-run` runs)."""
    mode, t_shape = _mode(cfg)
    if mode == "black-box":
        if cfg.sft_data is None:
            raise UserError("black-box distillation needs sft_data (the prompts the teacher answers), not data")
        check_model_folder(_student_folder(cfg, "black-box distillation"))
        return DistillPlan(mode, None, None, len(read_prompt_records(cfg.sft_data.files)))
    if cfg.sft_data is not None:
        plan = check_sft(_sft_config(cfg, _student_folder(cfg, "distillation on sft_data"), cfg.sft_data))
        check_context("sft_data.max_len", cfg.sft_data.max_len, t_shape, cfg.teacher)
        return DistillPlan(mode, t_shape, plan)
    pre = PretrainConfig(out=cfg.out, model=cfg.model, data=cfg.data, train=cfg.train,
                         tokenizer=cfg.student_tokenizer_dir())
    check_context("train.seq_len", cfg.train.seq_len, t_shape, cfg.teacher)
    return DistillPlan(mode, t_shape, check_pretrain(pre))


def _val_ce(run_dir: Path) -> float | None:
    rows = [r for r in read_metrics(run_dir / "metrics.jsonl") if "val_ce" in r]
    return rows[-1]["val_ce"] if rows else None


def _packed_batches(cfg: DistillConfig, plan: PretrainPlan):
    """The training loader (this process's rows under torchrun) and the validation batches."""
    d = init_distributed(pick_device(cfg.train.device).type)
    loader = plan.loader if d.world_size == 1 else TokenLoader(
        cfg.data, cfg.train.seq_len, cfg.train.batch_size, cfg.train.seed, d.rank, d.world_size)
    return loader, lambda: plan.val.eval_batches(cfg.train.eval_batches)


def _run_white(cfg: DistillConfig, plan: DistillPlan) -> DistillResult:
    kd, data = cfg.kd, plan.data
    teacher = load_model(cfg.teacher)
    objective = distill_objective(teacher, kd.gkd_beta(), kd.temperature, kd.alpha, cfg.train.loss_chunk_tokens)
    if isinstance(data, TunePlan):
        student, batches, val, tok_dir = load_model(cfg.model.path), data.batches, None, cfg.model.path
    else:
        student = cfg.model.build(data.shape.vocab_size, data.tokenizer)
        (batches, val), tok_dir = _packed_batches(cfg, data), cfg.student_tokenizer_dir()
    details = {"distill": {"teacher": cfg.teacher, **kd.model_dump()},
               "tokenizer": tokenizer_identity(data.tokenizer, tok_dir)}
    result = train(student, objective, batches, cfg.train, cfg.out, val_data=val, tokenizer_dir=tok_dir,
                   parent=cfg.model.path, created_by="lmforge distill", details=details)
    return DistillResult("white-box", result, result.model_dir, _val_ce(Path(cfg.out)))


def _run_black(cfg: DistillConfig) -> DistillResult:
    """The teacher's answers (kept in out/teacher.jsonl, so a rerun resumes training, not asking),
    then SFT of the student on them."""
    answers = Path(cfg.out) / "teacher.jsonl"
    if not answers.is_file():
        answers.parent.mkdir(parents=True, exist_ok=True)
        collect_answers(cfg.endpoint, cfg.sft_data.files, answers)
    n = sum(1 for _ in answers.open(encoding="utf-8"))
    data = cfg.sft_data.model_copy(update={"files": [str(answers)]})
    result = run_sft(_sft_config(cfg, _student_folder(cfg, "black-box distillation"), data))
    return DistillResult("black-box", result, result.model_dir, None, n)


def run_distill(cfg: DistillConfig) -> DistillResult | DistillPlan:
    """Distill (with dry_run: only the checks' plan; no teacher request, nothing trained)."""
    plan = check_distill(cfg)
    if cfg.dry_run:
        return plan
    return _run_black(cfg) if plan.mode == "black-box" else _run_white(cfg, plan)
