"""`talkinghead live`: a page that plays live avatars, and the endpoints that feed them.

    GET    /                              the page (?token=... when the server has one)
    GET    /config                        transport, limits, the options a session takes
    POST   /sessions                      a new session: form fields photo (file, optional: the
                                          server's PHOTO), lookahead_ms, lip_weight, ... -> {id, fps, audio_rate, ...}
    GET    /sessions/{id}                 its state
    DELETE /sessions/{id}                 close it
    POST   /sessions/{id}/interrupt       drop its queued speech, back to rest
    POST   /sessions/{id}/audio           push PCM: body = raw samples, ?rate=24000&format=s16le|f32le&channels=1,
                                          optional X-Phones header: JSON [[phone, start, end], ...] in seconds of the chunk
    POST   /sessions/{id}/play            an audio file (form field file) played into it as a stream
    POST   /sessions/{id}/offer           WebRTC: the browser's SDP offer -> the answer (picture, sound; its microphone in)
    WS     /sessions/{id}/push            push PCM: a JSON text message {"rate": R, "format": "s16le"} first, then
                                          binary chunks; {"phones": [...]} applies to the next chunk; {"interrupt": true}
    WS     /sessions/{id}/stream          the fallback without WebRTC: binary messages, b"V" + JPEG per frame
                                          (index and timestamp in the JSON text message before it) and b"A" + s16le PCM

Tokens, as `talkinghead serve` has them: bound to anything but a loopback address the server
needs --token (or --insecure-no-token); with a token every request and socket carries
`Authorization: Bearer TOKEN`, or the cookie that opening /?token=TOKEN once sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import LIVE_MOTION_OPTIONS, AnimateConfig, LiveConfig, LiveServerConfig
from ..engine import Engine
from ..errors import InputError, TalkingHeadError
from ..serve.settings import is_local  # one rule for what is local, as `talkinghead serve` has it
from .hosting import Sessions

try:
    from fastapi import FastAPI, HTTPException, Request, UploadFile, WebSocket, WebSocketDisconnect
    from fastapi.responses import HTMLResponse, JSONResponse
except ImportError as error:  # pragma: no cover - the live extra is missing
    raise ImportError("talkinghead live needs its extra: pip install 'talkinghead[live]'") from error

log = logging.getLogger("talkinghead")
MAX_PUSH_BYTES = 16 << 20  # one pushed chunk
MAX_UPLOAD_BYTES = 64 << 20  # a photo or an audio file
SESSION_OPTIONS = frozenset(LIVE_MOTION_OPTIONS) | {"lookahead_ms"}  # what a page or client may set per session
FORMATS = {"s16le": np.int16, "f32le": np.float32, "s32le": np.int32}


def webrtc_available() -> bool:
    try:
        import aiortc  # noqa: F401
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def check_exposure(server: LiveServerConfig) -> None:
    """InputError when the server would be reachable from other machines without a token."""
    if server.token is not None and len(server.token.strip()) < 8:  # the rule of `talkinghead serve` too
        raise InputError("--token must be at least 8 characters long: e.g. one printed by `python -c 'import secrets; print(secrets.token_urlsafe())'`")
    if not is_local(server.host) and server.token is None and not server.insecure_no_token:
        raise InputError(f"--host {server.host} is reachable from other machines: set --token TOKEN (or --insecure-no-token to allow anyone)")


@dataclass(frozen=True)
class LiveApp:
    """What the app serves: the default photo and the options every session starts from."""

    photo: Path | None
    options: dict[str, Any]  # AnimateConfig options (LIVE_*_OPTIONS) given on the command line
    live: LiveConfig
    server: LiveServerConfig


def create_app(app_config: LiveApp, *, engine: Engine | None = None) -> FastAPI:
    """The FastAPI application of `talkinghead live`."""
    server = app_config.server.validate()
    check_exposure(server)
    transport = server.transport
    if transport == "auto":
        transport = "webrtc" if webrtc_available() else "websocket"
    elif transport == "webrtc" and not webrtc_available():
        raise InputError("--transport webrtc needs aiortc: pip install 'talkinghead[live]', or use --transport websocket")
    engine = engine or Engine()
    sessions = Sessions(server.max_sessions, server.session_timeout)
    peers: set = set()
    default_portrait = _OnePortrait(app_config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        reaper = asyncio.create_task(_reap(sessions))
        try:
            yield
        finally:
            reaper.cancel()
            for pc in list(peers):
                await pc.close()
            await asyncio.to_thread(sessions.close_all)

    app = FastAPI(title="talkinghead live", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sessions = sessions

    if server.token is not None:
        from ..serve.app import TokenGate  # the token of `talkinghead serve`: a bearer header, or a cookie set by /?token=

        app.add_middleware(TokenGate, token=server.token)

    @app.exception_handler(TalkingHeadError)
    async def refused(_request: Request, error: TalkingHeadError):
        return JSONResponse({"error": str(error)}, status_code=400 if isinstance(error, InputError) else 500)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return resources.files(__package__).joinpath("page.html").read_text()

    @app.get("/config")
    async def config() -> dict[str, Any]:
        return {
            "transport": transport, "max_sessions": server.max_sessions, "session_timeout": server.session_timeout,
            "default_photo": app_config.photo is not None, "options": sorted(SESSION_OPTIONS),
            "sessions": len(sessions.all()),
        }

    @app.post("/sessions")
    async def open_session(request: Request) -> dict[str, Any]:
        form = await request.form()
        options = {k: v for k, v in form.items() if k != "photo"}
        unknown = sorted(set(options) - SESSION_OPTIONS)
        if unknown:
            raise InputError(f"not options of a live session here: {', '.join(unknown)}; known: {', '.join(sorted(SESSION_OPTIONS))}")
        photo = form.get("photo")
        if not sessions.reserve():
            raise HTTPException(503, f"{server.max_sessions} live sessions are open (--max-sessions): close one first")
        try:
            merged = {**app_config.options, **_typed(options)}
            live = {f: merged.pop(f, getattr(app_config.live, f)) for f in LiveConfig.__dataclass_fields__}
            if photo is not None and not isinstance(photo, str):
                data = await photo.read(MAX_UPLOAD_BYTES + 1)
                session = await asyncio.to_thread(_session_from_bytes, data, photo.filename or "photo", engine, merged, live)
            elif app_config.photo is not None:
                session = await asyncio.to_thread(lambda: _new_session(default_portrait.get(), engine, merged, live))
            else:
                raise InputError("send a photo (form field photo): this server has no default PHOTO")
        except BaseException:
            sessions.release()
            raise
        hosted = sessions.add(session, asyncio.get_running_loop())
        return hosted.describe()

    def hosted_or_404(session_id: str):
        hosted = sessions.get(session_id)
        if hosted is None:
            raise HTTPException(404, f"no live session {session_id!r} (closed, timed out, or never opened)")
        return hosted

    @app.get("/sessions/{session_id}")
    async def describe(session_id: str) -> dict[str, Any]:
        return hosted_or_404(session_id).describe()

    @app.delete("/sessions/{session_id}")
    async def close(session_id: str) -> dict[str, Any]:
        hosted_or_404(session_id).close()
        return {"closed": session_id}

    @app.post("/sessions/{session_id}/interrupt")
    async def interrupt(session_id: str) -> dict[str, Any]:
        hosted_or_404(session_id).interrupt()
        return {"interrupted": session_id}

    @app.post("/sessions/{session_id}/audio")
    async def push(session_id: str, request: Request, rate: int, format: str = "s16le", channels: int = 1) -> dict[str, Any]:
        hosted = hosted_or_404(session_id)
        body = await _body(request, MAX_PUSH_BYTES)
        samples = _pcm(body, format, channels)
        phones = _phones_json(request.headers.get("x-phones"))
        hosted.session.push_audio(samples, rate, phones=phones)
        return {"queued_s": round(len(samples) / rate, 4)}

    @app.post("/sessions/{session_id}/play")
    async def play(session_id: str, file: UploadFile) -> dict[str, Any]:
        hosted = hosted_or_404(session_id)
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise InputError(f"the audio file is larger than {MAX_UPLOAD_BYTES >> 20} MiB")
        samples = await asyncio.to_thread(_decode_file, data, file.filename or "audio", hosted.session.rate, hosted.session.live.max_queued)
        hosted.play(samples, hosted.session.rate)
        return {"playing_s": round(len(samples) / hosted.session.rate, 3)}

    @app.post("/sessions/{session_id}/offer")
    async def offer(session_id: str, request: Request) -> dict[str, Any]:
        hosted = hosted_or_404(session_id)
        if transport != "webrtc":
            raise HTTPException(409, "this server streams over WebSocket (--transport websocket): use /sessions/{id}/stream")
        from .webrtc import answer

        try:
            description = json.loads(await _body(request, 1 << 20))
            sdp, kind = str(description["sdp"]), str(description["type"])
        except (ValueError, KeyError, TypeError):
            raise InputError('send the offer as JSON: {"sdp": "...", "type": "offer"}') from None
        local = await answer(hosted, sdp, kind, peers)
        return {"sdp": local.sdp, "type": local.type}

    @app.websocket("/sessions/{session_id}/push")
    async def push_socket(websocket: WebSocket, session_id: str) -> None:
        await websocket.accept()  # the token, when there is one, was checked by TokenGate
        hosted = sessions.get(session_id)
        if hosted is None:
            await websocket.close(code=4404, reason="no such live session")
            return
        stream: dict[str, Any] = {"rate": None, "format": "s16le", "channels": 1}
        phones = None
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                try:
                    if message.get("text") is not None:
                        command = json.loads(message["text"])
                        if not isinstance(command, dict):
                            raise InputError("a text message is a JSON object: {\"rate\": 16000, \"format\": \"s16le\"}, {\"phones\": [...]} or {\"interrupt\": true}")
                        if command.get("interrupt"):
                            hosted.interrupt()
                        if "phones" in command:
                            phones = _phones_value(command["phones"])
                        for key in ("rate", "format", "channels"):
                            if key in command:
                                stream[key] = command[key]
                        continue
                    if stream["rate"] is None:
                        raise InputError('say the rate first: {"rate": 16000, "format": "s16le"}')
                    samples = _pcm(message.get("bytes") or b"", stream["format"], stream["channels"])
                    hosted.session.push_audio(samples, stream["rate"], phones=phones)
                    phones = None
                except (InputError, ValueError) as error:
                    if hosted.session.closed:
                        await websocket.close(code=4410, reason="the live session is closed")
                        return
                    await websocket.send_text(json.dumps({"error": str(error)}))
        except WebSocketDisconnect:
            return

    @app.websocket("/sessions/{session_id}/stream")
    async def stream_socket(websocket: WebSocket, session_id: str) -> None:
        await websocket.accept()
        hosted = sessions.get(session_id)
        if hosted is None:
            await websocket.close(code=4404, reason="no such live session")
            return
        reader = hosted.attach()
        quality = [int(cv2.IMWRITE_JPEG_QUALITY), 85]
        try:
            while True:
                frame = await reader.get()
                if frame is None:
                    await websocket.close(code=4410, reason="the live session is closed")
                    return
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), quality)
                pcm = (np.clip(frame.audio, -1, 1) * 32767).astype("<i2").tobytes()
                head = {"index": frame.index, "timestamp": frame.index / hosted.session.fps, "rate": frame.rate, "speaking": frame.speaking}
                await websocket.send_text(json.dumps(head))
                await websocket.send_bytes(b"V" + jpeg.tobytes())
                await websocket.send_bytes(b"A" + pcm)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            reader.close()

    return app


async def _reap(sessions: Sessions) -> None:
    while True:
        await asyncio.sleep(0.25)
        sessions.reap()


async def _body(request: Request, limit: int) -> bytes:
    size = 0
    parts = []
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise InputError(f"the request body is larger than {limit >> 20} MiB: push smaller chunks")
        parts.append(part)
    return b"".join(parts)


def _pcm(data: bytes, format: str, channels: Any) -> np.ndarray:
    """Samples from raw PCM bytes, or InputError."""
    if format not in FORMATS:
        raise InputError(f"PCM format {format!r} is not one of {', '.join(FORMATS)}")
    try:
        channels = int(channels)
    except (TypeError, ValueError):
        channels = 0
    if not 1 <= channels <= 8:
        raise InputError(f"channels {channels!r}: give 1 to 8")
    width = np.dtype(FORMATS[format]).itemsize * channels
    if len(data) == 0 or len(data) % width:
        raise InputError(f"{len(data)} bytes is not a whole number of {format} samples of {channels} channel(s) ({width} bytes each)")
    samples = np.frombuffer(data, np.dtype(FORMATS[format]).newbyteorder("<"))
    return samples.reshape(-1, channels) if channels > 1 else samples


def _phones_json(text: str | None):
    if text is None:
        return None
    try:
        return _phones_value(json.loads(text))
    except ValueError:
        raise InputError("X-Phones is not JSON: give [[\"HH\", 0.0, 0.08], ...]") from None


def _phones_value(value: Any):
    if not isinstance(value, list):
        raise InputError("phones are a list: [[\"HH\", 0.0, 0.08], ...] in seconds from the chunk's start")
    return [tuple(item) if isinstance(item, (list, tuple)) else item for item in value]


def _typed(options: dict[str, str]) -> dict[str, Any]:
    """Form values as the config's types."""
    from ..config import option_fields

    kinds = {f.name: str(f.type) for f in option_fields()} | {f: "float" for f in ("lookahead_ms",)}
    out: dict[str, Any] = {}
    for name, value in options.items():
        kind = kinds.get(name, "str")
        try:
            out[name] = float(value) if kind.startswith("float") else int(value) if kind.startswith("int") else value
        except ValueError:
            raise InputError(f"{name}={value!r} is not a number") from None
    return out


