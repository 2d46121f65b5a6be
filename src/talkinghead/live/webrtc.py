"""WebRTC for live sessions (aiortc): the avatar's picture and sound as two tracks with one
clock, and the browser's microphone, when it sends one, pushed into the session."""

from __future__ import annotations

import asyncio
import logging
from fractions import Fraction

import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from ..errors import InputError
from .hosting import Hosted

log = logging.getLogger("talkinghead")
VIDEO_CLOCK = 90_000  # Hz: RTP's video clock


class _SessionTrack(MediaStreamTrack):
    def __init__(self, hosted: Hosted):
        super().__init__()
        self.hosted = hosted
        self.reader = hosted.attach()

    async def _frame(self):
        frame = await self.reader.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        self.reader.close()
        super().stop()


class SessionVideo(_SessionTrack):
    """The frames, timestamped index / fps: the same clock as SessionAudio's samples."""

    kind = "video"

    async def recv(self) -> VideoFrame:
        frame = await self._frame()
        video = VideoFrame.from_ndarray(frame.image, format="rgb24")
        video.pts, video.time_base = round(frame.index / self.hosted.session.fps * VIDEO_CLOCK), Fraction(1, VIDEO_CLOCK)
        return video


class SessionAudio(_SessionTrack):
    """The sound of each frame, timestamped by its first sample on the session's timeline."""

    kind = "audio"

    def __init__(self, hosted: Hosted):
        super().__init__(hosted)
        self._samples = 0

    async def recv(self) -> AudioFrame:
        frame = await self._frame()
        pcm = (np.clip(frame.audio, -1.0, 1.0) * 32767).astype(np.int16)
        audio = AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        audio.sample_rate = frame.rate
        # The first sample of frame k's sound plays at k / fps, whatever frames were skipped.
        audio.pts, audio.time_base = round(frame.index / self.hosted.session.fps * frame.rate), Fraction(1, frame.rate)
        return audio


async def answer(hosted: Hosted, sdp: str, kind: str, peers: set[RTCPeerConnection]) -> RTCSessionDescription:
    """Answer the browser's offer with the session's tracks; a microphone track it offers is
    pushed into the session as speech."""
    if kind != "offer":
        raise InputError(f"expected an SDP offer, got {kind!r}")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # a local or directly reachable server: no STUN
    peers.add(pc)
    tracks = [SessionVideo(hosted), SessionAudio(hosted)]

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            asyncio.ensure_future(_microphone(hosted, track))

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed"):
            for track in tracks:
                track.stop()
            await pc.close()
            peers.discard(pc)

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
    except Exception as error:  # aiortc raises ValueError and others on a malformed SDP
        await pc.close()
        peers.discard(pc)
        raise InputError(f"the WebRTC offer cannot be used: {error}") from None
    # Send on the transceivers the offer made (video and audio, sendrecv or recvonly).
    for transceiver in pc.getTransceivers():
        track = next((t for t in tracks if t.kind == transceiver.kind), None)
        if track is not None and transceiver.sender.track is None:
            transceiver.sender.replaceTrack(track)
            transceiver.direction = "sendrecv" if transceiver.kind == "audio" else "sendonly"
    for track in tracks:
        if all(t.sender.track is not track for t in pc.getTransceivers()):
            pc.addTrack(track)
    await pc.setLocalDescription(await pc.createAnswer())
    return pc.localDescription


async def _microphone(hosted: Hosted, track: MediaStreamTrack) -> None:
    """The browser's microphone, frame by frame, into the session."""
    while not hosted.session.closed:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        pcm = frame.to_ndarray()  # packed s16: (1, samples * channels)
        channels = len(frame.layout.channels)
        samples = pcm.reshape(-1, channels) if channels > 1 else pcm.reshape(-1)
        try:
            hosted.session.push_audio(samples, frame.sample_rate)
        except InputError:
            return
