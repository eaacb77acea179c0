import pytest


@pytest.fixture(scope="session")
def real_docs():
    """Real English and Chinese documents from installed packages."""
    from lmforge.data.corpus import demo_corpus

    return demo_corpus(max_chars=400_000, zh_share=0.5)
