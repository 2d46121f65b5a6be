"""Training Hallo on your own videos: data preparation and the two published stages.

    from talkinghead.training import TrainConfig, Trainer, prepare_dataset
    prepare_dataset("videos/", "data/", weights="pretrained_models")
    Trainer(TrainConfig.load("stage1", overrides=["data.dataset=data", "weights=pretrained_models"])).train()

Needs the `train` extra (torch, diffusers, transformers, accelerate, TensorBoard). The names are
imported on first use, so that `talkinghead --help` (which imports `training.command`) works
without it; using one without the extra raises ModelError with the install command.
"""

from importlib import import_module

from ..errors import ModelError

_PUBLIC = {
    "PrepareOptions": ".prepare",
    "PrepareSummary": ".prepare",
    "prepare_dataset": ".prepare",
    "TrainConfig": ".config",
    "Trainer": ".trainer",
    "TrainResult": ".trainer",
    "save_net": ".export",
    "make_weights_folder": ".export",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = import_module(_PUBLIC[name], __name__)
    except ImportError as error:  # torch / diffusers / transformers / accelerate absent
        raise ModelError(f"training needs its extra packages ({error.name} is missing): pip install 'talkinghead[train]'") from error
    return getattr(module, name)
