"""An operation's input model folder, as a config field checked when the config is read.

Operations that start from an existing folder (grow, export, generate, chat, serve) share this
mixin. In a recipe the folder may be written by an earlier stage, so the check waits
(`files_made_later` in the validation context)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from lmforge.errors import UserError


def is_model_folder(path: str | Path) -> bool:
    return (Path(path) / "config.json").is_file()


class ModelFolder(BaseModel):
    """`model`: an existing model folder (ours or transformers')."""

    model: str = Field(description="model folder (ours or transformers')")

    @field_validator("model")
    @classmethod
    def _is_folder(cls, value: str, info: ValidationInfo) -> str:
        if (info.context or {}).get("files_made_later") or is_model_folder(value):
            return value
        if not Path(value).exists():
            raise UserError(f"model folder {value} not found")
        raise UserError(f"{value} is not a model folder (no config.json)")
