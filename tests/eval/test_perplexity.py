import math

import pytest
import torch

from lmforge.eval.perplexity import perplexity
from lmforge.model import load_model
from lmforge.tokenizer.core import Tokenizer


def test_bits_per_byte_matches_direct_loss(model_dir):
    model, tok = load_model(model_dir).eval(), Tokenizer.from_dir(model_dir)
    doc = "北京是中国的首都。 1 + 1 = 2"
    r = perplexity(model, tok, [doc], progress=False)
    ids = torch.tensor([[tok.eos_id] + tok.encode(doc)])
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(model(ids[:, :-1])[0], ids[0, 1:], reduction="sum")
    assert math.isclose(r["bits_per_byte"], loss.item() / math.log(2) / len(doc.encode()), rel_tol=1e-5)
    small = perplexity(model, tok, [doc], window=3, progress=False)  # windows split the document
    assert small["tokens"] == r["tokens"] and small["perplexity"] > 1
    # one document: every bootstrap resample is that document, so the interval is the point
    assert r["documents"] == 1 and r["perplexity_ci95"] == pytest.approx([r["perplexity"]] * 2)
