"""End to end: a miniature pretrained folder (random weights, released layout) → frames."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch
from media import write_wav

from hallo_builders import face_landmarks, portrait
from talkinghead.audio.decode import load_audio
from talkinghead.errors import ModelError
from talkinghead import devices
from talkinghead.render.hallo import separator, speech as hallo_speech
from talkinghead.render.hallo.audio_encoder import frame_windows
from talkinghead.render.hallo.pipeline import CLIP_FRAMES, HalloPipeline
from talkinghead.types import AudioClip

SIZE = 64  # a multiple of 8; the miniature model's native size is 128
STEPS = 2


def speech(seconds: float) -> AudioClip:
    t = np.arange(int(16000 * seconds)) / 16000
    samples = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    return AudioClip(samples=samples.astype(np.float32))


def generate(pipe: HalloPipeline, audio: AudioClip, **options) -> list[np.ndarray]:
    return list(pipe.frames(portrait(SIZE), face_landmarks(SIZE), audio, **{"face_expand_ratio": 1.2, "steps": STEPS, "cfg_scale": 3.5, "fps": 25, **options}))


@pytest.fixture(scope="module")
def two_clips(pipeline):
    """1.1 s of speech: 28 frames, two clips (the second continues from the first)."""
    audio = speech(1.1)
    calls = []
    frames = generate(pipeline, audio, seed=7, progress=lambda done, total: calls.append((done, total)))
    return audio, frames, calls


def test_loads_the_miniature_release_folder(pipeline):
    assert pipeline.device == torch.device("cpu") and pipeline.dtype == torch.float32
    assert pipeline.native_size == 128
    assert pipeline.separator is not None  # audio_separator/Kim_Vocal_2.onnx is present


def test_yields_one_frame_per_video_frame_of_the_audio(two_clips):
    audio, frames, _ = two_clips
    assert len(frames) == audio.frame_count(25.0) == 28
    assert all(f.shape == (SIZE, SIZE, 3) and f.dtype == np.uint8 for f in frames)
    assert len({f.tobytes() for f in frames}) > 1


def test_reports_progress_per_clip_and_step(two_clips):
    _, _, calls = two_clips
    total = 2 * STEPS
    assert calls == [(done, total) for done in range(1, total + 1)]


def test_same_seed_same_frames_other_seed_other_frames(pipeline):
    audio = speech(0.4)  # 10 frames, one clip
    first, again, other = (generate(pipeline, audio, seed=seed) for seed in (7, 7, 8))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_each_clip_is_the_pipeline_clip_generator(pipeline):
    """frames() is `generate_clip` on the portrait conditions, the audio features and the seeded noise."""
    audio = speech(0.5)
    frames = generate(pipeline, audio, seed=3, cfg_scale=3.5)
    portrait_conditions = pipeline.encode_portrait(portrait(SIZE), face_landmarks(SIZE), guidance=True, face_expand_ratio=1.2)
    features = pipeline.encode_speech(audio, 25.0)
    noise = torch.randn((1, 4, CLIP_FRAMES, SIZE // 8, SIZE // 8), generator=torch.Generator().manual_seed(3))
    video = pipeline.generate_clip(portrait_conditions, frame_windows(features, 0, CLIP_FRAMES), None, noise, steps=STEPS, cfg_scale=3.5)
    expected = (video.permute(0, 2, 3, 1) * 255).to(torch.uint8).numpy()
    assert len(frames) == 12 and all(np.array_equal(a, b) for a, b in zip(frames, expected))


def test_runs_without_guidance_and_with_other_weights(pipeline):
    audio = speech(0.3)
    plain = generate(pipeline, audio, cfg_scale=1.0)
    weighted = generate(pipeline, audio, pose_weight=0.0, face_weight=2.0, lip_weight=0.5)
    assert len(plain) == len(weighted) == audio.frame_count(25.0)


def test_without_the_separator_the_speech_goes_to_wav2vec2_directly(pipeline):
    plain = copy.copy(pipeline)
    plain.separator = None  # a weights folder without audio_separator/Kim_Vocal_2.onnx
    audio = speech(0.3)
    assert torch.equal(plain.encode_speech(audio, 25.0), pipeline.audio_encoder(audio.samples, 25.0, CLIP_FRAMES))
    assert len(generate(plain, audio, fps=30.0)) == audio.frame_count(30.0) == 9


def test_face_expand_ratio_reaches_the_face_masks_but_not_the_lip_mask(pipeline):
    tight, wide = (pipeline.encode_portrait(portrait(SIZE), face_landmarks(SIZE), guidance=False, face_expand_ratio=r) for r in (1.2, 1.6))
    assert wide.masks.pose[0].sum() < tight.masks.pose[0].sum()  # a larger face region leaves less pose mask
    assert not torch.equal(wide.face_features, tight.face_features)  # the FaceLocator sees the larger region
    assert all(torch.equal(a, b) for a, b in zip(wide.masks.lip, tight.masks.lip))  # the release's lip box: always 2.0


def spy(monkeypatch, module, name: str, calls: list[str]) -> None:
    """Record the name of `module.name` in `calls` each time it runs."""
    original = getattr(module, name)

    def recorded(*args):
        calls.append(name)
        return original(*args)

    monkeypatch.setattr(module, name, recorded)


def test_the_resampler_follows_the_release_with_and_without_the_separator(pipeline, tmp_path, monkeypatch, caplog):
    """The release resamples with soxr (librosa.load) when it does not separate vocals, with
    ffmpeg when it does; the log says which."""
    t = np.arange(13230) / 44100  # 0.3 s of stereo at 44.1 kHz
    path = write_wav(tmp_path / "speech.wav", np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1) * 9000, rate=44100)
    audio = load_audio(path, max_duration=None)
    used = []
    spy(monkeypatch, hallo_speech, "soxr_resample", used)
    spy(monkeypatch, separator, "ffmpeg_resample", used)
    plain = copy.copy(pipeline)
    plain.separator = None  # a weights folder without audio_separator/Kim_Vocal_2.onnx
    with caplog.at_level(logging.INFO, logger="talkinghead"):
        features = plain.encode_speech(audio, 25.0)
        assert used == ["soxr_resample"] and "soxr" in caplog.text
        assert torch.equal(features, pipeline.audio_encoder(hallo_speech.release_speech(audio), 25.0, CLIP_FRAMES))
        used.clear()
        caplog.clear()
        pipeline.encode_speech(audio, 25.0)
        assert used == ["ffmpeg_resample"] and "ffmpeg" in caplog.text


def test_memory_is_checked_before_any_heavy_work(pipeline, monkeypatch):
    monkeypatch.setattr(devices, "free_memory", lambda device: 1024)
    with pytest.raises(ModelError, match=f"{SIZE}×{SIZE} frames"):
        next(pipeline.frames(portrait(SIZE), face_landmarks(SIZE), speech(0.3), face_expand_ratio=1.2, steps=STEPS, cfg_scale=3.5, fps=25))


@pytest.mark.parametrize(
    "reference, landmarks, message",
    [
        (np.zeros((64, 48, 3), np.uint8), face_landmarks(64), "square"),
        (np.zeros((60, 60, 3), np.uint8), face_landmarks(60), "multiple of 8"),
        (np.zeros((64, 64, 3), np.uint8), np.zeros((68, 2), np.float32), "478"),
    ],
)
def test_rejects_inputs_outside_the_contract(pipeline, reference, landmarks, message):
    with pytest.raises(ValueError, match=message):
        next(pipeline.frames(reference, landmarks, speech(0.3), face_expand_ratio=1.2, steps=STEPS, cfg_scale=3.5, fps=25))
