"""One fuzz case: a command line (verb words + arguments with {placeholders}), the files it
finds in its own folder first, and what must come out: the exit code and the words the message
must name. A failing case must leave its folder exactly as it was."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    verb: str  # the verb's words, e.g. "data clean" ("" for `lmforge` itself)
    name: str
    argv: tuple[str, ...]  # after the verb words; {tmp}, {out}, {model}, ... are filled in
    expect: tuple[str, ...] = ()  # each must appear in the output (after filling in)
    files: dict[str, str | bytes] = field(default_factory=dict)  # written into {tmp} first
    rc: int = 2
    stdin: bytes | None = None
    slow: bool = False

    @property
    def id(self) -> str:
        return f"{self.verb or 'lmforge'}:{self.name}".replace(" ", "-")

    def command(self) -> list[str]:
        return [*self.verb.split(), *self.argv]


def case(verb: str, name: str, argv: str | list[str], *expect: str, **kw) -> Case:
    """`argv` as one string split on spaces (no quoting needed by the cases) or a list."""
    words = tuple(argv.split()) if isinstance(argv, str) else tuple(argv)
    return Case(verb, name, words, tuple(expect), **kw)


def gz_corrupt(text: str) -> bytes:
    """A gzip stream whose middle bytes are damaged (the header reads, the data does not)."""
    raw = bytearray(gzip.compress(text.encode() * 50))
    mid = len(raw) // 2
    raw[mid:mid + 16] = b"\xff" * 16
    return bytes(raw)


def nested_json(depth: int = 20_000) -> str:
    return "[" * depth + "]" * depth


def jsonl(*rows: str) -> str:
    return "".join(r + "\n" for r in rows)


def out_cases(verb: str, argv: str, kind: str = "dir") -> list[Case]:
    """The output-path cases of a verb whose argv holds {out}: the wrong kind already there, a
    parent that is a file, a read-only folder. Each must stop before any work, naming the path."""
    if kind == "dir":
        wrong = case(verb, "out-is-a-file", argv, "{tmp}/out", "file", files={"out": "keep me\n"})
    else:
        wrong = case(verb, "out-is-a-folder", argv, "{tmp}/out", "folder", files={"out/keep.txt": "keep\n"})
    blocked = argv.replace("{out}", "{tmp}/blocker/sub/out")
    readonly = argv.replace("{out}", "{readonly}/out")
    return [wrong,
            case(verb, "out-parent-is-a-file", blocked, "{tmp}/blocker", files={"blocker": "x\n"}),
            case(verb, "out-read-only", readonly, "{readonly}", "not writable")]
