"""The HTTP server: the REST API at /v1, the web app at /, OpenAPI at /docs, in one ASGI app.

    POST   /v1/jobs                 multipart: image (animate) or video (dub), audio, options (JSON, the CLI's names) -> 202
    GET    /v1/jobs                 the jobs, newest first
    GET    /v1/jobs/{id}            state, progress 0-1, ETA, position in queue, error, result
    GET    /v1/jobs/{id}/events     the same as server-sent events, until the job ends
    GET    /v1/jobs/{id}/video      the MP4 (range requests: 206 + Content-Range)
    GET    /v1/jobs/{id}/motion     the motion track as JSON (talkinghead.motion.track_io)
    GET    /v1/jobs/{id}/plot       mouth opening vs loudness, PNG (when the job was scored)
    DELETE /v1/jobs/{id}            cancel (queued or running) and delete its files
    GET    /v1/health

Every error is JSON `{"error": "one line", "field": name or null}` with its status: 401 no or
wrong token, 404 no such job, 409 not ready, 413 over a size limit, 415 not multipart, 422
unusable input or option, 429 queue full or too many jobs of this client (with Retry-After).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .. import __version__
from .options import OptionError, parse_options
from .service import Job, JobService, Refused
from .settings import ServeSettings
from .store import FINISHED, is_job_id
from .uploads import FormReader, UploadRefused

COOKIE = "talkinghead_token"
DRAIN_BYTES = 64 * 2**20  # past a refusal, up to this much more of the body is read and dropped, so the client hears the answer
EVENT_POLL = 0.1  # s between looks at a job's state for its event stream
HEARTBEAT = 15.0  # s between keep-alive comments on an idle event stream


def error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)


def create_app(settings: ServeSettings, service: JobService | None = None) -> FastAPI:
    """The whole server as one ASGI app; the job service starts with it and stops with it."""
    settings.check()
    holder: dict[str, JobService] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        holder["service"] = service or JobService(settings)
        try:
            yield
        finally:
            await run_in_threadpool(holder["service"].close)

    app = FastAPI(
        title="talkinghead", version=__version__, lifespan=lifespan,
        description="Portrait photo + speech -> talking-head MP4, or a video + new speech -> the video dubbed, as jobs. The web app is at /.",
    )
    if service is not None:
        holder["service"] = service
    jobs = lambda: holder["service"]  # noqa: E731
    add_api(app, jobs, settings)
    # Always present, so that Gradio adds no CORS policy of its own: no --cors-origin, no origin allowed.
    from fastapi.middleware.cors import CORSMiddleware

    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"], allow_headers=["*"])
    if settings.web:
        from .web import mount_web_app

        mount_web_app(app, jobs, settings)
    if settings.token:
        app.add_middleware(TokenGate, token=settings.token)
    return app


def add_api(app: FastAPI, jobs, settings: ServeSettings) -> None:
    def urls(job_id: str) -> dict[str, str]:
        base = f"/v1/jobs/{job_id}"
        return {"self": base, "events": f"{base}/events", "video": f"{base}/video", "motion": f"{base}/motion", "plot": f"{base}/plot"}

    def shown(job: Job) -> dict[str, Any]:
        return {**jobs().view(job), "urls": urls(job.id)}

    def find(job_id: str) -> Job | JSONResponse:
        job = jobs().job(job_id) if is_job_id(job_id) else None
        return job if job is not None else error(404, f"no job {job_id!r} (finished jobs expire after --keep-hours)", "id")

    @app.post("/v1/jobs", status_code=202, summary="Submit a job (multipart: image to animate or video to dub, audio, options)",
              responses={202: {"description": "queued"}, 413: {}, 415: {}, 422: {}, 429: {}})
    async def submit(request: Request) -> Response:
        service = jobs()
        client = request.client.host if request.client else "unknown"
        try:
            service.admit(client)
        except Refused as refused:
            return error(refused.status, refused.reason, headers={"Retry-After": str(refused.retry_after)})
        kind, _, params = request.headers.get("content-type", "").partition(";")
        boundary = dict(parse_qsl(params.replace(";", "&").replace(" ", ""))).get("boundary", "").strip('"')
        if kind.strip().lower() != "multipart/form-data" or not boundary:
            return error(415, "send multipart/form-data with the fields image (or video, to dub), audio and options (JSON)")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > service.limits.max_bytes:
            return error(413, f"the upload is {int(declared) / 2**20:.1f} MB; the limit is {service.limits.megabytes} (--max-upload-mb)")
        job_id = service.new_job_id()
        folder = service.files(job_id)
        reader = FormReader(boundary.encode("latin-1"), folder, service.limits)
        try:
            stream = request.stream()
            try:
                async for chunk in stream:
                    reader.feed(chunk)
            finally:
                reader.close()
            intake = await run_in_threadpool(reader.finish)
            options, _config = parse_options(intake.options.decode("utf-8", "replace"), max_duration=settings.max_duration, kind=intake.kind)
            job = await run_in_threadpool(service.submit, job_id, intake, options, client)
        except UploadRefused as refused:
            service.store.delete_files(job_id)
            await _drain(stream, reader.received)
            return error(refused.status, refused.reason, refused.field)
        except OptionError as refused:
            service.store.delete_files(job_id)
            return error(422, refused.reason, refused.field)
        except Refused as refused:
            service.store.delete_files(job_id)
            return error(refused.status, refused.reason, headers={"Retry-After": str(refused.retry_after)})
        except BaseException:
            service.store.delete_files(job_id)
            raise
        return JSONResponse(shown(job), status_code=202, headers={"Location": urls(job.id)["self"]})

    @app.get("/v1/jobs", summary="The jobs, newest first")
    async def list_jobs(limit: int = 100) -> dict:
        found = await run_in_threadpool(jobs().list, max(1, min(limit, 1000)))
        return {"jobs": [shown(job) for job in found]}

    @app.get("/v1/jobs/{job_id}", summary="A job's state, progress, ETA, position, error and result")
    async def get_job(job_id: str) -> Response:
        job = find(job_id)
        return job if isinstance(job, Response) else JSONResponse(shown(job))

    @app.get("/v1/jobs/{job_id}/events", summary="Server-sent events: the job's state on every change, until it ends")
    async def events(job_id: str, request: Request) -> Response:
        job = find(job_id)
        if isinstance(job, Response):
            return job

        async def stream():
            seen, last = -1, time.monotonic()
            while True:
                if job.version != seen or job.state in FINISHED:
                    seen = job.version
                    view = shown(job)
                    yield f"event: {'end' if view['state'] in FINISHED else 'progress'}\ndata: {json.dumps(view)}\n\n"
                    last = time.monotonic()
                    if view["state"] in FINISHED:
                        return
                elif time.monotonic() - last > HEARTBEAT:
                    yield ": keep-alive\n\n"
                    last = time.monotonic()
                if await request.is_disconnected():
                    return
                await asyncio.sleep(EVENT_POLL)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def finished_file(job_id: str, name: str, media_type: str) -> Response:
        job = find(job_id)
        if isinstance(job, Response):
            return job
        if job.state != "done":
            return error(409, f"the job is {job.state}: its {name} exists once it is done", "id")
        path = jobs().files(job_id) / name
        if not path.exists():
            return error(404, f"this job has no {name}")
        return FileResponse(path, media_type=media_type, filename=f"talkinghead-{job_id[:8]}-{name}" if name != "plot.png" else None)

    @app.get("/v1/jobs/{job_id}/video", summary="The video (MP4); range requests give 206 + Content-Range")
    async def video(job_id: str) -> Response:
        return finished_file(job_id, "video.mp4", "video/mp4")

    @app.get("/v1/jobs/{job_id}/plot", summary="Mouth opening vs speech loudness (PNG; jobs with the lip-sync score)")
    async def plot(job_id: str) -> Response:
        return finished_file(job_id, "plot.png", "image/png")

    @app.get("/v1/jobs/{job_id}/motion", summary="The motion track the video was rendered from (JSON)")
    async def motion(job_id: str) -> Response:
        job = find(job_id)
        if isinstance(job, Response):
            return job
        if job.state != "done":
            return error(409, f"the job is {job.state}: its motion exists once it is done", "id")
        path = await run_in_threadpool(jobs().motion_file, job)
        return FileResponse(path, media_type="application/json")

    @app.delete("/v1/jobs/{job_id}", summary="Cancel a queued or running job and delete its files; delete a finished one")
    async def delete(job_id: str) -> Response:
        job = find(job_id)
        if isinstance(job, Response):
            return job
        cancelled = await run_in_threadpool(jobs().cancel, job_id)
        if cancelled is not None:
            return JSONResponse({**shown(cancelled), "deleted": True})
        return JSONResponse({"id": job_id, "state": job.state, "deleted": True})

    @app.get("/v1/health", summary="Liveness and the queue's size")
    async def health() -> dict:
        s = jobs().settings
        return {"status": "ok", "version": __version__, "workers": s.workers, "max_queue": s.max_queue, **jobs().counts()}


async def _drain(stream, received: int) -> None:
    """Read and drop what is left of a refused body (up to DRAIN_BYTES), so that the client,
    still sending, reads the answer instead of a reset connection."""
    dropped = 0
    with contextlib.suppress(Exception):
        async for chunk in stream:
            dropped += len(chunk)
            if dropped > DRAIN_BYTES:
                return


class TokenGate:
    """ASGI middleware: every route (API, web app, docs) asks for the bearer token.

    Browsers cannot send a header from a link: /?token=SECRET once sets a cookie holding it
    (HttpOnly, SameSite=Strict) and redirects to the same page without the token.
    """

    def __init__(self, app, token: str):
        self.app, self.token = app, token.encode()

    def _valid(self, candidate: str | bytes | None) -> bool:
        if not candidate:
            return False
        candidate = candidate.encode() if isinstance(candidate, str) else candidate
        return hmac.compare_digest(candidate, self.token)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer " and self._valid(auth[7:].strip()):
            return await self.app(scope, receive, send)
        cookies = SimpleCookie()
        with contextlib.suppress(Exception):
            cookies.load(headers.get(b"cookie", b"").decode("latin-1"))
        if COOKIE in cookies and self._valid(cookies[COOKIE].value):
            return await self.app(scope, receive, send)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if scope["type"] == "http" and self._valid(query.get("token")):
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            location = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
            response = Response(status_code=303, headers={"Location": location})
            response.set_cookie(COOKIE, query["token"], httponly=True, samesite="strict")
            return await response(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        response = error(401, "this server needs its token: send 'Authorization: Bearer TOKEN' (browsers: open /?token=TOKEN once)",
                         headers={"WWW-Authenticate": "Bearer"})
        return await response(scope, receive, send)
