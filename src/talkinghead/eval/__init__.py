"""Measures of talking-head videos, ours or any other method's.

    evaluate(video, audio=, reference=, ground_truth=, ...) -> Report    every measure (`talkinghead eval`)
    sync_score(video, audio) -> SyncScore                               the cheap lip-sync score
    SyncScorer                                                          the same, fed frame by frame

Offline and always available: lip sync against the speech loudness, identity, landmark jitter,
background flicker, blinks, head pose and multi-scale synchrony, and against a ground-truth
video FID, KID, PSNR, SSIM and landmark distance. With model files the user gives: SyncNet's
Sync-C / Sync-D, FVD (I3D) and CSIM (ArcFace). Faces are found with dlib, independently of the
MediaPipe detector that drives the animation. Offsets: + = video late relative to audio.
"""

from .pipeline import evaluate
from .report import Report
from .sync import SyncScore, SyncScorer, sync_score

__all__ = ["Report", "SyncScore", "SyncScorer", "evaluate", "sync_score"]
