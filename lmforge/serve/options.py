"""Config sections shared by generate, chat and serve: the model folder on a device, and the
sampling settings (each verb keeps its own defaults by redeclaring a field)."""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, Field, field_validator

from lmforge.errors import UserError
from lmforge.model.folder import ModelFolder
from lmforge.model.generate import SamplingParams
from lmforge.model.loader import DTYPE_ALIASES, DTYPE_HELP, DTYPES


class ModelOnDevice(ModelFolder):
    """`model` (with its tokenizer) loaded on `device` in `dtype`."""

    device: str = Field("cpu", description="cpu, cuda, cuda:1, mps")
    dtype: str = Field("auto", description=DTYPE_HELP)

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if DTYPE_ALIASES.get(value, value) not in ("auto", *DTYPES):
            raise UserError(f"--dtype {value!r}: choose {DTYPE_HELP}")
        return value


class Sampling(BaseModel):
    """How the next token is picked."""

    max_new_tokens: int = Field(64, ge=0, description="most tokens generated per answer")
    temperature: float = Field(0.0, ge=0, description="0 = greedy")
    top_k: int = Field(0, ge=0, description="sample among the k likeliest (0 = all)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")
    repetition_penalty: float = Field(1.0, gt=0, description="CTRL-style penalty on seen tokens (1 = none)")
    seed: int | None = Field(None, ge=0, lt=2**63, description="sampling seed (None: unseeded)")

    def sampling(self, stop_token_ids: Sequence[int] = ()) -> SamplingParams:
        return SamplingParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                              top_k=self.top_k, top_p=self.top_p, seed=self.seed,
                              repetition_penalty=self.repetition_penalty,
                              stop_token_ids=tuple(stop_token_ids))
