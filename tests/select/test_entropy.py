import matplotlib.pyplot as plt
import numpy as np

from lmforge.select.entropy import band_caption, cluster_table, entropy_figure, select_band


def test_clusters_ordered_and_band_selects():
    rng = np.random.default_rng(0)
    ent = list(rng.normal(3.2, 0.1, 50)) + list(rng.normal(6.0, 0.2, 20)) + list(rng.normal(1.0, 0.1, 10))
    labels, table = cluster_table(ent, k=3)
    assert [t["count"] for t in table] == [10, 50, 20]
    assert table[0]["mean"] < table[1]["mean"] < table[2]["mean"]
    picked = select_band(ent, base=2.0, low=1.0, high=1.5)
    assert set(picked) <= set(range(50)) and len(picked) > 40


def test_histogram_is_labelled_and_marks_the_base_and_the_band():
    ent = [2.0, 3.1, 3.2, 3.4, 5.0]
    fig = entropy_figure(ent, base=2.0, low=1.0, high=1.5, kept=3)
    ax = fig.axes[0]
    assert ax.get_title() == "MindLLM entropy selection"
    assert ax.get_xlabel().startswith("response entropy") and ax.get_ylabel() == "samples"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["instruction samples (n=5)", "base entropy 2.00: the base model on held-out plain text",
                      "band kept: base +1 to +1.5 nats = [3.00, 3.50]: 3 of 5 samples"]
    band = [p for p in ax.patches if p.get_label().startswith("band kept")][0]
    assert band.get_x() == 3.0 and band.get_width() == 0.5  # the shaded span is the band
    assert ax.get_xlim()[0] < 2.0 and ax.get_xlim()[1] > 5.0
    caption = fig.texts[0].get_text()
    assert caption == band_caption(2.0, 1.0, 1.5, 3, 5) and caption.startswith("Kept 3 of 5: ")
    assert "[3.00, 3.50] nats, +1 to +1.5 above the base entropy 2.00" in caption
    plt.close(fig)
