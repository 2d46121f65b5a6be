"""The live server on 127.0.0.1: tokens, limits, pushes over HTTP and WebSocket, bad input,
sessions closed mid-stream, clients that vanish; the server keeps running and frees them."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest
from live_server import running
from media import PORTRAIT
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from talkinghead.config import LiveConfig, LiveServerConfig
from talkinghead.errors import InputError
from talkinghead.live.server import LiveApp, check_exposure, create_app, is_local


def _app(engine, **server):
    return create_app(LiveApp(PORTRAIT, {}, LiveConfig(), LiveServerConfig(**{"transport": "websocket", **server})), engine=engine)


def _ws(url: str) -> str:
    return url.replace("http://", "ws://")


def test_exposed_hosts_need_a_token():
    assert is_local("127.0.0.1") and is_local("localhost") and is_local("::1") and is_local("127.0.0.2")
    assert not is_local("0.0.0.0") and not is_local("192.0.2.7")
    for host in ("127.0.0.1", "localhost", "::1"):
        check_exposure(LiveServerConfig(host=host))
    with pytest.raises(InputError, match="--token"):
        check_exposure(LiveServerConfig(host="0.0.0.0"))
    with pytest.raises(InputError, match="at least 8"):
        check_exposure(LiveServerConfig(host="0.0.0.0", token=" "))
    check_exposure(LiveServerConfig(host="0.0.0.0", token="s3cret-token"))
    check_exposure(LiveServerConfig(host="0.0.0.0", insecure_no_token=True))


def test_a_token_guards_every_route_and_socket(engine):
    with running(_app(engine, token="s3cret-token"), within=60) as url:
        assert httpx.get(url + "/config").status_code == 401
        assert httpx.get(url + "/config", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(url + "/config", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        # A browser opens /?token= once: a cookie then carries the token, sockets included.
        browser = httpx.Client(base_url=url, follow_redirects=True)
        assert browser.get("/?token=s3cret-token").status_code == 200
        assert browser.get("/config").status_code == 200
        with pytest.raises(InvalidStatus):  # refused before it opens
            with connect(_ws(url) + "/sessions/x/stream", open_timeout=5) as ws:
                ws.recv(timeout=5)
        with connect(_ws(url) + "/sessions/x/stream", open_timeout=5, additional_headers={"Authorization": "Bearer s3cret-token"}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
        assert closed.value.rcvd.code == 4404  # let in; there is no such session


def test_pushes_bad_input_limits_and_sessions_that_nobody_reads(engine, speech):
    samples, rate = speech
    with running(_app(engine, max_sessions=1, session_timeout=1.5), within=90) as url:
        client = httpx.Client(base_url=url, timeout=30)
        opened = client.post("/sessions", data={"lip_weight": "1.2", "lookahead_ms": "100"})
        assert opened.status_code == 200, opened.text
        sid = opened.json()["id"]
        assert client.post("/sessions").status_code == 503  # --max-sessions 1
        assert client.post("/sessions/nope/interrupt").status_code == 404
        # Bad chunks: refused one by one with a reason; the session goes on.
        push = lambda body, **params: client.post(f"/sessions/{sid}/audio", params=params, content=body)  # noqa: E731
        for body, params, reason in [
            (b"\x00\x01\x02", {"rate": 16000}, "whole number"),
            (samples.tobytes(), {"rate": 0}, "sample rate 0"),
            (samples.tobytes(), {"rate": 16000, "format": "mp3"}, "not one of"),
            (samples.tobytes(), {"rate": 16000, "channels": 9}, "channels"),
            (b"", {"rate": 16000}, "whole number"),
        ]:
            answer = push(body, **params)
            assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
        assert push(samples.tobytes(), rate="fast").status_code == 422
        bad_phones = client.post(f"/sessions/{sid}/audio", params={"rate": 16000}, content=samples[:1600].tobytes(), headers={"X-Phones": "[[\"ZZ\", 0, 0.1]]"})
        assert bad_phones.status_code == 400
        assert push(samples[: rate // 2].tobytes(), rate=rate).status_code == 200
        assert client.post(f"/sessions/{sid}/audio", params={"rate": 16000}, content=samples[:1600].tobytes(), headers={"X-Phones": "[[\"AA\", 0, 0.1]]"}).status_code == 200
        # A reader gets frames with their sound, then vanishes: the session is closed after the timeout.
        with connect(_ws(url) + f"/sessions/{sid}/stream", open_timeout=10) as ws:
            kinds = [ws.recv(timeout=10)[:1] for _ in range(30)]
        assert kinds.count(b"V") >= 9 and kinds.count(b"A") >= 9
        deadline = time.monotonic() + 10
        while client.get(f"/sessions/{sid}").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get(f"/sessions/{sid}").status_code == 404
        # The server goes on: a new session opens in the freed place.
        again = client.post("/sessions")
        assert again.status_code == 200
        assert client.delete(f"/sessions/{again.json()['id']}").status_code == 200


def test_websocket_push_with_phones_interrupt_and_a_close_mid_stream(engine, speech):
    samples, rate = speech
    with running(_app(engine, session_timeout=5), within=90) as url:
        client = httpx.Client(base_url=url, timeout=30)
        sid = client.post("/sessions").json()["id"]
        with connect(_ws(url) + f"/sessions/{sid}/stream", open_timeout=10) as stream, connect(_ws(url) + f"/sessions/{sid}/push", open_timeout=10) as pusher:
            pusher.send(samples[:320].tobytes())  # before saying the rate: refused, the socket stays
            assert "rate" in json.loads(pusher.recv(timeout=10))["error"]
            pusher.send(json.dumps({"rate": rate, "format": "s16le"}))
            pusher.send(json.dumps({"phones": "AA"}))
            assert "list" in json.loads(pusher.recv(timeout=10))["error"]
            pusher.send(json.dumps({"phones": [["AA", 0.0, 0.02]]}))
            for i in range(rate, 2 * rate, rate // 50):
                pusher.send(samples[i : i + rate // 50].tobytes())
            pusher.send(b"\x01")  # an odd byte: refused, the stream goes on
            assert "whole number" in json.loads(pusher.recv(timeout=10))["error"]
            speaking = []
            deadline = time.monotonic() + 15
            while len(speaking) < 40 and time.monotonic() < deadline:
                message = stream.recv(timeout=10)
                if isinstance(message, str):
                    speaking.append(json.loads(message)["speaking"])
            assert any(speaking)
            pusher.send(json.dumps({"interrupt": True}))
            time.sleep(0.3)
            assert not client.get(f"/sessions/{sid}").json().get("speaking", False)
            # Closed while both sockets are open: each is told, the server goes on.
            assert client.delete(f"/sessions/{sid}").status_code == 200
            with pytest.raises(ConnectionClosed) as closed:
                for _ in range(200):
                    stream.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410
            pusher.send(samples[:320].tobytes())
            with pytest.raises(ConnectionClosed):
                for _ in range(5):
                    pusher.recv(timeout=10)
        assert client.get("/config").status_code == 200
        assert client.get(f"/sessions/{sid}").status_code == 404


def test_a_file_played_as_a_stream_and_photos_uploaded(engine, media, tmp_path):
    wav = media("speech.wav", "-f", "lavfi", "-i", "sine=frequency=220:duration=1", "-ar", "22050")
    with running(_app(engine, session_timeout=5), within=90) as url:
        client = httpx.Client(base_url=url, timeout=30)
        broken = client.post("/sessions", files={"photo": ("photo.png", b"not an image", "image/png")})
        assert broken.status_code == 400
        from PIL import Image

        smaller = tmp_path / "smaller.jpg"
        Image.open(PORTRAIT).convert("RGB").resize((384, 384)).save(smaller)
        with smaller.open("rb") as photo:
            own = client.post("/sessions", files={"photo": ("smaller.jpg", photo, "image/jpeg")}).json()
        sid = own["id"]
        other = client.post("/sessions").json()  # beside it, a session of the server's own photo
        assert (own["width"], other["width"]) == (384, 512)
        with connect(_ws(url) + f"/sessions/{other['id']}/stream", open_timeout=10) as ws:
            assert [ws.recv(timeout=10) for _ in range(3)][1][:1] == b"V"
        assert client.post(f"/sessions/{sid}/play", files={"file": ("x.wav", b"RIFF nonsense", "audio/wav")}).status_code == 400
        with wav.open("rb") as f:
            played = client.post(f"/sessions/{sid}/play", files={"file": ("speech.wav", f, "audio/wav")})
        assert played.status_code == 200 and played.json()["playing_s"] == pytest.approx(1.0, abs=0.01)
        with connect(_ws(url) + f"/sessions/{sid}/stream", open_timeout=10) as ws:
            sound = []
            for _ in range(90):
                message = ws.recv(timeout=10)
                if isinstance(message, bytes) and message[:1] == b"A":
                    sound.append(np.frombuffer(message[1:], "<i2"))
        assert np.abs(np.concatenate(sound)).max() > 1000  # the tone plays
        assert client.post(f"/sessions/{sid}/interrupt").status_code == 200
