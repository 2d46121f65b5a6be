"""Live sessions, measured: latency, steadiness, lip sync against animate, CPU, capacity.

    PYTHONPATH=src python benchmarks/live_latency.py              # latency, quality, CPU share, capacity (~2 min)
    PYTHONPATH=src python benchmarks/live_latency.py --soak 600   # and 10 minutes of speech with idle gaps

Speech is assets/speech.wav pushed in 20 ms chunks at the pace it plays, onto the 512x512
sample portrait. Latency: from a chunk's arrival (push_audio) to the moment the frame that
plays its first sample is handed to the reader. The machine's load average is printed with
the figures: on a shared machine they move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from talkinghead.audio.phones import align_transcript  # noqa: E402
from talkinghead.config import AnimateConfig  # noqa: E402
from talkinghead.engine import Engine, load_portrait  # noqa: E402
from talkinghead.live import LiveSession  # noqa: E402
from talkinghead.live.hosting import play_in_real_time  # noqa: E402
from talkinghead.types import AudioClip  # noqa: E402

SPEECH = ROOT / "assets" / "speech.wav"
TRANSCRIPT = (ROOT / "assets" / "speech.txt").read_text()
PORTRAIT = ROOT / "assets" / "portrait.png"
FPS = 25


def speech() -> tuple[np.ndarray, int]:
    with wave.open(str(SPEECH)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        if w.getnchannels() > 1:
            samples = samples.reshape(-1, w.getnchannels())[:, 0]
        return samples.copy(), w.getframerate()


def feed(session: LiveSession, samples: np.ndarray, rate: int, *, phones=None, gaps=(), stop=None, chunk_s=0.02, after=0.5) -> threading.Thread:
    """Push `samples` in real time from `after` s on (once the session is being read: speech
    pushed before anyone reads waits for its reader), again after each gap in `gaps`."""

    def run():
        for gap in (after, *gaps):
            if stop is not None and stop.wait(gap):
                return
            if not play_in_real_time(session, samples, rate, chunk_s=chunk_s, phones=phones, stop=stop):
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_session(session: LiveSession, seconds: float, *, keep=False, every=None):
    """Read frames for `seconds`; returns latencies, frames (images when `keep`), timing."""
    latencies, frames, received = [], [], []
    cpu0, wall0 = time.process_time(), time.monotonic()
    for timestamp, frame in session.frames():
        now = time.monotonic()
        received.append(now)
        latencies += [now - a for a in frame.arrivals]
        frames.append(frame if keep else None)
        if every is not None:
            every(timestamp, frame, now)
        if timestamp >= seconds:
            break
    return {
        "latency": np.array(latencies), "frames": frames, "received": np.array(received),
        "cpu": time.process_time() - cpu0, "wall": time.monotonic() - wall0,
    }


def load() -> str:
    """The machine's load average over the last minute (2 cores: above 2, others wait for a core)."""
    return f"{os.getloadavg()[0]:.1f}"


def pct(values: np.ndarray) -> str:
    return f"{1000 * np.median(values):.0f} / {1000 * np.percentile(values, 95):.0f}" if len(values) else "–"


def latency(engine, portrait, samples, rate, phones) -> list[str]:
    rows = []
    for name, options, timings in [
        ("recognised phones, default look-ahead (150 ms)", {}, None),
        ("recognised phones, look-ahead 100 ms", {"lookahead_ms": 100}, None),
        ("pushed phone timings, look-ahead 0", {"lookahead_ms": 0}, phones),
        ("pushed phone timings, look-ahead 40 ms (the lips' lead)", {"lookahead_ms": 40}, phones),
    ]:
        session = LiveSession(portrait, engine=engine, **options)
        feed(session, samples, rate, phones=timings)
        got = run_session(session, len(samples) / rate + 1.0)
        session.close()
        rows.append(f"| {name} | {pct(got['latency'])} | {1000 * got['latency'].max():.0f} | {session.dropped} | {load()} |")
    return rows


