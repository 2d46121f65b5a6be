"""The server's pieces without a server: the checks the web app's files go through (the same as
the API's), WAV headers, option names, and a photo whose header lies beyond the first bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import speech_clip
from media import PORTRAIT
from PIL import Image
from scipy.io import wavfile

from talkinghead.serve.options import OptionError, option_name, parse_options
from talkinghead.serve.uploads import HEAD_BYTES, FormReader, Limits, UploadRefused, take_files, wav_duration

LIMITS = Limits(max_bytes=3 * 2**20, max_pixels=1e6, max_duration=5.0)


def test_the_web_apps_files_get_the_apis_checks(tmp_path):
    speech = speech_clip(tmp_path / "s.wav", 1.0)
    intake = take_files(PORTRAIT, speech, tmp_path / "job", LIMITS)
    assert (intake.image.name, intake.audio.name) == ("image", "audio")
    Image.new("1", (2000, 1000)).save(tmp_path / "big.png")
    with pytest.raises(UploadRefused, match="2000x1000") as refused:
        take_files(tmp_path / "big.png", speech, tmp_path / "job2", LIMITS)
    assert refused.value.status == 413
    long = speech_clip(tmp_path / "long.wav", 6.0)
    with pytest.raises(UploadRefused, match="lasts 6.0 s") as refused:
        take_files(PORTRAIT, long, tmp_path / "job3", LIMITS)
    assert refused.value.status == 413
    with pytest.raises(UploadRefused, match="--max-upload-mb"):
        take_files(PORTRAIT, speech, tmp_path / "job4", Limits(500_000, 1e6, 5.0))
    (tmp_path / "text.wav").write_text("not a recording")
    with pytest.raises(UploadRefused, match="not a recording") as refused:
        take_files(PORTRAIT, tmp_path / "text.wav", tmp_path / "job5", LIMITS)
    assert refused.value.status == 422


def test_wav_headers_state_their_length(tmp_path):
    buffer = io.BytesIO()
    wavfile.write(buffer, 16000, np.zeros(16000 * 3, np.int16))
    assert wav_duration(buffer.getvalue()[:64]) == pytest.approx(3.0)
    assert wav_duration(b"RIFF") is None and wav_duration(b"ID3\x04" + b"\0" * 60) is None


def test_option_names_as_the_cli_spells_them():
    assert option_name("--lip-weight") == option_name("lip-weight") == option_name("lip_weight") == "lip_weight"
    assert option_name("motion") == option_name("--motion") == "motion_file"
    assert option_name("--no-score") == "score"
    options, config = parse_options('{"--no-score": false, "seed": 4.0, "size": 128}', max_duration=60)
    assert options == {"score": False, "seed": 4, "size": 128, "max_duration": 60} and config.output.size == 128
    with pytest.raises(OptionError) as refused:
        parse_options('{"seed": true}', max_duration=60)
    assert refused.value.field == "seed" and "must be a number" in refused.value.reason
    with pytest.raises(OptionError, match="not JSON"):
        parse_options("{", max_duration=60)


def _multipart(parts: dict[str, bytes], boundary: bytes = b"xyz") -> bytes:
    body = b""
    for name, data in parts.items():
        body += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"; filename="../x"\r\n\r\n' + data + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"


def test_a_photo_whose_header_comes_late_is_read_from_the_file(tmp_path):
    """A JPEG with more metadata than HEAD_BYTES before its size: checked once it is on disk."""
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 1000)).save(buffer, "JPEG", icc_profile=bytes(HEAD_BYTES + 1000))
    photo = buffer.getvalue()
    speech = speech_clip(tmp_path / "s.wav", 1.0).read_bytes()
    body = _multipart({"image": photo, "audio": speech, "options": b"{}"})
    reader = FormReader(b"xyz", tmp_path / "job", LIMITS)
    with pytest.raises(UploadRefused, match="1200x1000") as refused:
        for k in range(0, len(body), 10_000):  # as the network would hand it over
            reader.feed(body[k : k + 10_000])
    assert refused.value.status == 413
    reader = FormReader(b"xyz", tmp_path / "job2", Limits(LIMITS.max_bytes, 2e6, 5.0))
    for k in range(0, len(body), 10_000):
        reader.feed(body[k : k + 10_000])
    intake = reader.finish()
    assert intake.options == b"{}" and intake.image.read_bytes() == photo
