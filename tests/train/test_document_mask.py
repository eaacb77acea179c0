"""Document masking: a packed row of documents trains exactly like the documents run alone."""

import pytest
import torch

from lmforge.model import build_model, preset
from lmforge.model.transformer import document_mask, document_positions
from lmforge.train.objectives import DocumentMasked, causal_lm, with_documents

EOS = 2


def _model():
    cfg = preset("tiny", vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    return build_model(cfg, seed=3).eval()


def _docs():
    g = torch.Generator().manual_seed(0)
    return [torch.cat([torch.randint(3, 97, (n,), generator=g), torch.tensor([EOS])]) for n in (4, 6, 3)]


def test_positions_restart_per_document():
    row = torch.cat(_docs())[None]
    docs = with_documents({"input_ids": row, "labels": row}, EOS)["document_ids"]
    assert docs[0].tolist() == [0] * 5 + [1] * 7 + [2] * 4
    assert document_positions(docs)[0].tolist() == list(range(5)) + list(range(7)) + list(range(4))
    mask = document_mask(docs, flex=False)[0, 0]
    assert mask[6, 5] and not mask[6, 4] and not mask[5, 6]  # own document, causal


def test_packed_row_equals_documents_alone():
    model, docs = _model(), _docs()
    row = torch.cat(docs)[None]
    batch = with_documents({"input_ids": row, "labels": row}, EOS)
    with torch.no_grad():
        packed = model(row, labels=batch["labels"], document_ids=batch["document_ids"],
                       output="token_logprobs")[0]
        plain = model(row, labels=row, output="token_logprobs")[0]
        offset = 0
        for doc in docs:
            alone = model(doc[None], labels=doc[None], output="token_logprobs")[0]
            n = len(doc)
            torch.testing.assert_close(packed[offset:offset + n - 1], alone, atol=1e-5, rtol=0)
            if offset:  # the first token of a document is not predicted from the one before
                assert packed[offset - 1] == 0
            offset += n
    # Without the mask the later documents see the earlier ones: the losses differ.
    assert (plain[5:11] - packed[5:11]).abs().max() > 1e-3


def test_objective_loss_is_mean_of_document_losses():
    model, docs = _model(), _docs()
    row = torch.cat(docs)[None]
    with torch.no_grad():
        loss, _ = causal_lm(model, with_documents({"input_ids": row, "labels": row}, EOS))
        total = sum(-model(d[None], labels=d[None], output="token_logprobs").sum() for d in docs)
    assert abs(float(loss) - float(total) / sum(len(d) - 1 for d in docs)) < 1e-5


class _Source:
    def __init__(self, eos_id):
        self.eos_id, self.calls = eos_id, 0

    def next_batch(self):
        self.calls += 1
        row = torch.cat(_docs())[None]
        return {"input_ids": row, "labels": row}

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = state["calls"]


def test_document_masked_source_needs_eos_and_keeps_state():
    with pytest.raises(ValueError, match="eos_id"):
        DocumentMasked(_Source(None))
    src = DocumentMasked(_Source(EOS))
    batch = src.next_batch()
    assert batch["document_ids"][0, -1].item() == 2 and (batch["labels"] == -100).sum().item() == 2
    assert src.state_dict() == {"calls": 1}
