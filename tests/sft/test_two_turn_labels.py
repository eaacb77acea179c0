"""The demo's two-turn number chats: SFT learns both replies and nothing the user wrote."""

from lmforge.sft.data import IGNORE, encode
from lmforge.synth.skills import number_dialogues
from lmforge.tokenizer.core import Tokenizer


def test_both_replies_and_only_the_replies_are_trained(tok_dir):
    tok = Tokenizer.from_dir(tok_dir)
    for chat in number_dialogues(6, seed=2):
        ids, labels = encode(tok, chat["messages"])
        trained = tok.tok.decode([t for t in labels if t != IGNORE], skip_special_tokens=False)
        assert trained == f"{chat['first_answer']}<|im_end|>{chat['answer']}<|im_end|>"
        # every token outside the replies (both questions, the role headers) is masked
        shown = tok.tok.decode([t for t, lab in zip(ids, labels) if lab == IGNORE], skip_special_tokens=False)
        assert chat["messages"][0]["content"] in shown and chat["messages"][2]["content"] in shown
