"""Backends chosen by name: renderers (`animate --backend`) and dub backends (`dub --backend`).

    RENDERERS = Registry("renderer", "talkinghead.renderers", {"warp": "module:Class", ...})
    RENDERERS.register("mine", MyRenderer)      # a class, or "module:Class" imported when chosen
    RENDERERS.get("warp")                       # the class; InputError naming the known ones

Built-ins are given by import path, so a backend's heavy packages (torch) are imported only
when it is chosen; installed packages add theirs through the entry-point group.
"""

from __future__ import annotations

from functools import cached_property
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from .errors import InputError


class Registry:
    """Classes registered by name, of one kind."""

    def __init__(self, kind: str, group: str, builtins: dict[str, Any]):
        self.kind, self.group = kind, group
        self._entries: dict[str, Any] = dict(builtins)

    def register(self, name: str, entry: Any) -> None:
        """Make `--backend name` use `entry`: a class, or its "module:Class" path. A name
        registered again is replaced."""
        self._installed  # noqa: B018 - installed ones first, so that this one wins
        self._entries[name] = entry

    def names(self) -> tuple[str, ...]:
        self._installed  # noqa: B018
        return tuple(self._entries)

    def get(self, name: str) -> Any:
        """The class registered as `name`; InputError naming the known ones when there is none."""
        if name not in self.names():
            raise InputError(f"--backend {name!r} is not a {self.kind}: use one of {', '.join(self._entries)}")
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = self._entries[name] = getattr(import_module(module), attribute)
        return entry

    @cached_property
    def _installed(self) -> None:
        """Installed packages' entries, read once: the registry is asked on every config check."""
        for point in entry_points(group=self.group):
            self._entries.setdefault(point.name, point.value)
