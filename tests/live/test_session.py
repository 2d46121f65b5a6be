"""LiveSession fed in real time: steady frames, bounded latency, lips following the speech,
idle life, interrupts, pushed phone timings, and chunks it must refuse."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from live_feed import feed_in_real_time, record

from talkinghead.audio.loudness import loudness_envelope
from talkinghead.audio.streaming import StreamResampler
from talkinghead.errors import AudioError, InputError
from talkinghead.types import EXPRESSION_CHANNELS, LIP_CHANNELS

JAW = LIP_CHANNELS.index("jaw_open")
PRESS = LIP_CHANNELS.index("lips_press")
BLINK = EXPRESSION_CHANNELS.index("blink_left")
FPS = 25


def _best_lag(mouth: np.ndarray, loudness: np.ndarray, reach: int) -> tuple[int, float]:
    """(lag in frames, correlation) maximising corr(mouth[t + lag], loudness[t]); + = mouth late."""
    best = (0, -1.0)
    for lag in range(-reach, reach + 1):
        a = mouth[max(0, lag) : len(mouth) + min(0, lag)]
        b = loudness[max(0, -lag) : len(loudness) - max(0, lag)]
        r = float(np.corrcoef(a, b)[0, 1])
        best = max(best, (lag, r), key=lambda x: x[1])
    return best


def test_speech_in_20ms_chunks_gives_steady_frames_bounded_latency_and_lips_on_the_sound(new_session, speech):
    samples, rate = speech
    session = new_session(lookahead_ms=150)
    feed_in_real_time(session, samples, rate, after=0.4)
    got = record(session, 4.2)
    # Timestamps: exactly one frame period apart; the wall clock keeps pace (no drift).
    stamps = np.array(got.timestamps)
    indices = [f.index for f in got.frames]
    assert np.allclose(stamps, np.array(indices) / FPS) and np.all(np.diff(indices) >= 1)
    skipped = sorted(set(range(indices[-1] + 1)) - set(indices))
    assert session.dropped == len(skipped) <= 4, skipped  # only a machine busy with others costs a frame or so
    drift = (got.received[-1] - got.received[0]) - (stamps[-1] - stamps[0])
    assert abs(drift) < 0.04
    assert np.median(np.diff(got.received)) == pytest.approx(1 / FPS, abs=0.004)
    # Latency from a chunk's arrival to the frame that plays it: the look-ahead, less a chunk.
    latency = np.array(got.latencies)
    assert len(latency) == pytest.approx(len(samples) / (0.02 * rate), abs=2)
    assert np.percentile(latency, 95) < 0.25 and np.median(latency) < 0.2
    # The sound sent with the frames is the speech pushed, resampled, without gaps.
    played = got.audio
    expected = StreamResampler(rate, session.rate).push(samples.astype(np.float32) / 32768)
    start = int(np.argmax(np.abs(played) > 1e-4))
    first = int(np.argmax(np.abs(expected) > 1e-4))
    span = min(len(expected) - first, len(played) - start) - session.rate // 10
    assert span > 2.0 * session.rate
    assert np.allclose(played[start : start + span], expected[first : first + span], atol=1e-6)
    # The jaw follows the loudness of the sound played with each frame, at a lag within the look-ahead.
    sound = np.concatenate([np.zeros(1), played])
    frames = len(got.frames)
    loudness = loudness_envelope(played, session.rate, FPS, frames)
    lag, r = _best_lag(got.lip[:, JAW], loudness, reach=8)
    assert r > 0.45, r
    assert abs(lag) <= round(0.150 * FPS), lag
    assert sound.size  # silence before the speech, too
    assert got.lip[: int(0.3 * FPS), JAW].max() < 0.02  # the mouth rests before anything is said


def test_idle_session_blinks_breathes_and_rests_its_mouth(new_session):
    session = new_session(seed=4)  # this seed's first blink comes at 0.36 s
    got = record(session, 2.0)
    assert got.expression[:, BLINK].max() >= 0.99
    assert np.abs(got.lip).max() < 1e-3
    assert got.pose.std(axis=0).max() > 0.01  # breathing and drift: the head is never frozen
    assert np.abs(got.audio).max() == 0.0
    assert not any(f.speaking for f in got.frames)


def test_interrupt_drops_queued_speech_and_rests_within_100_ms(new_session, speech):
    samples, rate = speech
    session = new_session(lookahead_ms=150)
    session.push_audio(samples, rate)  # all at once, as a TTS engine would
    asked = {}

    def interrupt_later(timestamp, frame):
        if timestamp >= 1.2 and not asked:
            asked["at"] = time.monotonic()
            threading.Thread(target=session.interrupt).start()

    got = record(session, 2.2, on_frame=interrupt_later)
    assert got.lip[: int(1.2 * FPS), JAW].max() > 0.2  # it was speaking
    after = [i for i, t in enumerate(got.received) if t >= asked["at"] + 0.1]
    assert after
    assert got.lip[after, JAW].max() < 0.02
    assert not any(got.frames[i].speaking for i in after)
    assert np.abs(np.concatenate([got.frames[i].audio for i in after])).max() < 1e-4
    assert not session.speaking


def test_pushed_phone_timings_need_no_lookahead_and_close_the_lips(new_session):
    from speech_fixtures import load

    from talkinghead.audio.phones import align_transcript

    fixture = load("words")
    clip = fixture.clip
    samples = clip.samples[: int(3.0 * clip.rate)]
    phones = [(p.phone, p.start, p.end) for p in align_transcript(clip, fixture.transcript) if p.end <= 3.0]
    session = new_session(lookahead_ms=0)
    feed_in_real_time(session, samples, clip.rate, after=0.3, phones=phones)
    got = record(session, 3.6)
    latency = np.array(got.latencies)
    assert np.percentile(latency, 95) < 0.08, np.percentile(latency, 95)
    # Every p, b, m long enough to cover a frame centre shuts the lips on some frame inside it.
    played = got.audio
    placed = np.argmax(np.abs(played) > 1e-4) / session.rate - np.argmax(np.abs(samples) > 1e-4) / clip.rate
    closures = [(s, e) for p, s, e in phones if p in ("P", "B", "M") and e - s >= 1.0 / FPS]
    assert closures
    times = np.array(got.timestamps) + 0.5 / FPS - placed  # each frame's centre in the speech's time
    for s, e in closures:
        inside = (times >= s) & (times < e)
        assert got.lip[inside, PRESS].max() >= 0.99, (s, e)


@pytest.mark.parametrize(
    "samples, rate, message",
    [
        (np.zeros(320, np.int16), 0, "sample rate 0"),
        (np.zeros(320, np.int16), -16000, "sample rate -16000"),
        (np.zeros(320, np.int16), 16000.5, "sample rate 16000.5"),
        (np.zeros(320, np.int16), "16000", "sample rate '16000'"),
        (np.zeros((2, 2, 2), np.int16), 16000, "shape (2, 2, 2)"),
        (np.array(["a", "b"]), 16000, "dtype <U1"),
        (np.full(320, np.nan, np.float32), 16000, "NaN"),
        (np.zeros(320, np.complex64), 16000, "dtype complex64"),
    ],
)
def test_unusable_chunks_are_refused_with_a_reason(new_session, samples, rate, message):
    session = new_session()
    with pytest.raises(AudioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        session.push_audio(samples, rate)


def test_bad_phone_timings_and_pushes_after_close_are_refused(new_session):
    session = new_session()
    chunk = np.zeros(1600, np.int16)
    for phones in ([("QQ", 0.0, 0.05)], [("AA", 0.05, 0.01)], [("AA", 0.0, 0.5)], [("AA",)], ["AA"]):
        with pytest.raises(InputError):
            session.push_audio(chunk, 16000, phones=phones)
    session.push_audio(chunk, 16000, phones=[("sil", 0.0, 0.02), ("AA1", 0.02, 0.1)])
    with pytest.raises(AudioError, match="max-queued"):
        session.push_audio(np.zeros(16000 * 200, np.int16), 16000)
    session.close()
    with pytest.raises(InputError, match="closed"):
        session.push_audio(chunk, 16000)


def test_any_rate_and_channel_count_and_a_close_mid_stream(new_session, speech):
    samples, rate = speech
    stereo = np.repeat(samples[:, None], 2, axis=1)
    session = new_session()
    session.push_audio(stereo[rate : 2 * rate], rate)
    session.push_audio(np.zeros(22050, np.float32), 44100)  # another rate: resampled to the session's
    session.push_audio((np.zeros(800) + 128).astype(np.uint8), 8000)
    threading.Timer(1.2, session.close).start()
    started = time.monotonic()
    got = record(session, 30.0)
    assert time.monotonic() - started < 2.0  # frames() ends promptly once closed
    assert got.lip[:, JAW].max() > 0.05
    assert session.closed
