"""The data reader loses nothing without a count: one bad record costs one record, named by
file:line, and the counts reach the clean report (issue 16 item 4, issue 17 item 2)."""

from __future__ import annotations

import gzip
import json

import pytest
import zstandard

from lmforge.data.pipeline import process_sources
from lmforge.data.read import DataError, ReadStats, documents_by_source, read_documents
from lmforge.errors import UserError


def _lines(n: int) -> list[bytes]:
    return [json.dumps({"text": f"record {i}"}).encode() + b"\n" for i in range(1, n + 1)]


def test_bad_byte_on_line_41_of_50_loses_that_record_only(tmp_path):
    lines = _lines(50)
    lines[40] = b'{"text": "bad \xff byte"}\n'
    (tmp_path / "a.jsonl").write_bytes(b"".join(lines))
    stats = ReadStats()
    docs = list(read_documents([tmp_path / "a.jsonl"], stats=stats))
    assert len(docs) == 49 and "record 41" not in docs and docs[40] == "record 42"
    assert stats.skipped == 1 and stats.records == 49
    assert stats.problems[0].startswith(f"{tmp_path / 'a.jsonl'}:41: invalid UTF-8")
    with pytest.raises(DataError, match=r"a\.jsonl:41: invalid UTF-8"):
        list(read_documents([tmp_path / "a.jsonl"], strict=True))


def test_bom_keeps_the_first_record_in_jsonl_and_txt(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + b"".join(_lines(3)))
    stats = ReadStats()
    assert list(read_documents([tmp_path / "a.jsonl"], stats=stats)) == ["record 1", "record 2", "record 3"]
    assert stats.skipped == 0
    (tmp_path / "b.txt").write_bytes("\ufeff第一行\n第二行\n".encode())
    assert list(read_documents([tmp_path / "b.txt"], txt_mode="line")) == ["第一行", "第二行"]


def test_each_kind_of_malformed_line_is_counted_and_named(tmp_path):
    rows = [b'{"text": "ok 1"}', b'{broken', b'{"body": "no text field"}', b'{"text": 7}', b'[1, 2]',
            b'{"text": "nul \x00 inside"}', b"[" * 100000, b'{"text": "ok 2"}', b'{"text": "cut off']
    (tmp_path / "m.jsonl").write_bytes(b"\n".join(rows))  # the last line has no newline
    stats = ReadStats()
    assert list(read_documents([tmp_path / "m.jsonl"], stats=stats)) == ["ok 1", "ok 2"]
    assert stats.skipped == 7 and stats.records == 2
    where = [p.split(": ", 1) for p in stats.problems]
    assert [w.rsplit(":", 1)[1] for w, _ in where] == ["2", "3", "4", "5", "6", "7", "9"]
    whys = [why for _, why in where]
    assert whys[0].startswith("invalid JSON") and whys[1] == "missing field 'text'"
    assert whys[2] == "field 'text' is int" and whys[3] == "expected a JSON object, got array"
    assert whys[4].startswith("NUL byte") and whys[5] == "JSON nested too deeply"
    assert whys[6].startswith("truncated last line")


def test_skips_reach_the_clean_report(tmp_path, capsys, real_docs):
    """`data clean --input raw/`: a broken-JSON line and a wrong-field line are counted and named."""
    raw = tmp_path / "raw"
    raw.mkdir()
    zh = "今天天气很好，我们去公园散步吧！" + real_docs["zh"][5][:300]
    good = [json.dumps({"text": t}, ensure_ascii=False) for t in [zh] + real_docs["en"][:3]]
    (raw / "mine.jsonl").write_text("\n".join(good[:2] + ["{not json"] + good[2:] + ['{"content": "x"}']) + "\n",
                                    encoding="utf-8")
    report = process_sources(documents_by_source([raw]), tmp_path / "out")
    src = report["sources"]["mine"]
    assert src["docs_in"] == 4 and src["records_skipped"] == 2
    assert report["skipped"]["mine"]["first_skipped"] == [
        f"{raw / 'mine.jsonl'}:3: invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{raw / 'mine.jsonl'}:6: missing field 'text'"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "2 malformed record(s) skipped" in md and "mine.jsonl:6: missing field 'text'" in md
    assert "skipped 2 malformed record(s) of 6" in capsys.readouterr().err  # the warning names it too
    kept = [json.loads(x)["text"] for x in (tmp_path / "out" / "mine.jsonl").read_text("utf-8").splitlines()]
    assert src["docs_out"] == 4 and kept[0].startswith("今天天气很好，我们去公园散步吧！")  # punctuation kept


@pytest.mark.parametrize("suffix,compress", [(".gz", gzip.compress),
                                             (".zst", lambda b: zstandard.ZstdCompressor().compress(b))])
def test_corrupt_compressed_input_is_a_user_error_naming_the_file(tmp_path, suffix, compress):
    blob = bytearray(compress(b"".join(_lines(2000))))
    for i in range(len(blob) // 3, len(blob) // 3 + 64):
        blob[i] ^= 0x5A  # damage the middle of the stream
    path = tmp_path / f"c.jsonl{suffix}"
    path.write_bytes(bytes(blob))
    with pytest.raises(UserError, match=rf"c\.jsonl\{suffix}(:\d+)?: .*(corrupt|truncated)"):
        list(read_documents([path]))
    good = tmp_path / f"g.jsonl{suffix}"
    good.write_bytes(compress(b"".join(_lines(5))))
    assert list(read_documents([good])) == [f"record {i}" for i in range(1, 6)]


def test_txt_bad_byte_loses_its_paragraph_only(tmp_path):
    (tmp_path / "p.txt").write_bytes(b"one\n\ntwo \xff bad\nstill two\n\nthree\n")
    stats = ReadStats()
    assert list(read_documents([tmp_path / "p.txt"], txt_mode="paragraph", stats=stats)) == ["one", "three"]
    assert stats.skipped == 1 and stats.problems[0].startswith(f"{tmp_path / 'p.txt'}:3: invalid UTF-8")
    assert list(read_documents([tmp_path / "p.txt"], txt_mode="file", stats=ReadStats())) == []
    (tmp_path / "q.txt").write_text("whole\n\nfile\n")
    assert list(read_documents([tmp_path / "q.txt"])) == ["whole\n\nfile\n"]  # as on disk


def test_json_array_file_errors_name_the_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"text": "x"}, {"text": 1}, {"text": "y"}]))
    stats = ReadStats()
    assert list(read_documents([tmp_path / "a.json"], stats=stats)) == ["x", "y"]
    assert stats.problems == [f"{tmp_path / 'a.json'}[1]: field 'text' is not a string"]
    (tmp_path / "b.json").write_text('[{"text": "x"},\n {"text": ]')
    with pytest.raises(DataError, match=r"b\.json:2:\d+: invalid JSON"):
        list(read_documents([tmp_path / "b.json"]))


def test_failing_clean_leaves_no_temp_file(tmp_path):
    def docs():
        yield "A first document that is long enough to pass every filter of the cleaner, surely."
        raise DataError("x.jsonl.gz:7: cannot read past line 6")

    out = tmp_path / "out"
    with pytest.raises(DataError):
        process_sources({"web": docs()}, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither out nor a temp folder
