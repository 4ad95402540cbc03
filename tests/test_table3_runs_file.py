"""Table III's run log (runs.jsonl): a torn last line is the resumable state (cut off with a warning, that run
trained again); any other malformed line or incomplete row stops the run with a one-line error naming it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from benchmarks import store
from benchmarks.experiments.table3.run_log import load_runs
from m2l2.errors import M2L2Error

COMMITTED = Path(__file__).resolve().parent.parent / "results" / "table3" / "default" / "runs.jsonl"


def _row(name: str, **changes) -> dict:
    """A row as `table3.run` writes it, with `changes`."""
    row = {"key": name, "model": "M", "task": "t", "fold": 0, "seed": 0, "scores": {"accuracy": 0.5},
           "n_test": 3, "best_epoch": 1, "epochs_run": 2}
    return {**row, **changes}


def _log(path: Path, *lines: str, end: str = "\n") -> Path:
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


def test_rows_load_by_key_later_rows_win_and_no_file_is_no_runs(tmp_path):
    assert load_runs(tmp_path / "absent.jsonl") == {}
    path = _log(tmp_path / "runs.jsonl", json.dumps(_row("a")), "", json.dumps(_row("b")),
                json.dumps(_row("a", seed=1)))
    runs = load_runs(path)
    assert list(runs) == ["a", "b"] and runs["a"]["seed"] == 1


def test_committed_run_log_is_read_whole():
    if not COMMITTED.is_file():
        pytest.skip("no committed results/")
    keys = {json.loads(line)["key"] for line in COMMITTED.read_text().splitlines() if line.strip()}
    assert set(load_runs(COMMITTED)) == keys


def test_a_torn_last_line_is_cut_off_with_a_warning_and_the_log_resumes(tmp_path, caplog):
    whole = json.dumps(_row("a")) + "\n"
    path = tmp_path / "runs.jsonl"
    path.write_text(whole + json.dumps(_row("b"))[:25], encoding="utf-8")  # a run killed mid-write
    with caplog.at_level(logging.WARNING):
        assert list(load_runs(path)) == ["a"]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{path}:2" in warning and "torn" in warning and "\n" not in warning
    assert path.read_text(encoding="utf-8") == whole  # gone from the file, so appends start on a new line
    store.append_row(path, _row("b"))
    assert list(load_runs(path)) == ["a", "b"]


def test_a_last_row_without_its_newline_is_kept(tmp_path):
    path = _log(tmp_path / "runs.jsonl", json.dumps(_row("a")), json.dumps(_row("b")), end="")
    assert list(load_runs(path)) == ["a", "b"]
    assert path.read_text(encoding="utf-8").endswith("}")  # nothing cut


@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ('{"key": "x", "model"', "malformed line"),  # torn, but not the last line
        ("[1, 2]", "not a JSON object"),
        (json.dumps({k: v for k, v in _row("x").items() if k not in ("scores", "seed")}), "lacks seed, scores"),
        (json.dumps(_row("x", key=7)), "key that is not text"),
        (json.dumps(_row("x", scores=[0.5])), "scores that are not an object"),
    ],
)
def test_a_damaged_line_stops_with_a_one_line_error_naming_it(tmp_path, bad, what):
    torn_tail = json.dumps(_row("c"))[:10]
    path = tmp_path / "runs.jsonl"
    text = json.dumps(_row("a")) + "\n" + bad + "\n" + json.dumps(_row("b")) + "\n" + torn_tail
    path.write_text(text, encoding="utf-8")
    with pytest.raises(M2L2Error) as err:
        load_runs(path)
    message = str(err.value)
    assert what in message and f"({path}:2): delete the file to rerun Table III" in message
    assert "\n" not in message
    assert path.read_text(encoding="utf-8") == text  # a damaged log is left as it was, torn tail included


def test_a_damaged_last_row_that_is_whole_json_is_an_error_not_a_torn_line(tmp_path):
    path = _log(tmp_path / "runs.jsonl", json.dumps(_row("a")), json.dumps({"key": "b"}), end="")
    with pytest.raises(M2L2Error, match=r"lacks model, task, fold, seed, scores, n_test, best_epoch, epochs_run"):
        load_runs(path)

