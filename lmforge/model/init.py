"""`run_init(InitConfig)`: write a model folder from a ModelSource, the operation behind
`lmforge model init`. A fresh model is built only by `ModelSource.build`; given an existing
folder (`from`), it writes a copy in our layout (e.g. of a transformers checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ConfigDict, Field, model_validator

from lmforge.errors import UserError
from lmforge.model.io import save_model
from lmforge.model.source import ModelSource


class InitConfig(ModelSource):
    """A ModelSource (a preset with field overrides, or a folder) and where to write it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    out: str = Field(description="the new model folder")

    @model_validator(mode="after")
    def _overrides_need_a_preset(self) -> "InitConfig":
        if self.path and self.overrides():
            raise UserError(f"{sorted(self.overrides())}: preset field overrides apply to a fresh "
                            f"`preset` model, not to the folder {self.path}")
        return self


@dataclass
class InitResult:
    folder: Path
    parameters: int
    layers: int


def run_init(cfg: InitConfig) -> InitResult:
    """Build (or load) the model and write it, with the tokenizer files, to `cfg.out`."""
    model = cfg.build()
    details = {"preset": cfg.preset, "overrides": cfg.overrides(), "seed": cfg.seed} if not cfg.path \
        else {"from": cfg.path}
    out = save_model(model, cfg.out, created_by="lmforge model init", parent=cfg.path,
                     details=details, copy_from=cfg.tokenizer_dir())
    return InitResult(out, model.num_parameters(), model.config.num_hidden_layers)
