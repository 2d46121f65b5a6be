"""Training Hallo on your own videos: data preparation and the two published stages.

    from talkinghead.training import PrepareOptions, TrainConfig, Trainer, prepare_dataset
    prepare_dataset("videos/", "data/", weights="pretrained_models")
    Trainer(TrainConfig.load("stage1", overrides=["data.dataset=data", "weights=pretrained_models"])).train()

Needs the `train` extra (torch, diffusers, transformers, accelerate, TensorBoard); importing
this package without it raises ModelError with the install command.
"""

from ..errors import ModelError

try:
    from .config import TrainConfig
    from .export import make_weights_folder, save_net
    from .prepare import PrepareOptions, PrepareSummary, prepare_dataset
    from .trainer import Trainer, TrainResult
except ImportError as error:  # torch / diffusers / transformers / accelerate absent
    raise ModelError(f"training needs its extra packages ({error.name} is missing): pip install 'talkinghead[train]'") from error

__all__ = [
    "PrepareOptions",
    "PrepareSummary",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "make_weights_folder",
    "prepare_dataset",
    "save_net",
]
