"""Training configuration: typed dataclasses, read from YAML, defaults = Hallo's published recipe.

    config = TrainConfig.load("my_stage2.yaml", stage=2, overrides=["solver.max_steps=100"])

A YAML file states only what differs from the defaults of its stage; every key it names must
exist (a typo is an InputError naming it, not a silently ignored setting). The published values
come from the release's `configs/train/stage{1,2}.yaml` and training scripts; where stage 1 and
stage 2 differ, `TrainConfig.defaults(stage)` applies the stage's own.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

PRESETS = Path(__file__).parent / "configs"
WEIGHTS = "{weights}"  # stands for the weights folder at the start of a path
PRESET_NAMES = ("stage1", "stage2", "personalise")


@dataclass
class DataConfig:
    dataset: Path | None = None  # folder written by `talkinghead prepare`
    size: int = 512  # train_width = train_height
    batch_size: int = 8  # per process (train_bs): 8 in stage 1, 4 in stage 2
    num_workers: int = 4  # data-loading processes per training process
    sample_margin: int = 30  # stage 1: at least this many frames between reference and target
    frames: int = 14  # stage 2: frames per sample (n_sample_frames)
    motion_frames: int = 2  # stage 2: previous frames given as motion frames (n_motion_frames)
    audio_margin: int = 2  # stage 2: audio window half-width in frames (t-2 .. t+2)


@dataclass
class ModelConfig:
    """Sizes of networks built fresh (the audio projection in stage 2, everything in stage 1);
    networks loaded from a net.pth take their sizes from its shapes."""

    audio_intermediate_dim: int = 512
    audio_tokens: int = 32
    audio_dim: int | None = None  # audio-token width; None = the UNet's cross_attention_dim (768)
    face_tokens: int = 4
    face_embedding_dim: int = 512
    motion_max_len: int = 32  # positional-encoding length of the motion modules


@dataclass
class InitConfig:
    """Where training starts. A path may begin with {weights}/, the weights folder."""

    net: Path | None = None  # a net.pth in the released layout to start from (stage 2: stage 1's)
    sd_unet: bool = True  # without `net`: both UNets from stable-diffusion-v1-5/unet of the weights
    motion_module: Path | None = None  # AnimateDiff mm_sd_v15_v2.ckpt: initial motion modules


@dataclass
class SolverConfig:
    max_steps: int = 30000
    learning_rate: float = 1.0e-5
    scale_lr: bool = False  # multiply by batch size × accumulation × processes
    lr_scheduler: str = "constant"  # any name diffusers.optimization.get_scheduler knows
    lr_warmup_steps: int = 1
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 1.0e-2
    adam_epsilon: float = 1.0e-8
    use_8bit_adam: bool = False  # bitsandbytes' AdamW8bit when it imports, else torch's AdamW
    mixed_precision: str = "fp16"  # no | fp16 | bf16; frozen networks are stored in this type
    gradient_checkpointing: bool = False
    seed: int = 42


@dataclass
class DiffusionConfig:
    """The training noise schedule: the release trains on a scaled-linear schedule (its
    `get_noise_scheduler` overrides the config's), rescaled to zero terminal SNR, v-prediction;
    validation samples with the inference DDIM (linear betas)."""

    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    noise_offset: float = 0.05
    snr_gamma: float = 5.0  # Min-SNR weighting; 0 = plain MSE


@dataclass
class ConditionConfig:
    """Condition dropout, drawn per sample (the release draws once per batch)."""

    reference_dropout: float = 0.05  # no ReferenceNet tokens (stage 1 also zeroes the face embedding)
    audio_dropout: float = 0.05  # zero audio tokens (stage 2)
    motion_dropout: float = 0.05  # motion frames replaced by zero images (stage 2, `start_ratio`)


@dataclass
class LoRAConfig:
    rank: int = 0  # 0 = no LoRA
    alpha: float | None = None  # scale = alpha / rank; None = rank (scale 1)
    targets: list[str] = field(default_factory=lambda: ["*.audio_modules.*", "*.motion_modules.*"])


@dataclass
class EMAConfig:
    enabled: bool = False
    decay: float = 0.9999
    warmup: bool = True  # diffusers' EMA warm-up: the decay grows with the step count


@dataclass
class CheckpointConfig:
    every: int = 500  # steps between checkpoints (accelerate state + net.pth)
    keep: int = 3  # newest checkpoints kept
    resume: str | None = "latest"  # latest | a checkpoint folder | null (start afresh)


@dataclass
class ValidationConfig:
    every: int = 500  # steps between validation videos; 0 = none
    dataset: Path | None = None  # prepared folder to take the clip from; None = the training set
    clip: str | None = None  # clip name; None = the first
    seconds: float = 2.0  # length of the validation video
    steps: int = 40
    cfg_scale: float = 3.5
    face_expand_ratio: float = 1.2  # face box → face region of the masks; the value the data was prepared with


@dataclass
class LoggingConfig:
    report_to: str = "tensorboard"  # accelerate tracker: tensorboard | wandb | all | none
    project: str = "talkinghead"


@dataclass
class TrainConfig:
    stage: int = 1
    weights: Path | None = None  # Hallo's released pretrained_models/ folder
    output_dir: Path = Path("exp_output/stage1")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    init: InitConfig = field(default_factory=InitConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    conditions: ConditionConfig = field(default_factory=ConditionConfig)
    # Parameter-name patterns (fnmatch) that train; `frozen` wins over `trainable`.
    trainable: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    @classmethod
    def defaults(cls, stage: int) -> TrainConfig:
        """The published recipe of `stage` (1: image model, 2: audio and motion)."""
        if stage == 1:
            # ReferenceNet, the denoising UNet's image layers, FaceLocator and the face projection;
            # the audio and motion modules do not exist in the release's stage-1 UNet.
            return cls(
                stage=1,
                trainable=["reference_unet.*", "denoising_unet.*", "face_locator.*", "imageproj.*"],
                frozen=["*.audio_modules.*", "*.motion_modules.*"],
                conditions=ConditionConfig(reference_dropout=0.1, audio_dropout=0.0, motion_dropout=0.0),
            )
        if stage == 2:
            return cls(
                stage=2,
                output_dir=Path("exp_output/stage2"),
                data=DataConfig(batch_size=4),
                init=InitConfig(sd_unet=False, motion_module=Path(f"{WEIGHTS}/motion_module/mm_sd_v15_v2.ckpt")),
                solver=SolverConfig(use_8bit_adam=True, gradient_checkpointing=True),
                trainable=["*.audio_modules.*", "*.motion_modules.*", "audioproj.*"],
                checkpoint=CheckpointConfig(keep=30),
                validation=ValidationConfig(every=1000),
            )
        raise InputError(f"--stage {stage} does not exist: Hallo trains in stage 1 (image) and stage 2 (audio and motion)")

    @classmethod
    def load(cls, source: str | Path | None, *, stage: int | None = None, overrides: list[str] = ()) -> TrainConfig:
        """Defaults of the stage, then the YAML file (a path or a preset name), then `overrides`
        ("section.key=value", the value read as YAML)."""
        values = read_yaml(source) if source is not None else {}
        file_stage = values.pop("stage", None)
        if stage is not None and file_stage is not None and int(file_stage) != stage:
            raise InputError(f"--stage {stage} contradicts `stage: {file_stage}` in {source}")
        stage = stage if stage is not None else file_stage
        if stage is None:
            raise InputError("say which stage to train: --stage 1 or 2 (or `stage:` in the config)")
        config = cls.defaults(int(stage))
        apply(config, values, "")
        for item in overrides:
            key, sep, text = item.partition("=")
            if not sep:
                raise InputError(f"--set {item!r}: write KEY=VALUE, e.g. solver.max_steps=1000")
            apply(config, _nest(key.strip(), _yaml_value(text)), "")
        return config.check()

    def check(self) -> TrainConfig:
        """Itself, or InputError for a value that cannot work."""
        if self.data.batch_size < 1 or self.solver.max_steps < 1 or self.solver.gradient_accumulation_steps < 1:
            raise InputError("data.batch_size, solver.max_steps and solver.gradient_accumulation_steps must be at least 1")
        if self.data.size % 8:
            raise InputError(f"data.size {self.data.size} must be a multiple of 8 (the VAE's factor)")
        if self.solver.mixed_precision not in ("no", "fp16", "bf16"):
            raise InputError(f"solver.mixed_precision {self.solver.mixed_precision!r} must be no, fp16 or bf16")
        for name in ("reference_dropout", "audio_dropout", "motion_dropout"):
            if not 0.0 <= getattr(self.conditions, name) <= 1.0:
                raise InputError(f"conditions.{name} must lie in [0, 1]")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings), for YAML and the trackers."""
        return _plain(dataclasses.asdict(self))


def read_yaml(source: str | Path) -> dict[str, Any]:
    """A config file's mapping; `source` may be a preset name (stage1, stage2, personalise)."""
    import yaml

    path = PRESETS / f"{source}.yaml" if str(source) in PRESET_NAMES else Path(source)
    if not path.is_file():
        raise InputError(f"config {source} does not exist: give a YAML file or one of {', '.join(PRESET_NAMES)}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise InputError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise InputError(f"{path} must hold a mapping of settings, not {type(values).__name__}")
    return values


def apply(target: Any, values: dict[str, Any], prefix: str) -> None:
    """Set `values` (nested mappings) on the dataclass `target`, converting each to its field's type."""
    fields = {f.name: f for f in dataclasses.fields(target)}
    hints = typing.get_type_hints(type(target))
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise InputError(f"unknown config key {path!r}; known here: {known}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise InputError(f"config key {path!r} is a section: give it a mapping of settings")
            apply(current, value, f"{path}.")
        else:
            setattr(target, key, _convert(value, hints[key], path))


def _convert(value: Any, kind: Any, path: str) -> Any:
    """`value` as the annotated type; InputError naming `path` when it cannot be."""
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    if value is None:
        if type(None) in options:
            return None
        raise InputError(f"config key {path!r} cannot be empty")
    for option in (o for o in options if o is not type(None)):
        try:
            return _as(value, option)
        except (TypeError, ValueError):
            continue
    raise InputError(f"config key {path!r}: {value!r} is not a valid {' or '.join(_name(o) for o in options)}")


def _as(value: Any, kind: Any) -> Any:
    if typing.get_origin(kind) is list:
        if not isinstance(value, list):
            raise TypeError("not a list")
        return [_as(v, typing.get_args(kind)[0]) for v in value]
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise TypeError("not a boolean")
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise TypeError("not an integer")
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            raise TypeError("not a number")
        return float(value)  # also "1e-5", which YAML 1.1 reads as a string
    if kind is Path:
        if not isinstance(value, str):
            raise TypeError("not a path")
        return Path(value).expanduser()
    if kind is str:
        if value is False:  # YAML 1.1 reads a bare `no` (mixed_precision: no) as false
            return "no"
        if not isinstance(value, str):
            raise TypeError("not a string")
        return value
    raise TypeError(f"unsupported type {kind}")


def _name(kind: Any) -> str:
    return "list" if typing.get_origin(kind) is list else getattr(kind, "__name__", str(kind))


def _nest(key: str, value: Any) -> dict[str, Any]:
    head, _, rest = key.partition(".")
    return {head: _nest(rest, value) if rest else value}


def _yaml_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value