class _OnePortrait:
    """The server's PHOTO, its face found once for every session that uses it."""

    def __init__(self, app_config: LiveApp):
        self._config, self._portrait, self._lock = app_config, None, threading.Lock()

    def get(self):
        from ..engine import load_portrait

        with self._lock:
            if self._portrait is None:
                self._portrait = load_portrait(self._config.photo, AnimateConfig.from_options(**self._config.options))
            return self._portrait


def _new_session(photo: Any, engine: Engine, options: dict[str, Any], live: dict[str, Any]):
    from .session import LiveSession

    try:
        return LiveSession(photo, engine=engine, **options, **live)
    except TypeError as error:
        raise InputError(str(error)) from None


def _session_from_bytes(data: bytes, name: str, engine: Engine, options: dict[str, Any], live: dict[str, Any]):
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"the photo is larger than {MAX_UPLOAD_BYTES >> 20} MiB")
    with tempfile.TemporaryDirectory(prefix="talkinghead-live-") as folder:
        path = Path(folder) / ("photo" + Path(name).suffix[:8])
        path.write_bytes(data)
        return _new_session(path, engine, options, live)


def _decode_file(data: bytes, name: str, rate: int, max_seconds: float) -> np.ndarray:
    """(N,) float32 mono at `rate` from an uploaded audio file (any format ffmpeg reads)."""
    from ..audio.decode import load_audio
    from ..video.ffmpeg import last_line, run_ffmpeg

    with tempfile.TemporaryDirectory(prefix="talkinghead-live-") as folder:
        path = Path(folder) / ("audio" + Path(name).suffix[:8])
        path.write_bytes(data)
        load_audio(path, max_duration=max_seconds)  # checks it, with the one-line reasons animate gives
        decoded = run_ffmpeg(["-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-rematrix_maxval", "1.0", "-f", "f32le", "pipe:1"])
        if decoded.returncode != 0:
            raise InputError(f"{name} cannot be decoded ({last_line(decoded.stderr)})")
    return np.frombuffer(decoded.stdout, np.float32).copy()


