"""Llama-family model: config and presets, the module, folders on disk, generation, FLOPs."""

from lmforge.model.config import PRESETS, ModelConfig, preset
from lmforge.model.io import ModelFolderError, load_config, load_model, save_model
from lmforge.model.transformer import CausalLM, build_model, causal_lm_loss

__all__ = ["PRESETS", "ModelConfig", "preset", "ModelFolderError", "load_config", "load_model",
           "save_model", "CausalLM", "build_model", "causal_lm_loss"]
