"""docs/cli.md is the CLI's own help: regenerate it when a verb or option changes."""

from pathlib import Path

from lmforge.clidoc import reference


def test_docs_cli_md_is_current():
    doc = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    assert doc.read_text(encoding="utf-8") == reference(), \
        "docs/cli.md is stale: run `python -m lmforge.clidoc > docs/cli.md`"
