"""talkinghead: one portrait photo + one speech recording -> a talking-head video."""

__version__ = "0.1.0"
