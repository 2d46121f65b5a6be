"""Vocal separation before wav2vec2 (MDX-Net through onnxruntime), with tiny stand-in models."""

from __future__ import annotations


import numpy as np
import onnxruntime as ort
import pytest
from media import write_wav

import hallo_onnx
from talkinghead.render.hallo.separator import VocalSeparator, _stereo_mix
from talkinghead.types import AudioClip

# A small STFT so the stand-in model stays tiny: chunks of 128·15 samples, 256-bin planes.
N_FFT, HOP, DIM_F, DIM_T = 512, 128, 256, 16


def separator(gain: float, compensate: float = 1.0) -> VocalSeparator:
    session = ort.InferenceSession(hallo_onnx.mdx(DIM_F, DIM_T, gain))
    return VocalSeparator(session, n_fft=N_FFT, hop=HOP, compensate=compensate, dim_f=DIM_F, dim_t=DIM_T)


def test_sizes_come_from_the_model_or_from_the_parameters_when_symbolic():
    fixed = VocalSeparator(ort.InferenceSession(hallo_onnx.mdx(DIM_F, DIM_T)), n_fft=N_FFT, hop=HOP, compensate=1.0, dim_f=1, dim_t=1)
    symbolic = VocalSeparator(ort.InferenceSession(hallo_onnx.mdx("f", "t")), n_fft=N_FFT, hop=HOP, compensate=1.0, dim_f=DIM_F, dim_t=DIM_T)
    assert (fixed.dim_f, fixed.dim_t) == (symbolic.dim_f, symbolic.dim_t) == (DIM_F, DIM_T)
    audio = AudioClip(samples=tone(0.2))
    assert np.allclose(symbolic(audio), fixed(audio), atol=1e-6)


def tone(seconds: float, rate: int = 16000, frequency: float = 1000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_an_identity_network_gives_back_the_mix_at_16k_mono():
    audio = AudioClip(samples=tone(0.5))
    vocals = separator(gain=1.0)(audio)
    assert vocals.dtype == np.float32 and len(vocals) == len(audio.samples)
    middle = slice(800, 7200)  # away from the resampler's edges
    assert np.corrcoef(vocals[middle], audio.samples[middle])[0, 1] > 0.99
    assert abs(np.abs(vocals[middle]).max() - 0.5) < 0.02  # peak 0.5 < 0.9: no limiting


def test_a_silent_network_gives_silence():
    assert np.abs(separator(gain=0.0)(AudioClip(samples=tone(0.3)))).max() < 1e-3


def test_loud_results_are_limited_to_the_release_peak():
    vocals = separator(gain=1.0, compensate=3.0)(AudioClip(samples=tone(0.3)))
    assert 0.85 < np.abs(vocals).max() <= 0.9 + 1e-3


def test_demix_keeps_the_length_and_drops_only_the_lowest_bins():
    mix = np.stack([tone(0.2, 44100, 3000.0), tone(0.2, 44100, 2000.0)])
    out = separator(gain=1.0).demix(mix)
    assert out.shape == mix.shape
    assert np.allclose(out[:, 2000:-2000], mix[:, 2000:-2000], atol=1e-3)
    hum = np.stack([tone(0.2, 44100, 40.0)] * 2)  # in the lowest 3 bins (86 Hz apart here)
    assert np.abs(separator(gain=1.0).demix(hum)[:, 2000:-2000]).max() < 0.05 * 0.5


def test_the_source_file_is_decoded_as_stereo_at_44k(tmp_path):
    path = tmp_path / "speech.wav"
    left, right = tone(0.25, 22050, 300.0), tone(0.25, 22050, 600.0)
    write_wav(path, np.stack([left, right], axis=1) * 32767, rate=22050)
    mix = _stereo_mix(AudioClip(samples=np.zeros(4000, np.float32), source=path))
    assert mix.shape[0] == 2 and abs(mix.shape[1] - 11025) <= 64
    spectrum = np.abs(np.fft.rfft(mix, axis=1))
    peaks = spectrum.argmax(axis=1) * 44100 / mix.shape[1]
    assert peaks == pytest.approx([300.0, 600.0], abs=10)
