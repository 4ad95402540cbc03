"""Result files do not churn: a rerun that changes no number rewrites no file, and a rewrite keeps the key
order of the file it replaces, so its diff shows only the values that changed."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import yaml

from benchmarks.key_order import follow_order
from benchmarks.store import write_result


def _result(created: str, value: float, sorted_keys: bool) -> dict:
    """A points-style result; `sorted_keys` builds the points as rows read back from JSONL are (sorted)."""
    point = {"label": "m | two-step", "model": "m", "metrics": {"fad": {"value": value, "ci": [0.5, 2.0]}},
             "identity": {"name": "m", "options": {"sigma_cond": 0.4}}, "clips": 3}
    if sorted_keys:
        point = json.loads(json.dumps(point, sort_keys=True))
    return {"table": "fig3", "config_name": "mini", "points": [point],
            "provenance": {"created": created, "git": {"commit": created * 40}, "versions": {"torch": "2"}}}


def test_follow_order_changes_order_only():
    old = {"b": 1, "a": {"y": 1, "x": 2}, "l": [{"q": 1, "p": 2}]}
    new = {"a": {"x": 3, "y": 1, "z": 0}, "l": [{"p": 2, "q": 1}, {"s": 1, "r": 2}], "b": 1, "c": 5}
    out = follow_order(new, old)
    assert out == new  # same keys and values
    assert list(out) == ["b", "a", "l", "c"]
    assert list(out["a"]) == ["y", "x", "z"]  # a key the old file lacks comes after those it had
    assert [list(d) for d in out["l"]] == [["q", "p"], ["s", "r"]]  # an item without a counterpart: as built
    assert follow_order(new, None) == new and list(follow_order(new, None)) == list(new)


def test_same_numbers_in_another_key_order_and_a_new_date_rewrite_nothing(tmp_path):
    path = tmp_path / "fig3" / "mini.json"
    assert write_result(path, _result("1", 1.25, sorted_keys=False))
    before = path.read_bytes()
    assert not write_result(path, _result("2", 1.25, sorted_keys=True))  # reused points, another run
    assert not write_result(path, _result("2", 1.25, sorted_keys=True), force=True)  # recomputed, same numbers
    assert path.read_bytes() == before


def test_a_changed_number_rewrites_only_its_own_lines_and_the_provenance(tmp_path):
    path = tmp_path / "mini.json"
    write_result(path, _result("1", 1.25, sorted_keys=False))
    old = path.read_text().splitlines()
    assert write_result(path, _result("2", 1.5, sorted_keys=True))
    new = path.read_text().splitlines()
    diff = difflib.unified_diff(old, new, lineterm="", n=0)
    changed = [d for d in diff if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    assert sorted(changed) == sorted([
        '-          "value": 1.25,', '+          "value": 1.5,',
        '-    "created": "1",', '+    "created": "2",',
        f'-      "commit": "{"1" * 40}"', f'+      "commit": "{"2" * 40}"',
    ])


def _mini_tables(tmp: Path, clips: Path) -> list[str]:
    config = tmp / "mini.yaml"
    config.write_text(yaml.safe_dump({
        "name": "mini", "dataset": {"name": "folder", "root": str(clips), "split": None},
        "cache_dir": str(tmp / "cache"), "output_dir": str(tmp / "out"),
        "models": [{"name": "identity", "label": "Identity", "kind": "reference", "options": {"channels": 1}}],
        "metrics": ["sisdr"], "eval": {"n_boot": 20, "batch": 1}}))
    return ["tables", "--config", str(config), "--only", "table2", "--no-progress"]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_rerun_and_recompute_with_equal_numbers_leave_every_output_file_untouched(tmp_path, tone_clips, capsys):
    import re
    import shutil

    from m2l2.cli import main

    args = _mini_tables(tmp_path, tone_clips(tmp_path / "clips", 2, 0.5))
    assert main(args) == 0
    err = capsys.readouterr().err  # every run ends with its stage times on stderr
    assert re.search(r"stage times.*\n.*model forward s.*\n  table2 +\d+\.\d +\d+\.\d .*\n  total ", err), err
    first = _snapshot(tmp_path / "out")
    assert "table2/mini.json" in first and "tables/table2_mini.md" in first
    assert main(args) == 0  # everything reused
    assert _snapshot(tmp_path / "out") == first
    shutil.rmtree(tmp_path / "cache")  # a fresh clone: the committed rows, no reconstructions
    assert main(args) == 0
    assert _snapshot(tmp_path / "out") == first
    assert not list((tmp_path / "cache").rglob("*.flac"))  # nothing was decoded: rows and aggregates are current
    rows = "table2/mini/per_clip.jsonl"  # reconstructions and rows gone: decoded and scored again, same numbers
    (tmp_path / "out" / rows).unlink()
    assert main(args) == 0
    again = _snapshot(tmp_path / "out")
    assert again[rows][0] == first[rows][0]  # written again (it was deleted), the same bytes
    del again[rows], first[rows]
    assert again == first  # every other file: same bytes, never rewritten (same modification time)


def test_a_rerun_that_changes_only_the_config_path_rewrites_one_line_of_fig3(tmp_path, tone_clips, micro_checkpoint):
    # Reused points come back from JSONL with sorted keys; written as built, every point's lines moved.
    from m2l2.cli import main

    config = {
        "name": "mini", "dataset": {"name": "folder", "root": str(tone_clips(tmp_path / "clips", 2, 0.3)),
                                    "split": None},
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"), "allow_random": True,
        "models": [{"name": "music2latent2", "label": "Micro",
                    "options": {"checkpoint": str(micro_checkpoint(tmp_path / "ckpt")), "sigma_cond": 0.4}}],
        "metrics": ["fad-musicnn"], "eval": {"n_boot": 10, "fad_n_boot": 5},
        "fig3": {"sigma_cond": [0.0, 0.4], "one_step": False}}
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for path in (first, second):
        path.write_text(yaml.safe_dump(config))
    result = tmp_path / "out" / "fig3" / "mini.json"
    assert main(["tables", "--config", str(first), "--only", "fig3", "--no-progress"]) == 0
    old = result.read_text().splitlines()
    assert main(["tables", "--config", str(second), "--only", "fig3", "--no-progress"]) == 0
    new = result.read_text().splitlines()
    changed = [d for d in difflib.unified_diff(old, new, lineterm="", n=0)
               if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    assert len(old) == len(new) > 100
    assert [d for d in changed if '"config_file"' not in d and '"created"' not in d] == []
    assert len(changed) in (2, 4)  # the configuration path (and the date when the second changed)


def test_result_files_name_the_home_folder_as_a_tilde(tmp_path):
    from benchmarks.store import portable

    result = {"skipped_models": {"M": "weights missing (/home/ann/.cache/m2l2/weights/m.pt): get it"},
              "files": ["/home/ann/x", "/home/anna/y", "/srv/z"], "n": 3}
    assert portable(result, home="/home/ann") == {
        "skipped_models": {"M": "weights missing (~/.cache/m2l2/weights/m.pt): get it"},
        "files": ["~/x", "/home/anna/y", "/srv/z"], "n": 3}
    path = tmp_path / "r.json"
    write_result(path, {"reason": str(Path.home() / ".cache" / "w.pt"), "provenance": {"created": "1"}})
    assert json.loads(path.read_text())["reason"] == "~/.cache/w.pt"
    assert not write_result(path, {"reason": str(Path.home() / ".cache" / "w.pt"), "provenance": {"created": "2"}})
