"""The engine behind every front end: the renderer contract and registry, options refused per
renderer, results, progress, cancellation from another thread, and safe concurrency."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from media import PORTRAIT, SPEECH, write_wav

from talkinghead import AnimateConfig, CancelToken, Cancelled, Engine, InputError, Work, register_renderer
from talkinghead.cli import main
from talkinghead.face.crop import face_crop
from talkinghead.image import load_image
from talkinghead.render.base import renderer_names
from talkinghead.video.ffmpeg import probe_media
from talkinghead.video.reader import read_frames

FPS = 25


class StripesRenderer:
    """A third renderer, defined here: frame t is the photo with a grey bar at row 4·t.

    It reads no motion, honours --seed (the bar's grey level) and nothing else.
    """

    name = "stripes"
    reads_motion = False
    options = frozenset({"seed"})
    device = "the test"
    square_side = None

    @classmethod
    def load(cls, options):
        return cls()

    def prepare(self, portrait):
        return portrait.image

    def work(self, request):
        return Work(request.frame_count, "frame")

    def frames(self, photo, request, progress):
        grey = 40 + request.options["seed"] % 200
        for t in range(request.frame_count):
            frame = photo.copy()
            frame[4 * t : 4 * t + 16] = grey
            progress(t + 1, request.frame_count, "frame")
            yield frame


class SquareGreyRenderer(StripesRenderer):
    """Works on a 64² face crop only, which it paints flat grey: the engine crops and pastes back."""

    name = "square-grey"
    square_side = 64

    def frames(self, crop, request, progress):
        assert crop.shape == (64, 64, 3)
        for t in range(request.frame_count):
            progress(t + 1, request.frame_count, "frame")
            yield np.full_like(crop, 128)


class FailingRenderer(StripesRenderer):
    """Fails at frame FAIL_AT, and records that its frame loop was closed."""

    name = "failing"
    FAIL_AT = 20
    closed: list[int] = []

    def frames(self, photo, request, progress):
        made = 0
        try:
            for frame in super().frames(photo, request, progress):
                if made == self.FAIL_AT:
                    raise RuntimeError("renderer failed at frame 20")
                made += 1
                yield frame
        finally:
            self.closed.append(made)


@pytest.fixture(scope="module", autouse=True)
def test_renderers():
    register_renderer(StripesRenderer.name, StripesRenderer)
    register_renderer(SquareGreyRenderer.name, SquareGreyRenderer)
    register_renderer(FailingRenderer.name, FailingRenderer)


@pytest.fixture(scope="module")
def engine():
    return Engine()


@pytest.fixture
def speech(tmp_path):
    """2 s of the bundled speech, as a file."""
    from talkinghead.audio.decode import load_audio

    clip = load_audio(SPEECH, max_duration=None)
    return write_wav(tmp_path / "speech.wav", clip.samples[: 2 * clip.rate] * 32767, clip.rate)


def test_a_registered_renderer_renders_through_the_cli(speech, tmp_path, capsys):
    assert "stripes" in renderer_names()
    out = tmp_path / "stripes.mp4"
    code = main(["animate", str(PORTRAIT), str(speech), "-o", str(out), "--backend", "stripes", "--seed", "60", "--no-score"])
    assert code == 0, capsys.readouterr().err
    assert "stripes renderer on the test" in capsys.readouterr().err
    frames = list(read_frames(out))
    assert len(frames) == 2 * FPS
    for t in (0, 10, 40):  # the bar is where frame t puts it, at --seed's grey
        bar = frames[t][4 * t + 4 : 4 * t + 12].astype(int)
        assert abs(bar.mean() - 100) < 4, t


def test_a_square_crop_renderer_is_cropped_and_pasted_back(engine, portrait, speech, tmp_path):
    config = AnimateConfig(backend=_backend("square-grey"), output=_output(score=False, frames_dir=tmp_path / "png"))
    subject = engine.prepare(portrait, config)
    engine.render(subject, speech, tmp_path / "grey.mp4", config)
    frame = load_image(tmp_path / "png" / "frame_000001.png").astype(int)  # lossless, unlike the MP4
    photo = portrait.image.astype(int)
    x0, y0, x1, y1 = portrait.face.box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    assert np.abs(frame[cy - 10 : cy + 10, cx - 10 : cx + 10] - 128).max() <= 1  # the crop's middle: the renderer's grey
    # Beyond the crop (--face-expand-ratio's framing), the photo's own pixels.
    crop = face_crop(portrait.face, portrait.size, size=64, face_expand_ratio=1.2)
    left, top = crop.to_image[:, 2]
    right, bottom = np.ceil(np.array([left, top]) + 64 / crop.scale).astype(int) + 1
    assert right < 512 and bottom < 512
    assert (frame[bottom:] == photo[bottom:]).all() and (frame[:, right:] == photo[:, right:]).all()
    assert (frame[:bottom, :right] != photo[:bottom, :right]).any()


@pytest.mark.parametrize(
    ("backend", "option"),
    [
        (["--backend", "stripes"], ["--transcript", "hello there"]),
        (["--backend", "stripes"], ["--lip-weight", "0.5"]),
        (["--backend", "warp"], ["--steps", "10"]),
        (["--backend", "warp"], ["--cfg-scale", "2"]),
        # Refused before the weights are looked at: the folder does not even hold them.
        (["--backend", "hallo", "--weights", "."], ["--gaze", "natural"]),
        (["--backend", "hallo", "--weights", "."], ["--emotion", "happy"]),
    ],
)
def test_an_option_the_renderer_ignores_is_refused(backend, option, speech, tmp_path, capsys):
    out = tmp_path / "x.mp4"
    code = main(["animate", str(PORTRAIT), str(speech), "-o", str(out), *backend, *option])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and f"{option[0]} is not used by the {backend[1]} renderer" in err
    assert not out.exists()


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(InputError, match=r"'nope' is neither a renderer \(warp, hallo.*\) nor a dub backend \(warp, latentsync"):
        AnimateConfig.from_options(backend="nope")


def test_config_replace_validates_and_copies():
    base = AnimateConfig()
    changed = base.replace(lip_weight=0.5, crf=20)
    assert (changed.motion.lip_weight, changed.output.crf) == (0.5, 20)
    assert (base.motion.lip_weight, base.output.crf) == (1.0, 18)  # the original is untouched
    with pytest.raises(InputError, match="--lip-weight 3 is out of range"):
        base.replace(lip_weight=3)
    with pytest.raises(TypeError, match="unknown option 'lip_wieght'"):
        base.replace(lip_wieght=1)


def test_result_describes_what_was_made(engine, portrait, speech, tmp_path, capsys):
    out = tmp_path / "json.mp4"
    assert main(["animate", str(PORTRAIT), str(speech), "-o", str(out), "--json", "--transcript", "Hello! I am a talking portrait"]) == 0
    result = json.loads(capsys.readouterr().out)
    info = probe_media(out)
    assert result["output"] == str(out.resolve())
    assert result["frames"] == 2 * FPS == round(info.duration * FPS)
    assert (result["fps"], result["duration"], result["size"]) == (FPS, 2.0, [512, 512])
    assert (result["renderer"], result["device"], result["motion"]) == ("warp", "the CPU", "aligned")
    assert set(result["stages"]) == {"portrait", "audio", "motion", "render", "encode", "score", "total"}
    assert all(seconds >= 0 for seconds in result["stages"].values())
    assert result["stages"]["total"] >= result["stages"]["render"] > 0
    assert set(result["score"]) == {"offset_frames", "peak_correlation", "confidence"}
    assert result["score_note"].startswith("lip sync: offset")


def test_progress_counts_every_frame(engine, portrait, speech, tmp_path):
    config = AnimateConfig(output=_output(score=False))
    calls = []
    engine.render(engine.prepare(portrait, config), speech, tmp_path / "p.mp4", config, progress=lambda *call: calls.append(call))
    assert calls == [(t, 2 * FPS, "frame") for t in range(1, 2 * FPS + 1)]


def test_cancelled_from_another_thread_stops_within_a_frame_and_leaves_nothing(engine, portrait, speech, tmp_path):
    config = AnimateConfig(output=_output(score=False))
    subject = engine.prepare(portrait, config)
    token, done, cancelled_at = CancelToken(), [], []

    def progress(count, total, unit):
        done.append(count)
        if count == 10:
            cancelled_at.append(count)
            threading.Thread(target=token.cancel).start()
            threading.Event().wait(0.2)  # the other thread cancels while this frame is in flight

    with pytest.raises(Cancelled):
        engine.render(subject, speech, tmp_path / "c.mp4", config, progress=progress, cancel=token)
    assert max(done) <= cancelled_at[0] + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav"]  # no video, no partial file


def test_a_renderer_failing_mid_run_raises_its_own_error_and_leaves_nothing(engine, portrait, speech, tmp_path):
    # Frames are made on a thread ahead of the encoder: its error still reaches the caller.
    config = AnimateConfig.from_options(backend="failing", score=False)
    FailingRenderer.closed.clear()
    with pytest.raises(RuntimeError, match="renderer failed at frame 20"):
        engine.render(engine.prepare(portrait, config), speech, tmp_path / "f.mp4", config)
    assert FailingRenderer.closed == [FailingRenderer.FAIL_AT]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav"]


def test_two_requests_at_once_give_the_bytes_of_one_after_the_other(engine, speech, tmp_path):
    requests = [dict(seed=1, pose_weight=1.5), dict(seed=2, emotion="happy")]

    def run(name, options):
        config = AnimateConfig.from_options(**options)
        subject = engine.prepare(PORTRAIT, config)  # face analysis too runs on both threads at once
        engine.render(subject, speech, tmp_path / name, config)

    for k, options in enumerate(requests):
        run(f"alone-{k}.mp4", options)
    threads = [threading.Thread(target=run, args=(f"together-{k}.mp4", o)) for k, o in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for k in range(len(requests)):
        assert (tmp_path / f"together-{k}.mp4").read_bytes() == (tmp_path / f"alone-{k}.mp4").read_bytes()
    assert (tmp_path / "alone-0.mp4").read_bytes() != (tmp_path / "alone-1.mp4").read_bytes()


def test_options_of_the_portrait_are_fixed_per_subject(engine, portrait, speech, tmp_path):
    subject = engine.prepare(portrait, AnimateConfig())
    with pytest.raises(TypeError, match="face_expand_ratio change the portrait"):
        engine.render(subject, speech, tmp_path / "x.mp4", AnimateConfig.from_options(face_expand_ratio=1.5))


def _backend(name: str):
    from talkinghead.config import BackendConfig

    return BackendConfig(backend=name)


def _output(**options):
    from talkinghead.config import OutputConfig

    return OutputConfig(**options)
