"""The causal pieces on their own: resampling in chunks, the sample ring, the voice model and
phone loop fed as audio arrives, the loud level learnt as it goes, idle motion frame by frame."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from talkinghead.audio.streaming import LoudLevel, PhoneStream, StreamResampler, VoiceStream
from talkinghead.audio.vad import speech_probability
from talkinghead.live.buffers import SampleRing
from talkinghead.motion.streaming import StreamingExpression, StreamingPose, StreamingWander
from talkinghead.motion.visemes import phone_to_viseme
from talkinghead.types import EXPRESSION_CHANNELS, POSE_CHANNELS


@pytest.mark.parametrize("rate_in, rate_out", [(48000, 16000), (24000, 48000), (22050, 16000), (16000, 16000)])
def test_resampling_in_chunks_equals_resampling_whole(rate_in, rate_out):
    rng = np.random.default_rng(0)
    t = np.arange(rate_in) / rate_in
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(rate_in)).astype(np.float32)
    whole = StreamResampler(rate_in, rate_out)
    once = np.concatenate([whole.push(x), whole.flush()])
    pieces, stream, i = [], StreamResampler(rate_in, rate_out), 0
    for size in rng.integers(1, 3000, 400):
        pieces.append(stream.push(x[i : i + size]))
        i += size
    pieces.append(stream.flush())
    chunked = np.concatenate(pieces)
    assert len(once) == len(chunked) == rate_out
    assert np.array_equal(once, chunked)
    reference = resample_poly(x, rate_out, rate_in)
    assert np.abs(once[200:-200] - reference[200:-200]).max() < 0.02  # a band-limited resampler


def test_sample_ring_reads_silence_outside_and_forgets_the_past():
    ring = SampleRing(capacity=8)
    ring.write(0, np.arange(10, dtype=np.float32))
    ring.write(15, np.ones(5, np.float32))  # past the end: silence between
    assert ring.end == 20
    assert np.array_equal(ring.read(8, 17), [8, 9, 0, 0, 0, 0, 0, 1, 1])
    ring.trim(12)
    assert ring.base == 12 and np.array_equal(ring.read(10, 14), [0, 0, 0, 0])
    ring.truncate(16)
    assert ring.end == 16 and np.array_equal(ring.read(15, 18), [1, 0, 0])
    for k in range(3000):  # memory stays bounded while the timeline runs on
        ring.write(ring.end, np.ones(100, np.float32))
        ring.trim(ring.end - 300)
    assert len(ring._data) <= 2048


def test_voice_fed_in_chunks_is_the_whole_clip_voice(speech):
    samples, rate = speech
    x = samples.astype(np.float32) / 32768
    voice = VoiceStream()
    for i in range(0, len(x), 333):
        voice.push(x[i : i + 333])
    whole = speech_probability(x)
    centres = (np.arange(len(whole)) + 0.5) * 512 / 16000
    full = len(x) // 512
    assert np.allclose(voice.at(centres[:full]), whole[:full], atol=1e-5)


def test_phones_heard_as_audio_arrives_agree_with_the_whole_clip(speech):
    from talkinghead.audio.phones import recognize_phones
    from talkinghead.types import AudioClip

    samples, rate = speech
    x = samples.astype(np.float32) / 32768
    voice, phones = VoiceStream(), PhoneStream()
    for i in range(0, len(x), 640):
        voice.push(x[i : i + 640])
        phones.push(x[i : i + 640], i / rate, voice.latest)
        phones.update()
    phones.end_utterance()
    heard = phones.segments(0, len(x) / rate)
    whole = recognize_phones(AudioClip(x))
    # Per 10 ms, the same viseme as the whole-clip recognition most of the time.
    def visemes(segments):
        out = np.array(["rest"] * (len(x) // 160), object)
        for s in segments:
            out[int(s.start * 100) : int(s.end * 100)] = phone_to_viseme(s.phone).name
        return out

    a, b = visemes(heard), visemes(whole)
    speaking = (a != "rest") | (b != "rest")
    assert speaking.sum() > 100
    assert (a[speaking] == b[speaking]).mean() > 0.6


def test_the_loud_level_adapts_to_the_voice_heard():
    level = LoudLevel(25)
    assert level.loud == LoudLevel.PRIOR_DB
    for _ in range(100):
        level.add(-35.0)  # a quiet microphone
    assert level.loud == pytest.approx(-35.0)
    assert level.envelope(np.array([-35.0, -80.0]))[0] == pytest.approx(1.0, abs=1e-3)
    for _ in range(800):
        level.add(-12.0)  # then a loud voice: the last 30 s count
    assert level.loud == pytest.approx(-12.0)


def test_idle_motion_frame_by_frame_follows_the_whole_clip_laws():
    fps, minutes = 25, 2
    rng = np.random.default_rng(1)
    expression = StreamingExpression(rng, fps, gaze="natural", emotion="happy", intensity=1.0)
    pose = StreamingPose(np.random.default_rng(2), fps, emotion="neutral", intensity=1.0)
    ex = np.array([expression.frame(k, speaking=(k // 100) % 2 == 0, pause_began=k % 200 == 106, emphasis=0.0) for k in range(fps * 60 * minutes)])
    po = np.array([pose.frame(k, speaking=0.0, emphasis=0.0) for k in range(fps * 60 * minutes)])
    blink = ex[:, EXPRESSION_CHANNELS.index("blink_left")]
    starts = np.flatnonzero((blink[1:] > 0.5) & (blink[:-1] <= 0.5))
    assert 8 * minutes <= len(starts) <= 25 * minutes  # 10-20 a minute
    assert np.diff(starts).min() >= 1.2 * fps - 1
    assert ex[:, EXPRESSION_CHANNELS.index("smile")].min() == pytest.approx(0.7)  # the emotion is held
    gaze_x = ex[:, EXPRESSION_CHANNELS.index("gaze_x")]
    assert np.abs(gaze_x).max() > 0.35  # a glance away in some pause
    yaw = po[:, POSE_CHANNELS.index("yaw")]
    assert 0.05 < yaw.std() < 3.0 and np.abs(yaw).max() < 15  # idle: small, never frozen
    wander = StreamingWander(np.random.default_rng(3), fps, 2.5)
    assert np.std([wander.next() for _ in range(20000)]) == pytest.approx(1.0, abs=0.15)
