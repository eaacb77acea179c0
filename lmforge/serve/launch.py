"""`run_serve(LaunchConfig)`: an OpenAI-compatible HTTP server with a chat page at `/`, the
operation behind `lmforge serve` (the routes are in server.py, batching in engine.py)."""

from __future__ import annotations


import uvicorn
from pydantic import ConfigDict, Field

from lmforge.model.loader import load_for_inference
from lmforge.serve.engine import Engine
from lmforge.serve.options import ModelOnDevice
from lmforge.serve.server import ServeConfig, create_app, log_requests, model_name_for


class LaunchConfig(ModelOnDevice):
    """Where to listen, what clients may ask for, and how many requests decode together."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(8000, gt=0, lt=65536, description="TCP port")
    model_name: str | None = Field(None, description="the model id clients send (default: the folder name; for a run's model/ folder, the run's)")
    api_key: str | None = Field(None, description="require 'Authorization: Bearer KEY' on /v1/*")
    max_tokens_cap: int = Field(512, gt=0, description="most tokens one request may ask for")
    max_prompt_tokens: int = Field(2048, gt=0, description="longest prompt accepted, in tokens")
    max_batch: int = Field(32, gt=0, description="requests decoded together")

    def app_config(self) -> ServeConfig:
        return ServeConfig(model_name=self.model_name or model_name_for(self.model),
                           api_key=self.api_key, max_tokens_cap=self.max_tokens_cap,
                           max_prompt_tokens=self.max_prompt_tokens)


def run_serve(cfg: LaunchConfig) -> None:
    """Load the folder and serve until interrupted."""
    loaded = load_for_inference(cfg.model, cfg.device, cfg.dtype)
    engine = Engine(loaded.model, max_batch=cfg.max_batch)
    log_requests()
    try:
        uvicorn.run(create_app(engine, loaded.tokenizer, cfg.app_config()), host=cfg.host, port=cfg.port,
                    log_level="warning")
    finally:
        engine.close()
