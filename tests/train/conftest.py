import json
import os
import sys
from pathlib import Path

import pytest
import yaml

CLI = [sys.executable, "-m", "lmforge"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def read_losses(run: Path) -> dict[int, float]:
    """Last logged loss per step (a resumed run logs re-done steps again)."""
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        out[row["step"]] = row["loss"]
    return out


@pytest.fixture
def losses():
    return read_losses


@pytest.fixture(scope="session")
def packed_dir(tmp_path_factory):
    """Real bilingual text packed with a trained byte-level BPE tokenizer."""
    from lmforge.data.corpus import demo_corpus
    from lmforge.tokens.pack import pack_texts
    from lmforge.tokenizer.train import train_tokenizer

    root = tmp_path_factory.mktemp("packed")
    docs = demo_corpus(max_chars=300_000)
    tok = train_tokenizer(docs["zh"] + docs["en"], 1024, root / "tok")
    pack_texts(docs, tok, root / "data", val_fraction=0.05)
    return root


@pytest.fixture
def write_config(tmp_path, packed_dir):
    def write(**train):
        cfg = {"out": str(tmp_path / "run"), "tokenizer": str(packed_dir / "tok"),
               "model": {"preset": "tiny", "hidden_size": 64, "intermediate_size": 128,
                         "num_hidden_layers": 2},
               "data": {"path": str(packed_dir / "data"), "weights": {"en": 0.5, "zh": 0.5}},
               "train": {"max_steps": 12, "batch_size": 4, "seq_len": 64, "lr": 3e-3,
                         "warmup_steps": 2, "eval_every": 6, "eval_batches": 2, **train}}
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path
    return write
