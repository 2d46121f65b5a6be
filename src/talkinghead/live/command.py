"""`talkinghead live PHOTO`: the live avatar page on this machine (or, with a token, exposed)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..config import LIVE_MOTION_OPTIONS, LIVE_PORTRAIT_OPTIONS, LiveConfig, LiveServerConfig


def add_live_parser(sub: argparse._SubParsersAction, add_options) -> None:
    p = sub.add_parser(
        "live",
        help="a real-time talking avatar of PHOTO in the browser (microphone, audio files, or PCM pushed by a TTS pipeline)",
        description=(
            "Serve a page that plays PHOTO as a live avatar with its sound in sync (WebRTC, or a WebSocket "
            "fallback): speak into the browser's microphone, play an audio file, or push PCM chunks (and "
            "optional phone timings) from a TTS or chatbot pipeline to /sessions/ID/audio. Listens on "
            "127.0.0.1 unless --host says otherwise; any other address needs --token."
        ),
    )
    p.add_argument("photo", type=Path, nargs="?", metavar="PHOTO", help="the portrait new sessions use (a page may upload its own)")
    add_options(p, set(LIVE_MOTION_OPTIONS) | set(LIVE_PORTRAIT_OPTIONS))
    add_options(p, fields=list(dataclasses.fields(LiveConfig)))
    add_options(p, fields=list(dataclasses.fields(LiveServerConfig)))
    p.set_defaults(run=_run_live)


def _run_live(args: argparse.Namespace) -> int:
    from .server import app_config_from, serve

    options = {name: getattr(args, name) for name in LIVE_MOTION_OPTIONS + LIVE_PORTRAIT_OPTIONS}
    live = LiveConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(LiveConfig)})
    server = LiveServerConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(LiveServerConfig)})
    if args.photo is not None:
        from ..image import load_image

        load_image(args.photo)  # a missing or broken photo is named before the server starts
    serve(app_config_from(args.photo, options, live, server))
    return 0
