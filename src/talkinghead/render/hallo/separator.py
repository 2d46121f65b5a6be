"""Vocal separation before wav2vec2, as Hallo's inference runs it (optional stage).

`configs/inference/default.yaml` names `audio_separator/Kim_Vocal_2.onnx`, so the release's
`AudioProcessor` first separates the vocals with `audio-separator` 0.17.2 (MDX-Net, default
parameters), writes them as 16-bit WAV at 44.1 kHz, resamples that file to 16 kHz with ffmpeg and
loads it as mono. This module does the same with onnxruntime, torch's STFT and the ffmpeg binary
of imageio-ffmpeg; it runs when the weights folder contains the model.

MDX-Net demixing (audio-separator's `MDXSeparator.demix`, non-"match mix" path): the stereo mix,
peak-limited to 0.9, is cut into chunks of hop·(dim_t - 1) samples with 25 % overlap; each chunk's
STFT (n_fft, hop, periodic Hann, centred; real/imag of both channels as 4 planes; the first
dim_f bins, the lowest 3 zeroed) goes through the network, back through the inverse STFT, and
is Hann-weighted into the output; the result is multiplied by the model's `compensate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from scipy.signal import resample_poly

from ...errors import MediaError
from ...types import ANALYSIS_RATE, AudioClip
from ...video.ffmpeg import last_line, run_ffmpeg

SEPARATION_RATE = 44_100
OUTPUT_RATE = ANALYSIS_RATE
PEAK = 0.9  # `normalization_threshold`
OVERLAP = 0.25
# Kim_Vocal_2's entry of audio-separator's MDX model data (dim_t = 2^8), with its default hop.
KIM_VOCAL_2 = dict(n_fft=7680, hop=1024, compensate=1.009, dim_f=3072, dim_t=256)


class VocalSeparator:
    """AudioClip → (N,) float32 vocals, mono, 16 kHz."""

    def __init__(self, session: ort.InferenceSession, *, n_fft: int, hop: int, compensate: float, dim_f: int, dim_t: int):
        """dim_f / dim_t: frequency bins and frames the network takes, used where the ONNX input
        shape leaves them symbolic."""
        self.session = session
        _, channels, model_f, model_t = session.get_inputs()[0].shape
        if channels != 4:
            raise ValueError(f"an MDX-Net model takes 4 spectrogram planes, this one {channels}")
        self.dim_f = model_f if isinstance(model_f, int) else dim_f
        self.dim_t = model_t if isinstance(model_t, int) else dim_t
        self.n_fft, self.hop, self.compensate = n_fft, hop, compensate
        self.window = torch.hann_window(n_fft, periodic=True)

    @classmethod
    def from_file(cls, path: str | Path, providers: list[str] | None = None) -> "VocalSeparator":
        session = ort.InferenceSession(str(path), providers=providers or ["CPUExecutionProvider"])
        return cls(session, **KIM_VOCAL_2)

    def __call__(self, audio: AudioClip) -> np.ndarray:
        """(len(audio.samples),) float32 vocals at 16 kHz, aligned with the clip's samples."""
        mix = _limit_peak(_stereo_mix(audio))
        vocals = _limit_peak(self.demix(mix) * self.compensate)
        # Written as 16-bit PCM by the release (x · 32767, truncated), then resampled by ffmpeg.
        # The wav2vec2 frame count follows ffmpeg's sample count, as in the release.
        return pcm_mono(ffmpeg_resample((vocals.T * 32767).astype(np.int16), SEPARATION_RATE))

    def demix(self, mix: np.ndarray) -> np.ndarray:
        """(2, N) float32 at 44.1 kHz → (2, N) separated vocals (before `compensate`)."""
        trim = self.n_fft // 2
        chunk = self.hop * (self.dim_t - 1)
        generated = chunk - 2 * trim
        length = mix.shape[1]
        pad = generated + trim - length % generated
        mixture = np.concatenate([np.zeros((2, trim), np.float32), mix, np.zeros((2, pad), np.float32)], axis=1)
        result = np.zeros_like(mixture)
        weight = np.zeros_like(mixture)
        for start in range(0, mixture.shape[1], int((1 - OVERLAP) * chunk)):
            end = min(start + chunk, mixture.shape[1])
            window = np.hanning(end - start).astype(np.float32)
            part = np.zeros((2, chunk), np.float32)
            part[:, : end - start] = mixture[:, start:end]
            result[:, start:end] += self._separate_chunk(part)[:, : end - start] * window
            weight[:, start:end] += window
        with np.errstate(invalid="ignore", divide="ignore"):  # the Hann ends (weight 0) are trimmed
            return (result / weight)[:, trim:-trim][:, :length]

    def _separate_chunk(self, chunk: np.ndarray) -> np.ndarray:
        """(2, hop·(dim_t-1)) waveform → the network's (2, same) estimate."""
        spec = torch.stft(torch.from_numpy(chunk), self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        planes = torch.view_as_real(spec).permute(0, 3, 1, 2).reshape(4, spec.shape[1], spec.shape[2])[:, : self.dim_f]
        planes[:, :3] = 0
        name = self.session.get_inputs()[0].name
        predicted = torch.from_numpy(self.session.run(None, {name: planes[None].numpy()})[0][0])
        full = torch.zeros(4, self.n_fft // 2 + 1, predicted.shape[-1])
        full[:, : self.dim_f] = predicted
        complex_spec = torch.view_as_complex(full.reshape(2, 2, *full.shape[1:]).permute(0, 2, 3, 1).contiguous())
        return torch.istft(complex_spec, self.n_fft, self.hop, window=self.window, center=True).numpy()


def _limit_peak(wave: np.ndarray) -> np.ndarray:
    """Scale down to a peak of 0.9 when louder (audio-separator's `normalize`)."""
    peak = np.abs(wave).max()
    return wave * (PEAK / peak) if peak > PEAK else wave


def _stereo_mix(audio: AudioClip) -> np.ndarray:
    """(2, N) float32 at 44.1 kHz: the source file decoded by ffmpeg when there is one (as the
    release loads the file), else the caller's samples resampled."""
    if audio.source is not None and Path(audio.source).is_file():
        raw = _ffmpeg(["-i", str(audio.source), "-f", "f32le", "-ac", "2", "-ar", str(SEPARATION_RATE), "-"])
        return np.frombuffer(raw, np.float32).reshape(-1, 2).T.copy()
    if audio.original is not None and audio.original_rate:
        samples, rate = audio.original, audio.original_rate
    else:
        samples, rate = audio.samples[:, None], audio.rate
    resampled = resample_poly(samples.astype(np.float64), SEPARATION_RATE, rate, axis=0).astype(np.float32)
    if resampled.shape[1] == 1:
        return np.repeat(resampled.T, 2, axis=0)
    return resampled[:, :2].T.copy()


def ffmpeg_resample(pcm: np.ndarray, rate: int) -> np.ndarray:
    """(N, C) int16 at `rate` → (M, C) int16 at 16 kHz: the release's `resample_audio`
    (`ffmpeg -i IN -ar 16000 OUT.wav`: ffmpeg's default resampler, channels kept, 16-bit PCM)."""
    channels = str(pcm.shape[1])
    args = ["-f", "s16le", "-ar", str(rate), "-ac", channels, "-i", "-", "-ar", str(OUTPUT_RATE), "-f", "s16le", "-"]
    return np.frombuffer(_ffmpeg(args, pcm.tobytes()), np.int16).reshape(-1, pcm.shape[1])


def pcm_mono(pcm: np.ndarray) -> np.ndarray:
    """(M, C) int16 → (M,) float32: librosa's load of the 16 kHz file, which needs no resampling
    (int16 / 32768, then the mean of the channels in float32)."""
    return np.mean(pcm.T.astype(np.float32) / 32768.0, axis=0)


def _ffmpeg(args: list[str], data: bytes = b"") -> bytes:
    done = run_ffmpeg(["-v", "error", *args], input=data)
    if done.returncode != 0:
        raise MediaError(f"ffmpeg could not resample the separated vocals: {last_line(done.stderr)}")
    return done.stdout
