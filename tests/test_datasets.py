"""Loaders on tiny fixture trees in the real layouts (metadata in tests/fixtures/datasets, audio generated)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks.datasets import load, mtat, musiccaps
from benchmarks.datasets.base import normalize_key
from benchmarks.splits.beatport import diff_splits, make_split, read_split, write_split
from m2l2.errors import M2L2Error

FIX = Path(__file__).parent / "fixtures" / "datasets"


def _tone(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.1 * np.sin(2 * np.pi * 440 * t)
    sf.write(str(path), np.repeat(x[:, None], channels, axis=1), sr, format="WAV")  # WAV bytes, any suffix


def test_musiccaps_missing_clips_are_counted_not_fatal(tmp_path, caplog):
    shutil.copy(FIX / "musiccaps-public.csv", tmp_path)
    _tone(tmp_path / "audio" / "-0Gj8-vB1q4.wav")
    _tone(tmp_path / "audio" / "-0SdAVK79lg_30.wav")  # download scripts' "<ytid>_<start>" naming
    _tone(tmp_path / "audio" / "-0vPFx-wRRI.wav", seconds=60.0, sr=8000)  # a whole video: cropped to 30-40 s
    res = musiccaps.scan(tmp_path)
    assert [it.id for it in res.items] == ["-0Gj8-vB1q4", "-0SdAVK79lg", "-0vPFx-wRRI"]
    assert res.missing == ["-0xzrMun0Rs"]
    assert res.items[0].labels["caption"].endswith('with a comma, and "quotes".')
    with caplog.at_level(logging.WARNING, logger="m2l2.datasets"):
        ev = load("musiccaps", tmp_path, split="eval")
    assert [it.id for it in ev] == ["-0Gj8-vB1q4", "-0vPFx-wRRI"]
    assert "1 of 3 clips are missing" in caplog.text
    audio, sr = ev[1].load(sample_rate=16000, channels=2)
    assert audio.shape == (2, 160000) and sr == 16000


def test_musiccaps_wrong_folder_names_layout(tmp_path):
    with pytest.raises(M2L2Error, match="musiccaps-public.csv"):
        load("musiccaps", tmp_path)


def _mtat_tree(root: Path, with_split: bool) -> None:
    shutil.copy(FIX / "annotations_final.csv", root)
    for line in (FIX / "annotations_final.csv").read_text().splitlines()[1:]:
        _tone(root / "mp3" / line.split("\t")[-1].strip('"'))
    if with_split:
        (root / "split").mkdir()
        paths = [ln.split("\t")[-1].strip('"') for ln in (FIX / "annotations_final.csv").read_text().splitlines()[1:]]
        np.save(root / "split" / "train.npy", np.array([f"0\t{paths[0]}", f"1\t{paths[3]}"]))
        np.save(root / "split" / "valid.npy", np.array([f"2\t{paths[1]}"]))
        np.save(root / "split" / "test.npy", np.array([f"3\t{paths[2]}", f"4\t{paths[4]}"]))


def test_mtat_tab_separated_quoted_tags_with_spaces_and_corrupt_clips(tmp_path):
    _mtat_tree(tmp_path, with_split=True)
    tags, rows = mtat.read_annotations(tmp_path)
    assert "no vocals" in tags and "male vocal" in tags and len(rows) == 7
    items = load("mtat", tmp_path)
    ids = {it.id for it in items}
    assert not ids & mtat.CORRUPT_CLIP_IDS  # the three corrupt clips are dropped even if listed in a split
    assert ids == {"2", "6", "10"}  # clip 20 is outside the split files
    by_id = {it.id: it for it in items}
    assert set(by_id["6"].labels["tags"]) == {"classical", "slow", "no vocals"}
    assert set(by_id["10"].labels["tags"]) == {"male vocal", "female voice"}
    assert mtat.tag_vocabulary(tmp_path)[0] == "guitar"  # most frequent first (4 clips incl. corrupt ones)
    assert [it.id for it in load("mtat", tmp_path, split="test")] == ["10"]
    assert by_id["2"].load()[0].shape[0] == 1


def test_mtat_split_requested_without_split_files_says_where_to_get_them(tmp_path):
    _mtat_tree(tmp_path, with_split=False)
    assert len(load("mtat", tmp_path)) == 4  # no split: every usable clip, split None
    with pytest.raises(M2L2Error, match="sota-music-tagging-models"):
        load("mtat", tmp_path, split="train")


def test_mtat_comma_separated_file_is_rejected_with_layout(tmp_path):
    (tmp_path / "annotations_final.csv").write_text("clip_id,guitar,mp3_path\n1,0,a/b.mp3\n")
    with pytest.raises(M2L2Error, match="tab-separated"):
        load("mtat", tmp_path)


def _beatport_tree(root: Path, keys: dict[str, str]) -> None:
    for name, text in keys.items():
        (root / "keys").mkdir(parents=True, exist_ok=True)
        (root / "keys" / f"{name}.txt").write_text(text + "\n")
        _tone(root / "audio" / f"{name}.mp3")
        (root / "meta").mkdir(exist_ok=True)
        (root / "meta" / f"{name}.json").write_text("{}")


def test_beatport_flats_to_sharps_and_single_key_only(tmp_path):
    _beatport_tree(tmp_path, {"a": "Eb minor", "b": "D minor | F major", "c": "other", "d": "Bb major",
                              "e": "g# Minor"})
    items = load("beatport", tmp_path)
    assert {it.id: it.labels["key"] for it in items} == {"a": "D# minor", "d": "A# major", "e": "G# minor"}
    assert normalize_key("Db maj") == "C# major"


def test_beatport_split_is_seeded_stratified_and_verifiable(tmp_path):
    keys = {f"t{i:03d}": ["C major", "A minor", "F# major"][i % 3] for i in range(60)}
    s1, s2 = make_split(keys), make_split(dict(reversed(list(keys.items()))))
    assert s1 == s2  # independent of listing order
    for k in set(keys.values()):
        names = [n for n in keys if keys[n] == k]
        assert [s1[n] for n in names].count("train") == 16 and [s1[n] for n in names].count("test") == 2
    write_split(s1, tmp_path / "split.csv")
    assert diff_splits(read_split(tmp_path / "split.csv"), s1) == []
    moved = dict(s1, t000="test" if s1["t000"] != "test" else "train")
    assert diff_splits(read_split(tmp_path / "split.csv"), moved)
    _beatport_tree(tmp_path / "bp", {n: k for n, k in list(keys.items())[:12]})
    write_split({"other_track": "train"}, tmp_path / "wrong.csv")
    with pytest.raises(M2L2Error, match="does not match"):
        load("beatport", tmp_path / "bp", split_file=tmp_path / "wrong.csv")


def test_beatport_wrong_folder_names_layout(tmp_path):
    (tmp_path / "audio").mkdir()
    with pytest.raises(M2L2Error, match=r"keys/<name>\.txt"):
        load("beatport", tmp_path)


def _tinysol_tree(root: Path) -> None:
    (root / "annotation").mkdir(parents=True)
    shutil.copy(FIX / "TinySOL_metadata.csv", root / "annotation")
    for line in (FIX / "TinySOL_metadata.csv").read_text().splitlines()[1:]:
        _tone(root / "audio" / line.split(",")[0])


def test_tinysol_labels_and_folds(tmp_path):
    _tinysol_tree(tmp_path)
    items = load("tinysol", tmp_path)
    by_id = {it.id: it for it in items}
    assert by_id["Vn-ord-A4-ff-4c-N"].labels["instrument"] == "Violin"
    assert by_id["Vn-ord-A4-ff-4c-N"].labels["pitch_class"] == "A"
    assert by_id["Acc-ord-Bb3-p-N-N"].labels["pitch_class"] == "A#"
    assert by_id["BTb-ord-F#1-pp-N-N"].labels["midi"] == 30
    assert [it.labels["fold"] for it in load("tinysol", tmp_path, split="valid", fold=1)] == [1]
    assert [it.labels["fold"] for it in load("tinysol", tmp_path, split="test", fold=4)] == [0]
    assert sorted(it.labels["fold"] for it in load("tinysol", tmp_path, split="train", fold=1)) == [0, 3, 4]


def test_tinysol_missing_audio_is_reported_with_layout(tmp_path):
    _tinysol_tree(tmp_path)
    next((tmp_path / "audio").rglob("*.wav")).unlink()
    with pytest.raises(M2L2Error, match="ordinario"):
        load("tinysol", tmp_path)


def test_unknown_dataset_and_split():
    with pytest.raises(M2L2Error, match="unknown dataset"):
        load("nope", "/tmp")
    with pytest.raises(M2L2Error, match="unknown split"):
        load("tinysol", "/tmp", split="dev")


def test_suite_tags_loader_gives_tag_lists_and_the_vocabulary(tmp_path):
    from benchmarks.datasets.suite import multi_hot, tag_vocabulary

    part = tmp_path / "tags"
    _tone(part / "audio" / "swing-0.flac")
    _tone(part / "audio" / "waltz-1.flac")
    (part / "metadata.csv").write_text(
        "id,path,midi_path,split,tags,genre,groove,instrument_families,drums,key,tonic,mode,tempo,tempo_bucket,"
        "soundfont,duration_s\n"
        "swing-0,audio/swing-0.flac,midi/swing-0.mid,train,genre:jazz;instrument:bass;drums;tempo:fast;mode:major,"
        "jazz,swing,bass,yes,D# major,D#,major,150,fast,fluidr3,10.0\n"
        "waltz-1,audio/waltz-1.flac,midi/waltz-1.mid,test,genre:waltz;instrument:synth pad;no drums;tempo:slow;"
        "mode:minor,waltz,waltz,synth pad,no,C# minor,C#,minor,84,slow,musescore,10.0\n")
    with pytest.raises(M2L2Error, match="m2l2 data build --parts tags"):
        tag_vocabulary(tmp_path)
    vocab = ["drums", "genre:jazz", "genre:waltz", "instrument:bass", "instrument:synth pad", "mode:major",
             "mode:minor", "no drums", "tempo:fast", "tempo:slow"]
    (part / "vocabulary.txt").write_text("\n".join(vocab) + "\n")
    items = load("suite-tags", tmp_path)
    assert items[1].labels["tags"] == ["genre:waltz", "instrument:synth pad", "no drums", "tempo:slow", "mode:minor"]
    assert items[0].labels["tempo"] == 150 and items[1].labels["instrument_families"] == ["synth pad"]
    assert [it.id for it in load("suite-tags", tmp_path, split="test")] == ["waltz-1"]
    y = multi_hot(items, tag_vocabulary(tmp_path))
    assert y.shape == (2, 10) and y[0].tolist() == [1, 1, 0, 1, 0, 1, 0, 0, 1, 0] and y.sum() == 10
    items[0].labels["tags"].append("genre:polka")
    with pytest.raises(M2L2Error, match="genre:polka"):
        multi_hot(items, vocab)
