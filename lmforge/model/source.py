"""Which model an operation starts from: the one schema, and the one place a fresh model is built.

`ModelSource` is a model folder (`path`, also spelt `from`; ours or transformers'), or a fresh
model of a `preset` whose fields may be overridden (`num_hidden_layers: 6`), with the
vocabulary and special tokens taken from a `tokenizer` folder. A bare string is a folder.
A folder takes the context-extension fields only (`rope_scaling.type=yarn rope_scaling.factor=4`,
`max_position_embeddings`, `rope_theta`, `sliding_window`): continued pretraining at a longer context.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lmforge.model.config import FOLDER_OVERRIDES, ModelConfig, preset
from lmforge.model.io import load_config, load_model
from lmforge.model.transformer import CausalLM, build_model
from lmforge.tokenizer import Tokenizer


class ModelSource(BaseModel):
    """A model folder, or a fresh preset (further keys override the preset's fields)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    path: str | None = Field(None, alias="from", description="an existing model folder (ours or transformers')")
    preset: str | None = Field(None, description="... or a fresh model of this preset (lmforge model info --list)")
    tokenizer: str | None = Field(None, description="tokenizer folder for a fresh model (sets vocab_size)")
    seed: int = Field(0, ge=0, lt=2**63, description="initialisation seed of a fresh model")

    @model_validator(mode="before")
    @classmethod
    def _folder_string(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _some(self, info: ValidationInfo) -> "ModelSource":
        if not (self.path or self.preset):  # with both, `preset` is the shape a dry run assumes
            raise ValueError("give `path` (an existing model folder) or `preset` (a fresh model)")
        later = (info.context or {}).get("files_made_later")
        if self.path and not later and not Path(self.path).is_dir():
            raise ValueError(f"model folder {self.path} not found")
        shape = sorted(set(self.overrides()) - set(FOLDER_OVERRIDES))
        if self.path and not self.preset and shape:
            raise ValueError(f"{shape} would change the shapes of the weights in {self.path}; a model "
                             f"folder takes only {', '.join(FOLDER_OVERRIDES)} (a fresh `preset` takes any field)")
        return self

    def overrides(self) -> dict[str, Any]:
        """The preset fields (or a folder's context fields) this source changes."""
        return dict(self.model_extra or {})

    def tokenizer_dir(self) -> str | None:
        return self.tokenizer or self.path

    def fresh_config(self, vocab_size: int | None = None, tok: Tokenizer | None = None) -> ModelConfig:
        """The preset's config with the overrides, the vocabulary and the tokenizer's special ids."""
        fields: dict[str, Any] = {}
        if tok is None and self.tokenizer:
            tok = Tokenizer.from_dir(self.tokenizer)
        if tok is not None:
            fields.update(vocab_size=tok.vocab_size, bos_token_id=tok.bos_id,
                          eos_token_id=tok.eos_id, pad_token_id=tok.pad_id)
        if vocab_size is not None:
            fields["vocab_size"] = vocab_size
        return preset(str(self.preset), **{**fields, **self.overrides()})

    def config(self) -> ModelConfig:
        """The shape without building it: the folder's config, else the fresh preset's."""
        return load_config(self.path, self.overrides()) if self.path else self.fresh_config()

    def build(self, vocab_size: int | None = None, tok: Tokenizer | None = None) -> CausalLM:
        """Load the folder, or build a fresh preset model (seeded)."""
        if self.path:
            return load_model(self.path, overrides=self.overrides())
        return build_model(self.fresh_config(vocab_size, tok), seed=self.seed)
