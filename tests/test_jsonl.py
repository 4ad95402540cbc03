"""m2l2.io.read_jsonl: the one reader of the append-only logs, and what it reports of a damaged file."""

from __future__ import annotations

from m2l2.io import read_jsonl


def test_rows_a_malformed_middle_line_and_a_torn_tail(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n\nnot json\n[2]\n{"b": 2')  # blank line, malformed line, a list, torn tail
    jl = read_jsonl(path)
    assert [(n, row) for n, _, row in jl.lines] == [(1, {"a": 1}), (3, None), (4, [2])]
    assert (jl.torn_bytes, jl.torn_line) == (len(b'{"b": 2'), 5)


def test_a_whole_last_row_without_its_newline_is_a_row_and_no_file_is_no_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}')
    jl = read_jsonl(path)
    assert [row for _, _, row in jl.lines] == [{"a": 1}, {"b": 2}] and jl.torn_bytes == 0
    assert read_jsonl(tmp_path / "absent.jsonl").lines == []
