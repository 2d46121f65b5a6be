"""How a checkpoint's state dict differs from the module it is loaded into, in words: the
strict loading of the diffusion backends (hallo, latentsync) names what does not fit instead
of loading what does."""

from __future__ import annotations


def state_dict_problems(expected: dict, found: dict) -> list[str]:
    """What `found` (a checkpoint's tensors by key) lacks, adds or shapes otherwise than
    `expected` (the module's), one phrase per kind with an example; empty when they fit."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    reshaped = [k for k in expected if k in found and tuple(found[k].shape) != tuple(expected[k].shape)]
    problems = [f"{len(missing)} missing keys (e.g. {missing[0]})"] if missing else []
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
    if reshaped:
        key = reshaped[0]
        problems.append(f"{len(reshaped)} keys of another shape (e.g. {key}: {list(found[key].shape)} where {list(expected[key].shape)} is needed)")
    return problems
