"""dub stage: an existing video, its lower face re-driven by new speech (see pipeline.py)."""
