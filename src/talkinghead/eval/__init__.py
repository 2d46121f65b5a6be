"""Measures of talking-head videos, ours or any other method's.

    sync_score(video, audio) -> SyncScore     the cheap lip-sync score
    SyncScorer                                the same, fed frame by frame

Faces are found with dlib, independently of the MediaPipe detector that drives the animation.
Offsets: + = video late relative to audio.
"""

from .sync import SyncScore, SyncScorer, sync_score

__all__ = ["SyncScore", "SyncScorer", "sync_score"]
