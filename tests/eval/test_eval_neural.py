"""Sync-C / Sync-D, FVD and CSIM code paths, on tiny random networks with the real interfaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from eval_media import FPS
from tiny_models import tiny_arcface, tiny_i3d, tiny_syncnet

from talkinghead.errors import ModelError
from talkinghead.face.geometry import similarity
from talkinghead.eval.neural.csim import ArcFace, aligned_face, csim, five_points
from talkinghead.face.geometry import ARCFACE_TEMPLATE as TEMPLATE
from talkinghead.eval.neural.fvd import fvd
from talkinghead.eval.neural.syncnet import crop_face, load_syncnet, mfcc, offset_and_confidence, syncnet_scores
from talkinghead.video.reader import read_frames

# torch deprecates TorchScript and its ONNX exporter; the networks users hold are in those formats.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {
        "syncnet": tiny_syncnet(folder / "syncnet_v2.model"),
        "i3d": tiny_i3d(folder / "i3d.pt"),
        "arcface": tiny_arcface(folder / "arcface.onnx"),
    }


def test_mfcc_matches_python_speech_features():
    """Reference rows computed with python_speech_features 0.6: mfcc(x * 32768, 16000)."""
    t = np.arange(1600) / 16000
    x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 1234 * t) * np.linspace(0, 1, 1600)
    expected = np.array([
        [20.526, 20.2025, -2.6229, -18.8873, -22.1697, -21.7768, -26.1024, -28.126, -12.1271, 15.1045, 30.4524, 21.238, 3.0134],
        [20.9251, 22.9689, -13.048, -34.6286, -24.4618, -11.8301, -23.4559, -40.9762, -26.6599, 13.1029, 37.6482, 24.1759, -2.7122],
        [21.2127, 33.9823, -21.4479, -35.6821, -14.749, -1.6128, -18.4827, -37.656, -22.543, 16.5195, 38.3654, 23.555, -2.7504],
    ])
    result = mfcc(x)
    assert result.shape == (13, 9)
    np.testing.assert_allclose(result[:, [0, 4, 8]].T, expected, atol=2e-3)


@pytest.mark.parametrize("late", [-6, 0, 4])
def test_syncnet_offset_search(late):
    """Audio window i sounding like video window i + k: the sound comes first, the video is k late."""
    torch.manual_seed(0)
    lips = torch.randn(80, 8)
    sound = torch.roll(lips, -late, dims=0)  # sound[i] = lips[i + late]
    result = offset_and_confidence(lips, sound)
    assert result.offset_frames == late
    assert result.sync_d == pytest.approx(float(result.distances.min()))
    assert result.sync_c > 1.0 and result.distances.shape == (31,)
    assert int(np.argmin(result.distances)) - 15 == late  # distances are listed by offset -15..15


def test_face_crop_follows_the_protocol():
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[150, 200] = 255  # the face box's centre
    crop = crop_face(frame, 50.0, 200.0, 150.0)  # half-size 50: 140 wide, 140 tall, 50 above the centre
    assert crop.shape == (224, 224, 3)
    y, x = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    assert abs(x - 112) <= 2 and abs(y - 224 * 50 / 140) <= 2
    edge = crop_face(frame, 50.0, 20.0, 20.0)  # near the corner: grey beyond the frame
    assert tuple(edge[0, 0]) == (110, 110, 110)


def test_syncnet_scores_a_video(models, rendered, rendered_points, speech):
    result = syncnet_scores(rendered, rendered_points, speech, FPS, models["syncnet"])
    assert result.distances.shape == (31,) and np.isfinite(result.distances).all()  # offsets -15..15
    assert result.sync_d == pytest.approx(float(result.distances.min()), abs=1e-5)
    assert result.offset_frames == int(np.argmin(result.distances)) - 15
    assert result.sync_c == pytest.approx(float(np.median(result.distances)) - result.sync_d, abs=1e-5)


def test_syncnet_file_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_syncnet(tmp_path / "missing.model")
    wrong = tmp_path / "wrong.model"
    torch.save({"conv.weight": torch.zeros(3)}, wrong)
    with pytest.raises(ModelError, match="is not SyncNet"):
        load_syncnet(wrong)
    text = tmp_path / "text.model"
    text.write_text("not weights")
    with pytest.raises(ModelError, match="is not SyncNet"):
        load_syncnet(text)


def test_fvd(models, rendered, still):
    same = fvd(rendered, rendered, models["i3d"])
    assert same.clips == 267 // 16 and same.fvd == pytest.approx(0.0, abs=1e-6)
    assert fvd(still, rendered, models["i3d"]).fvd > 1e-4


def test_fvd_file_errors(tmp_path, rendered):
    with pytest.raises(ModelError, match="I3D"):
        fvd(rendered, rendered, tmp_path / "missing.pt")
    text = tmp_path / "text.pt"
    text.write_text("not a network")
    with pytest.raises(ModelError, match="TorchScript"):
        fvd(rendered, rendered, text)


def test_arcface_alignment_and_csim(models, rendered, rendered_points):
    frames = list(read_frames(rendered))[:50:10]
    crop = aligned_face(frames[0], rendered_points[0])
    assert crop.shape == (112, 112, 3)
    # The five points land on the template within a few pixels (faces differ from the template).
    matrix = similarity(five_points(rendered_points[0]), TEMPLATE)
    moved = five_points(rendered_points[0]) @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(moved - TEMPLATE).max() < 8
    net = ArcFace(models["arcface"])
    embeddings = np.stack([net.embed(f, rendered_points[i * 10]) for i, f in enumerate(frames)])
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    result = csim(embeddings, embeddings[0])
    assert result.frames == 5 and result.csim_min <= result.csim <= 1.0 + 1e-6
    assert csim(embeddings, -embeddings[0]).csim == pytest.approx(-result.csim, abs=1e-5)  # a cosine, signed
    assert csim(embeddings[:0], embeddings[0]) is None


def test_arcface_file_errors(tmp_path):
    with pytest.raises(ModelError, match="ArcFace"):
        ArcFace(tmp_path / "missing.onnx")
    text = tmp_path / "text.onnx"
    text.write_text("not a network")
    with pytest.raises(ModelError, match="ONNX"):
        ArcFace(text)
