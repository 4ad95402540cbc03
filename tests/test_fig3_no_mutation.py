"""The Fig. 3 sweep decodes every point with its own decoding options and leaves the adapter it was given as
it was: each point gets a copy (`Music2Latent2AE.with_decoding`) sharing the model and the latent memo."""

from __future__ import annotations

import pytest

from benchmarks.building import build_variant
from benchmarks.config import ModelSpec, config_from_dict
from benchmarks.experiments import fig3
from benchmarks.experiments.base import RunOptions


def _adapter(tmp_path, micro_checkpoint):
    spec = ModelSpec("music2latent2", "Micro", options={"checkpoint": str(micro_checkpoint(tmp_path / "ckpt"))})
    ae, why = build_variant(spec, allow_random=True)
    assert ae is not None, why
    return ae


def test_with_decoding_copies_the_adapter_and_changes_only_the_copy(tmp_path, micro_checkpoint):
    ae = _adapter(tmp_path, micro_checkpoint)
    ae.latent_memo = 4
    before = ae.decoding
    other = ae.with_decoding(sigma_cond=0.1, redecode_previous=False, decode_mode="parallel")
    assert ae.decoding == before and ae.decoding is before
    assert other is not ae
    assert (other.decoding.sigma_cond, other.decoding.redecode_previous, other.decoding.decode_mode) == (
        0.1,
        False,
        "parallel",
    )
    assert other.decoding.steps == before.steps and other.decoding.independent_chunks == before.independent_chunks
    assert other.model is ae.model and other._latents is ae._latents and other.latent_memo == 4


@pytest.mark.slow
def test_the_fig3_sweep_leaves_the_adapter_it_was_given_unchanged(
    tmp_path, micro_checkpoint, tone_clips, monkeypatch
):
    cfg = config_from_dict(
        {
            "name": "mini",
            "dataset": {"name": "folder", "root": str(tone_clips(tmp_path / "clips", n=1, seconds=0.3)), "split": None},
            "cache_dir": str(tmp_path / "cache"),
            "output_dir": str(tmp_path / "out"),
            "allow_random": True,
            "models": [
                {
                    "name": "music2latent2",
                    "label": "Micro",
                    "options": {"checkpoint": str(micro_checkpoint(tmp_path / "ckpt")), "sigma_cond": 0.4},
                }
            ],
            "metrics": ["fad-musicnn"],
            "eval": {"n_boot": 5, "fad_n_boot": 2},
        }
    )
    built_adapters, decoded_with = [], {}
    build, evaluate = fig3.build_music2latent2, fig3.evaluate_point

    def spy_build(*args):
        built, skipped = build(*args)
        built_adapters.extend((ae, ae.decoding) for _, ae in built)
        return built, skipped

    def spy_evaluate(ctx, label, spec, ae, *args):
        decoded_with[label] = (ae, ae.decoding)
        return evaluate(ctx, label, spec, ae, *args)

    monkeypatch.setattr(fig3, "build_music2latent2", spy_build)
    monkeypatch.setattr(fig3, "evaluate_point", spy_evaluate)
    settings = fig3.Fig3Settings(sigma_cond=[0.0], parallel=[0.2], one_step=True, one_step_sigma=0.3)
    fig3.run(cfg, settings, RunOptions(progress=False))

    [(ae, before)] = built_adapters
    assert ae.decoding is before  # the sweep did not replace (or change) the adapter's options
    assert (before.sigma_cond, before.redecode_previous, before.decode_mode) == (0.4, True, "autoregressive")
    got = {label: (d.sigma_cond, d.redecode_previous, d.decode_mode) for label, (_, d) in decoded_with.items()}
    assert got == {
        fig3.point_label("Micro", 0.0, "two-step"): (0.0, True, "autoregressive"),
        fig3.point_label("Micro", 0.2, "parallel"): (0.2, True, "parallel"),
        fig3.point_label("Micro", 0.3, "one-step"): (0.3, False, "autoregressive"),
    }
    assert all(point_ae is not ae and point_ae.model is ae.model for point_ae, _ in decoded_with.values())
