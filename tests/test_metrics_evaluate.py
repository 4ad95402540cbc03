"""The evaluation engine and `m2l2 metrics`: per-clip table, aggregates, honest "not computed", caching."""

import json

import numpy as np
import pytest

from benchmarks.metrics.cache import EmbeddingCache, file_content_hash
from benchmarks.metrics.evaluate import ClipPair, EvalConfig, evaluate_pairs, pairs_from_dirs, parse_metrics
from benchmarks.metrics.sisdr import si_sdr
from m2l2.audio import save_audio
from m2l2.cli import main
from m2l2.errors import M2L2Error

SR = 16000


class CountingEmbedder:
    """A cheap deterministic embedder (frame energies through a fixed projection) that counts its calls."""

    name = "toy"
    sample_rate = 8000

    def __init__(self, tag="v1"):
        self.tag = tag
        self.calls = 0
        self.proj = np.random.default_rng(0).standard_normal((400, 6)).astype(np.float32)

    def identity(self):
        return f"toy|{self.tag}"

    def embed(self, audio):
        self.calls += 1
        n = audio.shape[0] // 400
        return np.abs(audio[: n * 400].reshape(n, 400)) @ self.proj


def _clip(seed, seconds=1.0, channels=2):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = np.sin(2 * np.pi * (200 + 40 * seed) * t)
    return (0.3 * tone + 0.05 * rng.standard_normal((channels, t.size))).astype(np.float32)


def _pairs(n=6):
    rng = np.random.default_rng(99)
    out = []
    for i in range(n):
        ref = _clip(i)
        est = ref + 0.02 * rng.standard_normal(ref.shape).astype(np.float32)
        out.append(ClipPair(f"clip{i}", (ref, SR), (est, SR)))
    return out


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("M2L2_WEIGHTS_DIR", str(tmp_path / "no-weights"))


@pytest.fixture
def folders(tmp_path):
    ref_dir, est_dir = tmp_path / "ref", tmp_path / "est"
    rng = np.random.default_rng(5)
    for i in range(4):
        ref = _clip(i)
        save_audio(ref_dir / "sub" / f"c{i}.wav", ref, SR)
        save_audio(est_dir / "sub" / f"c{i}.flac", ref + 0.03 * rng.standard_normal(ref.shape), SR)
    save_audio(ref_dir / "only_ref.wav", _clip(9), SR)
    save_audio(est_dir / "only_est.wav", _clip(9), SR)
    return ref_dir, est_dir


def test_per_clip_table_and_aggregates(no_weights):
    pairs = _pairs()
    toy = CountingEmbedder()
    result = evaluate_pairs(
        pairs,
        "sisdr,fad-musicnn",
        EvalConfig(n_boot=200, fad_n_boot=50),
        embedders={"fad-musicnn": toy},
        progress=False,
    )
    direct = [si_sdr(p.reference[0], p.estimate[0]).value for p in pairs]
    assert result.per_clip["sisdr"] == pytest.approx(direct)
    s = result.summaries["sisdr"]
    assert s.status == "ok" and s.n == 6 and s.value == pytest.approx(np.mean(direct))
    assert s.ci[0] <= s.value <= s.ci[1]
    fad = result.summaries["fad-musicnn"]
    assert fad.status == "ok" and fad.value >= 0 and fad.details["embedder"] == "toy|v1"
    assert fad.details["frames_reference"] == 6 * 20 and fad.details["embedding_dim"] == 6
    assert len(result.per_clip["fad-musicnn"]) == 6 and all(
        v is not None for v in result.per_clip["fad-musicnn"]
    )
    assert result.provenance["embedders"] == {"fad-musicnn": "toy|v1"}
    rows = result.rows()
    assert rows[0]["clip"] == "clip0" and set(rows[0]) == {"clip", "sisdr", "fad-musicnn"}
    json.dumps(result.to_json(), allow_nan=False)


def test_missing_weights_are_reported_not_substituted(no_weights):
    result = evaluate_pairs(_pairs(3), ["fad-vggish", "fad-clap"], progress=False)
    for name, filename in [
        ("fad-vggish", "vggish-10086976.pth"),
        ("fad-clap", "music_audioset_epoch_15_esc_90.14.pt"),
    ]:
        s = result.summaries[name]
        assert s.status == "not computed" and s.value is None and s.ci is None
        assert s.reason == f"weights missing: {filename}"
        assert s.display() == f"not computed (weights missing: {filename})"
        assert result.per_clip[name] == [None, None, None]
    assert "not computed (weights missing: vggish-10086976.pth)" in result.table()


