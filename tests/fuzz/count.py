"""`python -m tests.fuzz.count`: the fuzz cases per CLI verb (run the suite for the results:
`pytest tests/fuzz -q -p no:cacheprovider` prints tracebacks / partial outputs / silent drops)."""

from __future__ import annotations

from tests.fuzz.cases import CASES, cli_verbs, per_verb


def main() -> None:
    counts = per_verb()
    for verb in cli_verbs() + ["lmforge"]:
        print(f"{counts.get(verb, 0):4d}  {verb}")
    print(f"{len(CASES):4d}  cases over {len(cli_verbs())} verbs "
          f"({sum(c.rc == 0 for c in CASES)} counted-skip cases exit 0, the rest must exit 2)")


if __name__ == "__main__":
    main()
