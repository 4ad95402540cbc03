"""Weights the way users keep them: huggingface_hub's cache (a fake one laid out as huggingface_hub lays it out,
resolved offline), local folders, downloads only on request, one-line errors, and adapters loading
pretrained files from that cache."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import numpy as np
import pytest

import baselines
from baselines import hub
from m2l2.cli import main as cli_main
from m2l2.errors import M2L2Error

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ENTRY = hub.HubWeights(name="toy", repo_id="someone/toy-codec", files=("config.json", "sub/weights.bin"),
                       licence="Toy Licence 1.0", gated=True)


def require(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as e:
        pytest.skip(f"{module} not importable here ({type(e).__name__}: {e})")


def snapshot(cache: Path, repo_id: str, commit: str = COMMIT, ref: str = "main") -> Path:
    """A repository in huggingface_hub's cache layout: refs/REF names the commit whose snapshot holds the files."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    return snap


def put(snap: Path, file: str, data: bytes) -> Path:
    path = snap / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "hf-hub"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(hub.DOWNLOAD_ENV, raising=False)
    return root


@pytest.fixture
def fake_download(monkeypatch, cache):
    """huggingface_hub.snapshot_download replaced by one that writes the requested files into the cache."""
    require("huggingface_hub")
    import huggingface_hub

    calls = []

    def download(repo_id, revision=None, cache_dir=None, allow_patterns=None, **_):
        calls.append((repo_id, revision, list(allow_patterns or [])))
        snap = snapshot(Path(cache_dir), repo_id, ref=revision or "main")
        for f in allow_patterns or []:
            put(snap, f, f"{repo_id}:{f}".encode())
        return str(snap)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", download)
    return calls


# --- resolution --------------------------------------------------------------------------------------


def test_missing_file_is_one_line_naming_repository_file_licence_and_command(cache):
    with pytest.raises(M2L2Error) as err:
        hub.resolve(ENTRY)
    msg = str(err.value)
    assert "\n" not in msg
    for part in ("someone/toy-codec", "config.json", "Toy Licence 1.0", "m2l2 weights fetch toy", "gated",
                 str(cache)):
        assert part in msg, (part, msg)


def test_cached_files_resolve_offline_with_their_commit_and_sha256(cache):
    snap = snapshot(cache, ENTRY.repo_id)
    put(snap, "config.json", b"{}")
    with pytest.raises(M2L2Error, match="sub/weights.bin"):  # one file of two is not enough
        hub.resolve(ENTRY)
    weights = put(snap, "sub/weights.bin", b"w" * 100)
    found = hub.resolve(ENTRY)
    assert found.commit == COMMIT and found.path("sub/weights.bin") == weights
    assert found.label == f"someone/toy-codec@{COMMIT[:12]}" and hub.status(ENTRY) == "cached"
    assert found.sha256("sub/weights.bin") == hashlib.sha256(b"w" * 100).hexdigest()


def test_blob_names_give_the_sha256_without_reading_the_file(cache):
    snap = snapshot(cache, ENTRY.repo_id)
    put(snap, "config.json", b"{}")
    digest = "f" * 64  # the cache names large files' blobs by their sha256; a symlink points there
    blob = cache / "models--someone--toy-codec" / "blobs" / digest
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"not hashed")
    (snap / "sub").mkdir()
    (snap / "sub" / "weights.bin").symlink_to(blob)
    assert hub.resolve(ENTRY).sha256("sub/weights.bin") == digest


def test_a_pinned_revision_resolves_that_snapshot_only(cache):
    other = "f" * 40
    snap = snapshot(cache, ENTRY.repo_id, commit=other)
    put(snap, "config.json", b"{}")
    put(snap, "sub/weights.bin", b"x")
    (cache / "models--someone--toy-codec" / "refs" / "main").write_text(COMMIT)  # main points elsewhere
    with pytest.raises(M2L2Error):
        hub.resolve(ENTRY)
    assert hub.resolve(ENTRY, revision=other).commit == other


def test_local_folder_wins_and_names_a_missing_file(tmp_path, cache):
    folder = tmp_path / "copy"
    put(folder, "config.json", b"{}")
    with pytest.raises(M2L2Error, match=r"sub/weights.bin.*Toy Licence"):
        hub.resolve(ENTRY, local_dir=folder)
    put(folder, "sub/weights.bin", b"x")
    found = hub.resolve(ENTRY, local_dir=folder)
    assert found.commit is None and found.source == "local folder" and "local folder" in found.label


def test_nothing_downloads_unless_asked(cache, fake_download, monkeypatch):
    with pytest.raises(M2L2Error, match="weights missing"):
        hub.resolve(ENTRY, download=True)  # HF_HUB_OFFLINE=1 wins over the option
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(M2L2Error, match="weights missing"):
        hub.resolve(ENTRY)  # not asked
    assert fake_download == []
    monkeypatch.setenv(hub.DOWNLOAD_ENV, "1")
    found = hub.resolve(ENTRY)
    assert fake_download == [("someone/toy-codec", "main", ["config.json", "sub/weights.bin"])]
    assert found.path("config.json").read_bytes() == b"someone/toy-codec:config.json"


def test_gated_repository_error_says_how_to_get_access(cache, monkeypatch):
    require("huggingface_hub")
    import huggingface_hub
    from huggingface_hub import errors

    def refuse(*_, **__):
        exc = errors.GatedRepoError.__new__(errors.GatedRepoError)  # its __init__ wants an HTTP response
        Exception.__init__(exc, "401 Client Error: access to someone/toy-codec is restricted")
        raise exc

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    with pytest.raises(M2L2Error, match=r"gated.*hf auth login"):
        hub.fetch(ENTRY)


