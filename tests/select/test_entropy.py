import numpy as np

from lmforge.select.entropy import cluster_table, select_band


def test_clusters_ordered_and_band_selects():
    rng = np.random.default_rng(0)
    ent = list(rng.normal(3.2, 0.1, 50)) + list(rng.normal(6.0, 0.2, 20)) + list(rng.normal(1.0, 0.1, 10))
    labels, table = cluster_table(ent, k=3)
    assert [t["count"] for t in table] == [10, 50, 20]
    assert table[0]["mean"] < table[1]["mean"] < table[2]["mean"]
    picked = select_band(ent, base=2.0, low=1.0, high=1.5)
    assert set(picked) <= set(range(50)) and len(picked) > 40