def test_silent_reference_and_identical_clip_are_reported():
    ref = _clip(1)
    pairs = [
        ClipPair("silent", (np.zeros_like(ref), SR), (ref, SR)),
        ClipPair("identical", (ref, SR), (ref, SR)),
        ClipPair("noisy", (ref, SR), (ref + 0.1 * _clip(2), SR)),
    ]
    s = evaluate_pairs(pairs, "sisdr", EvalConfig(n_boot=50), progress=False).summaries["sisdr"]
    assert s.skipped == {"silent": "silent reference"} and s.n == 2
    assert s.details["n_infinite"] == 1
    noisy = si_sdr(ref, ref + 0.1 * _clip(2)).value
    assert s.value == pytest.approx((100.0 + noisy) / 2)


def test_unknown_metric_and_empty_input():
    with pytest.raises(M2L2Error, match="unknown metric"):
        parse_metrics("sisdr,pesq")
    with pytest.raises(M2L2Error, match="no .* pairs"):
        evaluate_pairs([], "sisdr", progress=False)


def test_pairs_by_relative_path(folders):
    pairs, missing, extra = pairs_from_dirs(*folders)
    assert [p.clip for p in pairs] == [f"sub/c{i}" for i in range(4)]
    assert pairs[0].estimate.suffix == ".flac"
    assert missing == ["only_ref"] and extra == ["only_est"]


def test_cache_hits_misses_and_invalidation(folders, tmp_path):
    pairs, _, _ = pairs_from_dirs(*folders)
    config = EvalConfig(fad_n_boot=20, cache_dir=str(tmp_path / "cache"))
    toy = CountingEmbedder()
    first = evaluate_pairs(pairs, "fad-musicnn", config, embedders={"fad-musicnn": toy}, progress=False)
    assert toy.calls == 8 and first.summaries["fad-musicnn"].details["cache_misses"] == 8
    second = evaluate_pairs(pairs, "fad-musicnn", config, embedders={"fad-musicnn": toy}, progress=False)
    assert toy.calls == 8 and second.summaries["fad-musicnn"].details["cache_hits"] == 8
    assert second.summaries["fad-musicnn"].value == first.summaries["fad-musicnn"].value
    # Changing one estimate re-embeds exactly that file, and the FAD moves.
    save_audio(pairs[0].estimate, 0.5 * _clip(7), SR)
    third = evaluate_pairs(pairs, "fad-musicnn", config, embedders={"fad-musicnn": toy}, progress=False)
    assert toy.calls == 9 and third.summaries["fad-musicnn"].details["cache_misses"] == 1
    assert third.summaries["fad-musicnn"].value != first.summaries["fad-musicnn"].value
    # A different embedder identity never reads another's entries.
    other = CountingEmbedder(tag="v2")
    evaluate_pairs(pairs, "fad-musicnn", config, embedders={"fad-musicnn": other}, progress=False)
    assert other.calls == 8


def test_cache_survives_a_corrupt_entry(tmp_path):
    cache = EmbeddingCache(tmp_path)
    key = cache.key("id", "content")
    cache.put(key, np.ones((2, 3)))
    assert np.array_equal(cache.get(key), np.ones((2, 3))) and cache.hits == 1
    next(tmp_path.rglob("*.npy")).write_bytes(b"garbage")
    assert cache.get(key) is None and cache.misses == 1
    assert cache.key("id", "a") != cache.key("id", "b") != cache.key("id2", "a")
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    h = file_content_hash(f)
    f.write_bytes(b"abd")
    assert file_content_hash(f) != h