# --- the command line ----------------------------------------------------------------------------------


def test_weights_fetch_is_a_wrapper_over_huggingface_hub(cache, fake_download, monkeypatch, capsys):
    assert cli_main(["weights", "fetch", "dac-44khz"]) == 2  # HF_HUB_OFFLINE=1: refused with the reason
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err and fake_download == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert cli_main(["weights", "fetch", "dac-44khz", "--revision", "v1"]) == 0
    assert fake_download == [("descript/dac_44khz", "v1", ["config.json", "model.safetensors"])]
    assert "descript/dac_44khz@" in capsys.readouterr().out
    assert cli_main(["weights", "list"]) == 0
    assert "dac-44khz" in capsys.readouterr().out


def test_baselines_list_says_what_is_cached_and_the_command_for_the_rest(cache, capsys):
    from baselines.status import inspect_spec

    info = inspect_spec(baselines.specs()["dac-44khz"])
    if info.state == "no-package":
        pytest.skip("transformers not installed: pip install 'm2l2[hub-baselines]'")
    assert info.state == "no-weights" and info.weights == {"dac-44khz": "missing"}
    assert any("m2l2 weights fetch dac-44khz" in a and "hf download descript/dac_44khz" in a for a in info.actions)
    snap = snapshot(cache, "descript/dac_44khz")
    put(snap, "config.json", b"{}")
    put(snap, "model.safetensors", b"")
    assert inspect_spec(baselines.specs()["dac-44khz"]).state == "ready"


def test_tables_skip_a_row_without_weights_with_a_one_line_reason(cache):
    from benchmarks.building import build_model
    from benchmarks.config import ModelSpec

    ae, why = build_model(ModelSpec(name="stable-audio-vae", label="SAO VAE", kind="autoencoder"))
    assert ae is None and "\n" not in why
    if "pip install" not in why:
        assert "stabilityai/stable-audio-open-1.0" in why and "licence" in why and "weights fetch" in why


# --- adapters reading pretrained files from the cache ------------------------------------------------------


def _same_output(a, b, x) -> bool:
    return np.array_equal(a.decode(a.encode(x), x.shape[-1]), b.decode(b.encode(x), x.shape[-1]))


@pytest.mark.parametrize("name, module, config, folder", [
    ("dac-44khz", "transformers", {"encoder_hidden_size": 4, "decoder_hidden_size": 16, "n_codebooks": 2,
                                   "codebook_size": 64, "codebook_dim": 4}, ""),
    ("encodec-24khz", "transformers", {"num_filters": 4, "hidden_size": 16, "num_lstm_layers": 1}, ""),
    ("stable-audio-vae", "diffusers", {"encoder_hidden_size": 16, "downsampling_ratios": [2, 4, 4, 8, 8],
                                       "channel_multiples": [1, 2, 2, 2, 2], "decoder_channels": 16,
                                       "decoder_input_channels": 8}, "vae"),
    ("same-s", "diffusers", {"patch_size": 16, "encoder_channels": 16, "encoder_c_mults": [2],
                             "encoder_strides": [4], "encoder_transformer_depths": [1], "latent_dim": 8,
                             "dim_heads": 8}, "vae"),
])
def test_adapter_loads_pretrained_files_from_the_hub_cache(name, module, config, folder, cache):
    require(module)
    source = baselines.get(name, random_init=True, config=config)
    entry = source.hub_entry
    with pytest.raises(M2L2Error, match=entry.repo_id):
        baselines.get(name)
    snap = snapshot(cache, entry.repo_id)
    source.model.save_pretrained(str(snap / folder) if folder else str(snap))
    ae = baselines.get(name)
    assert ae.pretrained and ae.provenance.weights == f"{entry.repo_id}@{COMMIT[:12]}"
    assert len(ae.provenance.sha256) == 64 and entry.licence in ae.provenance.note
    assert ae.compression_ratio == pytest.approx(source.compression_ratio)
    x = (0.1 * np.random.default_rng(0).standard_normal((ae.channels, 6000))).astype(np.float32)
    assert _same_output(ae, source, x)
    assert baselines.get(name, local_dir=str(snap)).pretrained  # a plain folder laid out like the repository


def test_codicodec_loads_its_checkpoint_from_the_hub_cache(cache, monkeypatch):
    require("codicodec")
    import torch

    from baselines.adapters.codicodec import import_codicodec

    _, _, models, utils = import_codicodec()
    for key, value in {"dim": 64, "heads": 2, "num_layers": 1, "num_layers_encoder": 1, "cond_channels": 64,
                       "frontend_base_channels": 8, "frontend_multipliers_list": [1, 1, 2, 8],
                       "frontend_layers_list": [1, 1, 1, 1], "frontend_encoder_layers_list": [1, 1, 1, 1]}.items():
        monkeypatch.setattr(models, key, value)
    monkeypatch.setattr(utils, "mixed_precision", False)
    source = baselines.get("codicodec", random_init=True, steps=1)
    with pytest.raises(M2L2Error, match=r"SonyCSLParis/codicodec/codicodec.pt.*CC BY-NC"):
        baselines.get("codicodec")
    torch.save({"gen_state_dict": source.codec.gen.state_dict(), "it": np.float64(3.0)},
               snapshot(cache, "SonyCSLParis/codicodec") / "codicodec.pt")
    ae = baselines.get("codicodec", steps=1)
    assert ae.pretrained and ae.provenance.weights.startswith("SonyCSLParis/codicodec@")
    x = (0.1 * np.random.default_rng(0).standard_normal((2, 33000))).astype(np.float32)
    assert torch.equal(ae.encode(x), source.encode(x))