def serve(app_config: LiveApp, *, ready=None) -> None:
    """Run the server until Ctrl-C or SIGTERM. `ready(port)` is called once it listens."""
    import signal

    import uvicorn

    server_config = app_config.server
    app = create_app(app_config)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            # Stop gracefully on the first signal (sessions closed, sockets told), and return.
            stop = lambda *_: setattr(self, "should_exit", True)  # noqa: E731
            previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)

        async def startup(self, sockets=None):
            await super().startup(sockets)
            port = next((sock.getsockname()[1] for s in self.servers for sock in s.sockets), server_config.port)
            token = "?token=TOKEN" if server_config.token else ""
            log.info("live avatar page at http://%s:%d/%s (Ctrl-C stops)", _url_host(server_config.host), port, token)
            if ready is not None:
                ready(port)

    ws = "websockets-sansio" if _has_sansio() else "auto"
    Server(uvicorn.Config(app, host=server_config.host, port=server_config.port, log_level="warning", lifespan="on", ws=ws)).run()
    log.info("live server stopped")


def _has_sansio() -> bool:
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def app_config_from(photo: Path | None, options: dict[str, Any], live: LiveConfig, server: LiveServerConfig) -> LiveApp:
    AnimateConfig.from_options(**options)  # refuses bad values before anything starts
    return LiveApp(photo, options, live.validate(), server.validate())


__all__ = ["LiveApp", "app_config_from", "check_exposure", "create_app", "is_local", "serve"]
