"""Live talking heads: speech pushed in chunks, frames streamed in real time (`talkinghead live`).

    session = talkinghead.LiveSession("photo.jpg")
    session.push_audio(samples, 16000)
    for timestamp, frame in session.frames():
        ...   # frame.image (H, W, 3) uint8 RGB, frame.audio at frame.rate

The page and its endpoints (`talkinghead.live.server`) need the `live` extra.
"""

from .session import LiveFrame, LiveSession

__all__ = ["LiveFrame", "LiveSession"]