def test_cli_json_and_outputs(folders, tmp_path, no_weights, capsys):
    out = tmp_path / "res" / "metrics.json"
    code = main(
        [
            "metrics",
            *map(str, folders),
            "--metrics",
            "sisdr,fad-vggish",
            "--json",
            "--out",
            str(out),
            "--bootstrap",
            "100",
            "--no-progress",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    aggregates = json.loads(captured.out)
    assert set(aggregates) == {"sisdr", "fad-vggish"}
    assert aggregates["sisdr"]["status"] == "ok" and aggregates["sisdr"]["n"] == 4
    assert aggregates["fad-vggish"] == {**aggregates["fad-vggish"], "status": "not computed", "value": None}
    assert "1 reference clips have no estimate" in captured.err
    saved = json.loads(out.read_text())
    assert len(saved["per_clip"]) == 4 and saved["provenance"]["unpaired_references"] == ["only_ref"]
    assert out.with_suffix(".per_clip.csv").read_text().startswith("clip,sisdr,fad-vggish")


def test_cli_table_and_errors(folders, no_weights, capsys):
    assert (
        main(
            [
                "metrics",
                *map(str, folders),
                "--metrics",
                "sisdr,fad-clap",
                "--no-progress",
                "--cache-dir",
                "none",
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert (
        "sisdr" in table and "not computed (weights missing: music_audioset_epoch_15_esc_90.14.pt)" in table
    )
    assert main(["metrics", str(folders[0]), str(folders[0] / "nope"), "--metrics", "sisdr"]) == 2


def _noise_pairs(n=4, sr=44100, seconds=0.5):
    """White-noise references (every mel band far above the 1e-5 clamp) and their half-amplitude copies."""
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        ref = (300.0 * rng.standard_normal((1, int(sr * seconds)))).astype(np.float64)  # no band near 1e-5
        out.append(ClipPair(f"n{i}", (ref, sr), (0.5 * ref, sr)))
    return out


def test_mel_distance_of_a_gain_is_its_log_ratio_per_scale():
    # log10|0.5 X| - log10|X| = log10 0.5 in every mel band that covers an FFT bin; the narrowest bands of
    # the long windows cover none (both sides clamp to 1e-5, difference 0). So the distance is
    # log10 2 · Σ over the 7 scales of the fraction of bands with a nonzero filter.
    from benchmarks.metrics.spectral_distance import DAC_MEL, mel_filterbank

    covered = [
        (mel_filterbank(44100, w, m).max(axis=1) > 0).mean()
        for w, m in zip(DAC_MEL.window_lengths, DAC_MEL.n_mels)
    ]
    assert 6.5 < sum(covered) <= 7
    result = evaluate_pairs(
        _noise_pairs(), "mel-distance,stft-distance", EvalConfig(n_boot=100), progress=False
    )
    mel = result.summaries["mel-distance"]
    assert mel.status == "ok" and mel.n == 4
    assert result.per_clip["mel-distance"] == pytest.approx([np.log10(2.0) * sum(covered)] * 4, rel=1e-9)
    assert mel.details["sample_rate"] == 44100 and mel.details["n_mels"] == [5, 10, 20, 40, 80, 160, 320]
    stft = result.summaries["stft-distance"]
    assert stft.status == "ok" and stft.ci[0] <= stft.value <= stft.ci[1]
    assert stft.value > 2 * 2 * np.log10(2.0)  # log-power term of 2 scales (4·log10 2) plus a magnitude term
    same = evaluate_pairs(
        [ClipPair(p.clip, p.reference, p.reference) for p in _noise_pairs(2)], "stft-distance", progress=False
    )
    assert same.summaries["stft-distance"].value == 0.0


def test_kad_shares_the_fad_embedder_and_cache(tmp_path, no_weights):
    from benchmarks.metrics.evaluate import embed_sources
    from benchmarks.metrics.kad import kad_with_ci

    pairs = _pairs()
    toy = CountingEmbedder()
    config = EvalConfig(n_boot=200, fad_n_boot=10, cache_dir=str(tmp_path / "cache"))
    result = evaluate_pairs(
        pairs, "fad-musicnn,kad-musicnn,kad-vggish", config, embedders={"fad-musicnn": toy}, progress=False
    )
    assert toy.calls == 12  # 6 references + 6 estimates, embedded once for both metrics
    kad = result.summaries["kad-musicnn"]
    assert kad.status == "ok" and kad.details["cache_hits"] == 12
    ref = embed_sources(toy, [p.reference for p in pairs], EmbeddingCache(None))
    est = embed_sources(toy, [p.estimate for p in pairs], EmbeddingCache(None))
    direct = kad_with_ci(ref, est, 200, 0, 0.95)
    assert kad.value == pytest.approx(direct.score) and kad.ci == pytest.approx(direct.ci)
    assert kad.details["bandwidth"] == pytest.approx(direct.bandwidth)
    assert kad.details["bandwidth_rule"].startswith("median pairwise Euclidean distance of the reference")
    assert np.isfinite(kad.value) and kad.ci is not None and kad.ci[0] <= kad.ci[1]
    assert result.per_clip["kad-musicnn"] == [None] * 6
    vgg = result.summaries["kad-vggish"]
    assert vgg.status == "not computed" and vgg.reason == "weights missing: vggish-10086976.pth"
    assert result.provenance["embedders"] == {"fad-musicnn": "toy|v1", "kad-musicnn": "toy|v1"}


def test_cli_new_metrics(folders, no_weights, capsys):
    code = main(
        [
            "metrics",
            *map(str, folders),
            "--metrics",
            "mel-distance,stft-distance,kad-clap",
            "--json",
            "--bootstrap",
            "50",
            "--no-progress",
            "--cache-dir",
            "none",
        ]
    )
    assert code == 0
    aggregates = json.loads(capsys.readouterr().out)
    for m in ("mel-distance", "stft-distance"):
        assert aggregates[m]["status"] == "ok" and aggregates[m]["n"] == 4 and aggregates[m]["value"] > 0
        assert aggregates[m]["ci"][0] <= aggregates[m]["value"] <= aggregates[m]["ci"][1]
    assert aggregates["kad-clap"]["reason"] == "weights missing: music_audioset_epoch_15_esc_90.14.pt"
