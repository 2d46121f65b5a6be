"""`talkinghead serve`: the web app and the REST API in one process (FastAPI on uvicorn)."""

from __future__ import annotations

import argparse
import logging
import socket
import threading
from pathlib import Path

from ..errors import InputError
from .settings import ServeSettings, default_workers

log = logging.getLogger("talkinghead")
_DEFAULTS = ServeSettings()


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    d = _DEFAULTS
    p = sub.add_parser(
        "serve",
        help="serve the web app (/) and the REST job API (/v1, OpenAPI at /docs)",
        description="One process serving the web app at / and the REST API at /v1 (OpenAPI at /docs), "
        "rendering jobs from a bounded queue. Localhost only unless --host says otherwise, which needs --token.",
    )
    p.add_argument("--host", default=d.host, help=f"address to listen on (default: {d.host}; anything else needs --token or --insecure-no-token)")
    p.add_argument("--port", type=int, default=d.port, help=f"port (default: {d.port}; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help=f"jobs rendered at once (default: one per two cores, here {default_workers()})")
    p.add_argument("--data-dir", type=Path, default=d.data_dir, metavar="DIR", help=f"where jobs live: jobs.sqlite and jobs/<id>/ (default: ./{d.data_dir})")
    p.add_argument("--max-queue", type=int, default=d.max_queue, metavar="N", help=f"jobs waiting beyond those rendering; then 429 with Retry-After (default: {d.max_queue})")
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb, metavar="MB", help=f"largest request body, photo + speech (default: {d.max_upload_mb:g}); 413 beyond")
    p.add_argument("--max-pixels", type=float, default=d.max_pixels, metavar="MEGAPIXELS", help=f"largest photo, read from its header (default: {d.max_pixels:g}); 413 beyond")
    p.add_argument("--max-duration", type=float, default=d.max_duration, metavar="SECONDS", help=f"longest speech (default: {d.max_duration:g}); 413 beyond")
    p.add_argument("--max-jobs-per-client", type=int, default=d.max_jobs_per_client, metavar="N", help=f"unfinished jobs one client address may have (default: {d.max_jobs_per_client}; 0: no limit); 429 beyond")
    p.add_argument("--keep-hours", type=float, default=d.keep_hours, metavar="H", help=f"finished jobs and their files are deleted this long after they end (default: {d.keep_hours:g})")
    p.add_argument("--token", metavar="SECRET", help="bearer token asked for on every route, web app included (browsers: open /?token=SECRET once)")
    p.add_argument("--insecure-no-token", action="store_true", help="allow a --host beyond localhost without --token")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN", help="allow cross-origin requests from ORIGIN (repeatable; default: CORS off)")
    p.add_argument("--resume", action="store_true", help="after a restart, render again the jobs that were rendering (default: they fail, 'interrupted by a restart')")
    p.add_argument("--no-web", dest="web", action="store_false", help="serve the API only")
    p.add_argument("--stop-after", type=float, metavar="SECONDS", help="shut down after this long (for tests and demos)")
    p.set_defaults(run=run_serve)


def settings_from(args: argparse.Namespace) -> ServeSettings:
    return ServeSettings(
        host=args.host, port=args.port, data_dir=args.data_dir,
        workers=args.workers if args.workers is not None else default_workers(),
        max_queue=args.max_queue, max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels,
        max_duration=args.max_duration, max_jobs_per_client=args.max_jobs_per_client, keep_hours=args.keep_hours,
        token=args.token, insecure_no_token=args.insecure_no_token, cors_origins=tuple(args.cors_origin),
        resume=args.resume, web=args.web,
    ).check()


def run_serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)  # refused before anything binds
    try:
        import uvicorn

        from .app import create_app
    except ImportError as error:
        raise InputError(f"serve needs the serve extra ({error.name} is missing): pip install 'talkinghead[serve]'") from None
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    where = "/ (web app), /v1 (API), /docs (OpenAPI)" if settings.web else "/v1 (API), /docs (OpenAPI)"

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if not self.should_exit:  # the job service has started: announce the address
                log.info("serving http://%s:%d/ %s; jobs in %s, %d worker(s)", shown, port, where, settings.data_dir, settings.workers)

    app = create_app(settings)
    server = Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5, access_log=False))
    if args.stop_after:
        timer = threading.Timer(args.stop_after, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # before uvicorn took over the signals
        pass
    log.info("stopped")
    return 0


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({error.strerror}): choose another --port or --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
