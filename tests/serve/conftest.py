"""A live `lmforge serve` app (uvicorn in a thread on a free 127.0.0.1 port) over a tiny model."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.export.conftest import model_dir  # noqa: F401  (fixture)

API_KEY = "test-key"


@dataclass
class LiveServer:
    url: str
    model_dir: Path
    model: object
    tokenizer: object
    engine: object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, api_key: str | None = API_KEY, **cfg_kw):
    import uvicorn

    from lmforge.serve.engine import Engine
    from lmforge.serve.server import ServeConfig, create_app
    from lmforge.model.loader import load_for_inference

    loaded = load_for_inference(model_dir)
    model, tok = loaded.model, loaded.tokenizer
    engine = Engine(model, max_batch=32)
    app = create_app(engine, tok, ServeConfig(model_name="tiny", api_key=api_key, **cfg_kw))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    live = LiveServer(url, model_dir, model, tok, engine)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        engine.close()
    return live, stop


@pytest.fixture(scope="session")
def live_server(model_dir):  # noqa: F811
    live, stop = start_server(model_dir, max_tokens_cap=64, max_prompt_tokens=100)
    yield live
    stop()