def quality(engine, portrait, samples, rate, runs: int, rest: str) -> list[str]:
    from talkinghead.api import Animator
    from talkinghead.eval.sync import sync_score

    clip = AudioClip(samples.astype(np.float32) / 32768, rate) if rate == 16000 else None
    animator = Animator(PORTRAIT, engine=engine, rest=rest)
    motion = animator.motion(SPEECH)
    offline = sync_score(animator.frames(motion), clip or animator.load_audio(SPEECH), fps=FPS)
    rows = [f"| animate (offline) | {offline.offset_frames:+d} | {offline.peak_correlation:.2f} | {offline.confidence:.2f} | – | {load()} |"]
    for look in [150] * runs + [100] * runs:
        session = LiveSession(portrait, engine=engine, lookahead_ms=look, rest=rest)
        feed(session, samples, rate)
        got = run_session(session, len(samples) / rate + 1.1, keep=True)
        session.close()
        # The recording, as a recorder at the session's fps keeps it: a skipped frame repeats
        # the one before; the sound is the sound sent, from the first frame that plays speech.
        by_index = {f.index: f for f in got["frames"]}
        first = min(f.index for f in got["frames"] if f.speaking)
        count = round(len(samples) / rate * FPS)
        images, shown = [], by_index[first].image
        for k in range(first, first + count):
            shown = by_index[k].image if k in by_index else shown
            images.append(shown)
        sound = np.concatenate([f.audio for f in got["frames"] if first <= f.index < first + count])
        live = sync_score(images, AudioClip(_to16k(sound, session.rate)), fps=FPS)
        change = (live.confidence - offline.confidence) / offline.confidence
        rows.append(
            f"| live, look-ahead {look} ms (recorded; {session.dropped} frames skipped) | {live.offset_frames:+d} | "
            f"{live.peak_correlation:.2f} | {live.confidence:.2f} | {100 * change:+.0f} % | {load()} |"
        )
    return rows


