import sacrebleu

from lmforge.eval.tasks.translation import evaluate_translation, score
from lmforge.model import load_model
from lmforge.tokenizer.core import Tokenizer


def test_score_matches_sacrebleu_and_runs(model_dir):
    hyp, ref = ["我 爱 北京", "the cat sat"], ["我爱北京天安门", "the cat sat on the mat"]
    s = score(hyp, ref, "zh")
    assert s["bleu"] == sacrebleu.corpus_bleu(hyp, [ref], tokenize="zh").score
    assert abs(score(ref, ref, "en")["bleu"] - 100.0) < 1e-9
    r = evaluate_translation(load_model(model_dir).eval(), Tokenizer.from_dir(model_dir),
                             [("北京", "Beijing")], max_new_tokens=4)
    assert r["n"] == 1 and 0 <= r["chrf"] <= 100
