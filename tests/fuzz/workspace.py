"""The shared, read-only inputs of the fuzz cases, built once per session: a tokenizer, a tiny
model folder (with its tokenizer), broken copies of it, good text and SFT files, packed data."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file

from lmforge.tokens.packing import PackConfig, run_pack
from tests.export.conftest import make_model_dir

GOOD_TEXT = ["The quick brown fox jumps over the lazy dog. " * 4,
             "敏捷的棕色狐狸跳过了懒狗。今天天气很好，我们去公园散步吧。" * 3,
             "Numbers 12345 and 数字 67890 appear in this third document. " * 3]


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def values(self) -> dict[str, str]:
        """Placeholders a case's argv may use: {model}, {tok}, {packed}, {good}, ..."""
        return {p.name.split(".")[0]: str(p) for p in self.root.iterdir()}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _broken_models(root: Path, model: Path) -> None:
    nan = shutil.copytree(model, root / "nan_model")
    weights = next(nan.glob("*.safetensors"))
    tensors = load_file(weights)
    first = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[first][0] = float("nan")
    save_file(tensors, weights, metadata={"format": "pt"})
    notok = shutil.copytree(model, root / "notok_model")
    for f in notok.glob("tokenizer*"):
        f.unlink()
    badcfg = shutil.copytree(model, root / "badcfg_model")
    (badcfg / "config.json").write_text("[1, 2, 3]\n")
    badtok = shutil.copytree(model, root / "badtokcfg_model")
    (badtok / "tokenizer_config.json").write_text('{"eos_token": "<|endoftext|>",\n  "chat_template": \n')


def _sft_files(root: Path) -> None:
    turn = [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！我能帮你什么？"}]
    _jsonl(root / "sft.jsonl", [{"messages": turn}] * 8)
    _jsonl(root / "dpo.jsonl", [{"prompt": "1+1?", "chosen": "2", "rejected": "3"}] * 8)
    _jsonl(root / "alpaca.jsonl", [{"instruction": "Say hi", "input": "", "output": "hi", "lang": "en"}] * 4)


def build(root: Path) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    made = make_model_dir(root / "m", steps=0)
    model = shutil.move(str(made), root / "model")
    shutil.move(str(root / "m" / "tok"), root / "tok")
    shutil.rmtree(root / "m")
    _broken_models(root, Path(model))
    _jsonl(root / "good.jsonl", [{"text": t} for t in GOOD_TEXT] * 3)
    _sft_files(root)
    run_pack(PackConfig(input=[str(root / "good.jsonl")], tokenizer=str(root / "tok"),
                        out=str(root / "packed"), shard_tokens=256, workers=1, val_fraction=0.2))
    return Workspace(root)