def _to16k(samples: np.ndarray, rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    return resample_poly(samples, 16000, rate).astype(np.float32)


def cpu_and_capacity(engine, portrait, samples, rate, seconds: float, counts=(1, 2, 3, 4)) -> list[str]:
    rows = []
    for n in counts:
        sessions = [LiveSession(portrait, engine=engine, seed=i) for i in range(n)]
        results = [None] * n
        stop = threading.Event()

        def read(i):
            results[i] = run_session(sessions[i], seconds)

        threads = [threading.Thread(target=read, args=(i,)) for i in range(n)]
        feeders = [feed(s, samples, rate, gaps=(1.0,) * 3, stop=stop) for s in sessions]
        cpu0, wall0 = time.process_time(), time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        stop.set()
        for s in sessions:
            s.close()
        frames = [len(r["frames"]) + s.dropped for r, s in zip(results, sessions)]
        delivered = [len(r["frames"]) / (r["received"][-1] - r["received"][0]) * (len(r["frames"]) - 1) / len(r["frames"]) for r in results]
        dropped = sum(s.dropped for s in sessions)
        p95 = np.percentile(np.concatenate([r["latency"] for r in results]), 95)
        rows.append(
            f"| {n} | {min(delivered):.1f} | {dropped} of {sum(frames)} | {1000 * p95:.0f} | {100 * cpu / wall:.0f} % | {100 * cpu / wall / n:.0f} % | {load()} |"
        )
        del feeders
    return rows


def soak(engine, portrait, samples, rate, seconds: float) -> dict:
    """`seconds` of speech with idle gaps of 2-5 s: fps per minute, latency, A/V offset, memory."""
    session = LiveSession(portrait, engine=engine)
    rng = np.random.default_rng(0)
    gaps = tuple(rng.uniform(2, 5, size=int(seconds / (len(samples) / rate + 2)) + 2))
    stop = threading.Event()
    feed(session, samples, rate, gaps=gaps, stop=stop)
    minutes: dict[int, dict] = {}
    audio = [0]

    def every(timestamp, frame, now):
        m = minutes.setdefault(int(timestamp // 60), {"frames": 0, "latency": [], "rss": rss_mib(), "first": now})
        m["frames"] += 1
        m["last"] = now
        m["latency"] += [now - a for a in frame.arrivals]
        audio[0] += len(frame.audio)

    started = time.monotonic()
    got = run_session(session, seconds, every=every)
    stop.set()
    session.close()
    frames = len(got["frames"])
    last = got["frames"] and None
    del last
    video_s = (frames + session.dropped) / FPS
    audio_s = audio[0] / session.rate
    wall = got["received"][-1] - got["received"][0]
    return {
        "seconds": seconds, "frames": frames, "dropped": session.dropped,
        "fps_per_minute": [round(m["frames"] / max(1e-9, m["last"] - m["first"]) * (m["frames"] - 1) / m["frames"], 2) for m in minutes.values()],
        "latency_p95_ms_per_minute": [round(1000 * float(np.percentile(m["latency"], 95)), 0) if m["latency"] else None for m in minutes.values()],
        "rss_mib_per_minute": [round(m["rss"], 0) for m in minutes.values()],
        "av_offset_ms_at_end": round(1000 * (audio_s - video_s), 3),
        "clock_drift_ms_at_end": round(1000 * (wall - (frames + session.dropped - 1) / FPS), 1),
        "took_s": round(time.monotonic() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soak", type=float, default=0, metavar="SECONDS", help="also run a session this long (600: the 10-minute figure)")
    parser.add_argument("--skip", nargs="*", default=(), choices=("latency", "quality", "capacity"))
    parser.add_argument("--sessions", type=int, nargs="*", default=(1, 2, 3, 4), help="session counts of the capacity test")
    parser.add_argument("--capacity-seconds", type=float, default=12.0)
    parser.add_argument("--rest", default="closed", choices=("photo", "closed"), help="the mouth's rest in the lip-sync comparison (the sample smiles: with its own parted lips at rest the score says little, see Limitations)")
    parser.add_argument("--quality-runs", type=int, default=2, help="live recordings per look-ahead (the score of a 10 s clip varies a little)")
    parser.add_argument("--json", type=Path, help="also write the soak's figures here")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    engine = Engine()
    portrait = load_portrait(PORTRAIT, AnimateConfig())
    samples, rate = speech()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start; speech {len(samples) / rate:.1f} s at {rate} Hz")
    if "latency" not in args.skip:
        clip = AudioClip(samples.astype(np.float32) / 32768, rate)
        phones = [(p.phone, p.start, p.end) for p in align_transcript(clip, TRANSCRIPT)]
        print("\n| input | latency median / p95 (ms) | max (ms) | frames dropped | load |\n|---|---|---|---|---|")
        print("\n".join(latency(engine, portrait, samples, rate, phones)))
    if "quality" not in args.skip:
        print(f"\nrest: {args.rest}")
        print("\n| lip sync (talkinghead.eval.sync) | offset | peak r | confidence | confidence vs animate | load |\n|---|---|---|---|---|---|")
        print("\n".join(quality(engine, portrait, samples, rate, args.quality_runs, args.rest)))
    if "capacity" not in args.skip:
        print(f"\n| sessions at once ({args.capacity_seconds:g} s, speech with gaps) | slowest fps | frames dropped | latency p95 (ms) | CPU (of one core) | CPU per session | load |\n|---|---|---|---|---|---|---|")
        print("\n".join(cpu_and_capacity(engine, portrait, samples, rate, args.capacity_seconds, args.sessions)))
    if args.soak:
        result = soak(engine, portrait, samples, rate, args.soak)
        print("\nsoak:", json.dumps(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
