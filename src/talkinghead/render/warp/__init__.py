"""warp stage."""
