"""Hallo's front ends: region masks, face identity embedding, wav2vec2 features per frame."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

import hallo_onnx
from hallo_builders import WAV2VEC_TINY, portrait
from talkinghead.render.hallo.audio_encoder import Wav2Vec2FrameEncoder, frame_windows
from talkinghead.face.geometry import ARCFACE_TEMPLATE
from talkinghead.face.landmarks import FACE_OVAL, LIPS_OUTER
from talkinghead.render.hallo.face_embedding import FaceEmbedder, arcface_normalisation
from talkinghead.render.hallo.masks import hallo_masks, level_sides

# ------------------------------------------------------------------------------------- masks


def boxed_landmarks(face: tuple[int, int, int, int], lips: tuple[int, int, int, int]) -> np.ndarray:
    """Landmarks whose face oval spans `face` (x0, y0, x1, y1) and outer lips span `lips`."""
    points = np.zeros((478, 3), np.float32)
    for indices, (x0, y0, x1, y1) in ((FACE_OVAL, face), (LIPS_OUTER, lips)):
        points[list(indices), :2] = ((x0 + x1) / 2, (y0 + y1) / 2)
        points[indices[0], :2] = (x0, y0)
        points[indices[1], :2] = (x1, y1)
    return points


def square_masks(landmarks: np.ndarray, size: int):
    return hallo_masks(landmarks, (size, size), size, face_expand_ratio=1.2)


def test_level_sides_follow_the_unet_resolutions():
    assert level_sides(512) == (64, 32, 16, 8)
    assert level_sides(128) == (16, 8, 4, 2)
    assert level_sides(72) == (9, 5, 3, 2)  # stride-2 convolutions round up


def test_face_region_is_the_face_box_expanded_by_1_2():
    masks = square_masks(boxed_landmarks(face=(40, 30, 80, 90), lips=(55, 70, 65, 76)), 128)
    rows, cols = np.nonzero(masks.face_region)
    # centre (60, 60), sides 40·1.2 = 48 and 60·1.2 = 72
    assert (cols.min(), cols.max() + 1, rows.min(), rows.max() + 1) == (36, 84, 24, 96)
    assert set(np.unique(masks.face_region)) == {0.0, 1.0}


def test_box_crossing_the_border_is_shifted_back_inside():
    masks = square_masks(boxed_landmarks(face=(0, 10, 40, 50), lips=(15, 35, 25, 40)), 64)
    rows, cols = np.nonzero(masks.face_region)
    assert (cols.min(), cols.max() + 1) == (0, 48)  # [-4, 44) shifted right by 4
    assert (rows.min(), rows.max() + 1) == (6, 54)


def test_box_larger_than_the_image_covers_it():
    masks = square_masks(boxed_landmarks(face=(0, 0, 60, 60), lips=(20, 40, 40, 50)), 64)
    assert masks.face_region.all()


def test_regions_partition_the_image():
    masks = square_masks(boxed_landmarks(face=(150, 100, 360, 420), lips=(220, 320, 290, 350)), 512)
    assert [m.shape for m in masks.pose] == [(64, 64), (32, 32), (16, 16), (8, 8)]
    assert all(0 <= m.min() and m.max() <= 1 for m in masks.pose + masks.expression + masks.lip)
    # pose = 1 - face and expression = face - lip (saturating at 0), so where the blurred lip
    # box stays inside the blurred face box the three sum to 1, up to uint8 rounding.
    face = 1 - masks.pose[0]
    inside = masks.lip[0] <= face
    total = masks.pose[0] + masks.expression[0] + masks.lip[0]
    assert inside.mean() > 0.9 and np.allclose(total[inside], 1.0, atol=2 / 255)
    assert masks.pose[0][32, 32] < 0.05 and masks.pose[0][0, 0] > 0.95  # no pose inside the face
    peak = np.unravel_index(np.argmax(masks.lip[0]), (64, 64))
    assert abs(peak[0] - 335 / 8) <= 1 and abs(peak[1] - 255 / 8) <= 1  # at the lip box centre


# ------------------------------------------------------------------------------ face identity


def embedder(score_bias: float = 3.0, weight_scale: float = 0.0, recognizer: bytes | None = None) -> FaceEmbedder:
    detector = ort.InferenceSession(hallo_onnx.scrfd(64, score_bias=score_bias, box_bias=2.0, weight_scale=weight_scale))
    recognizer = ort.InferenceSession(recognizer or hallo_onnx.arcface())
    return FaceEmbedder(detector, recognizer)


def test_detections_decode_anchor_distances_back_to_image_pixels():
    boxes, keypoints = embedder().detect(portrait(128))
    scale = 0.5  # 128 px image letterboxed into the 64 px detector input
    sides = boxes[:, 2] - boxes[:, 0]
    assert set(np.round(sides, 3)) <= {2 * 2 * s / scale for s in (8, 16, 32)}
    assert np.allclose(boxes[:, 3] - boxes[:, 1], sides)
    assert np.allclose(boxes[:, 4], 1 / (1 + np.exp(-3.0)))
    centres = (boxes[:, :2] + boxes[:, 2:4]) / 2
    assert np.allclose(keypoints[:, 2], centres)  # the nose keypoint has offset (0, 0)


def test_no_detection_gives_the_zero_embedding():
    assert not embedder(score_bias=-5.0)(portrait(128)).any()


def test_embedding_is_the_recognizer_on_the_aligned_crop():
    faces = embedder()
    image = portrait(160)
    keypoints = ARCFACE_TEMPLATE.astype(np.float32)  # already aligned: the crop is the top-left 112²
    crop = (image[:112, :112].astype(np.float32) - 127.5) / 127.5
    expected = faces.recognizer.run(None, {"face": crop.transpose(2, 0, 1)[None]})[0][0]
    assert np.allclose(faces.embed(image, keypoints), expected, atol=1e-4)
    assert faces(image).shape == (512,) and faces(image).any()


def test_recognizer_normalisation_follows_insightface(tmp_path):
    plain, mxnet = tmp_path / "plain.onnx", tmp_path / "mxnet.onnx"
    plain.write_bytes(hallo_onnx.arcface())
    mxnet.write_bytes(hallo_onnx.arcface(first_ops=("Sub", "Mul")))
    assert arcface_normalisation(plain) == (127.5, 127.5)
    assert arcface_normalisation(mxnet) == (0.0, 1.0)


# ------------------------------------------------------------------------------------- audio


@pytest.fixture(scope="module")
def encoder() -> Wav2Vec2FrameEncoder:
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config(**WAV2VEC_TINY))
    return Wav2Vec2FrameEncoder(model, Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True))


def speech(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)


def test_features_cover_the_audio_in_whole_clips(encoder):
    features = encoder(speech(0.9), fps=25, clip_frames=16)  # ceil(22.5) = 23 frames → 32
    assert features.shape == (32, WAV2VEC_TINY["num_hidden_layers"], WAV2VEC_TINY["hidden_size"])
    assert encoder.frame_count(len(speech(0.9)), 25) == 23


def test_features_are_every_hidden_layer_at_the_cnn_rate_without_resampling(encoder):
    samples = speech(1.0)
    values = torch.from_numpy(np.asarray(encoder.feature_extractor(samples, sampling_rate=16000).input_values[0]))[None]
    with torch.no_grad():
        reference = encoder.model(values, output_hidden_states=True).hidden_states[1:]
    frames = reference[0].shape[1]  # 49 CNN frames for one second
    features = encoder(samples, fps=frames, clip_frames=frames)
    for layer, hidden in enumerate(reference):
        assert torch.allclose(features[:, layer], hidden[0], atol=1e-5)


def test_windows_hold_five_neighbours_clamped_at_the_ends():
    features = torch.arange(6, dtype=torch.float32)[:, None, None]  # frame t has value t
    windows = frame_windows(features, 0, 6)[..., 0, 0]
    assert windows[0].tolist() == [0, 0, 0, 1, 2]
    assert windows[3].tolist() == [1, 2, 3, 4, 5]
    assert windows[5].tolist() == [3, 4, 5, 5, 5]
