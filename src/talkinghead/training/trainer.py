"""The training loop of both stages, on accelerate: one GPU, several, several machines, DeepSpeed.

    result = Trainer(TrainConfig.load("stage1", overrides=[...])).train()

Per optimisation step (the release's `train_stage{1,2}.py`):
1. VAE-encode the target frames and the reference (+ motion) frames, sampling the posterior;
2. noise = N(0, 1) + noise_offset · N(0, 1) per sample and channel; t ~ U{0 .. 999};
3. condition dropout per sample: reference tokens (stage 1: also the face embedding), audio
   tokens, motion frames (replaced by zero images);
4. v-prediction of the noisy latents, Min-SNR-γ weighted MSE against the velocity target;
5. backward (accumulated), gradient clipping, AdamW (8-bit when bitsandbytes imports), EMA.
Every `checkpoint.every` steps: accelerate state (networks, optimiser, LR schedule, RNGs, EMA,
step and data position, the draw generator) + `net.pth`; every `validation.every` steps a video.

Exact resume: the data order is a function of (seed, epoch), each sample's frames of (seed,
sample key), and every other random draw comes from one generator saved with the checkpoint, so
a resumed run takes the same steps as an uninterrupted one.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, ProjectConfiguration, set_seed
from diffusers import AutoencoderKL, DDIMScheduler
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from transformers import Wav2Vec2Config

from ..config import OutputConfig
from ..errors import InputError, ModelError
from ..render.hallo import loading
from ..render.hallo.audio_module import RegionMasks
from ..render.hallo.pipeline import SCHEDULER, VAE_SCALE
from .config import TrainConfig
from .dataset import EpochBatches, HalloDataset, load_clips
from .export import inference_copy, make_weights_folder, save_net
from .losses import diffusion_loss, min_snr_weights
from .model import HalloTrainingModel, add_lora, build_net, enable_checkpointing, select_trainable

log = logging.getLogger("talkinghead")

WEIGHT_DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TrainState:
    """What a checkpoint adds to accelerate's own state: progress and the draw generator."""

    def __init__(self, seed: int):
        self.step = 0  # optimisation steps done
        self.epoch = 0
        self.batch = 0  # micro-batches of `epoch` consumed
        self.generator = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch": self.batch, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.epoch, self.batch = state["step"], state["epoch"], state["batch"]
        self.generator.set_state(state["generator"])


@dataclass
class TrainResult:
    steps: int  # the step count reached
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) of this run's steps
    net: Path | None = None  # the exported net.pth
    weights_dir: Path | None = None  # a pretrained_models folder around it
    videos: list[Path] = field(default_factory=list)  # validation videos written


class Trainer:
    """Builds everything a run needs from its config; `train()` runs it."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.weights = check_train_weights(config.weights)
        solver = config.solver
        self.accelerator = _accelerator(config)
        self.weight_dtype = WEIGHT_DTYPES[solver.mixed_precision]
        set_seed(solver.seed + self.accelerator.process_index)
        self.state = TrainState(solver.seed + self.accelerator.process_index)
        # 1. Frozen VAE, training noise schedule
        device = self.accelerator.device
        self.vae = AutoencoderKL.from_pretrained(self.weights / loading.VAE, local_files_only=True, torch_dtype=self.weight_dtype)
        self.vae.requires_grad_(False).to(device).eval()
        d = config.diffusion
        # The inference schedule's settings, with the training config's betas.
        betas = dict(num_train_timesteps=d.num_train_timesteps, beta_start=d.beta_start, beta_end=d.beta_end, beta_schedule=d.beta_schedule)
        self.noise_scheduler = DDIMScheduler(**{**SCHEDULER, **betas})
        # 2. Networks: initialised, trainable parts chosen, frozen networks in the weight type
        unet = loading.read_unet_config(self.weights / loading.UNET_CONFIG)
        audio = Wav2Vec2Config.from_pretrained(self.weights / loading.WAV2VEC, local_files_only=True)
        net, self.net_args = build_net(config, self.weights, unet, audio.num_hidden_layers, audio.hidden_size)
        if config.lora.rank > 0:
            add_lora(net, config.lora.rank, config.lora.alpha, config.lora.targets)
        self.trainable_names = select_trainable(net, config.trainable, config.frozen)
        for module in (net.reference_unet, net.face_locator, net.imageproj, net.audioproj):
            if self.weight_dtype != torch.float32 and not any(p.requires_grad for p in module.parameters()):
                # nn.Module.to: diffusers' own `to` warns about casting models it did not load.
                torch.nn.Module.to(module, self.weight_dtype)
        if solver.gradient_checkpointing:
            enable_checkpointing(net)
        self.model = HalloTrainingModel(net).to(device)
        self.parameters = [p for p in net.parameters() if p.requires_grad]
        # 3. Optimiser, LR schedule, EMA
        optimizer = _optimizer(self.parameters, config, self.accelerator.num_processes)
        processes = self.accelerator.num_processes
        lr_scheduler = get_scheduler(
            solver.lr_scheduler, optimizer=optimizer, num_warmup_steps=solver.lr_warmup_steps * processes,
            num_training_steps=solver.max_steps * processes,
        )
        self.ema = None
        if config.ema.enabled:
            self.ema = EMAModel(self.parameters, decay=config.ema.decay, use_ema_warmup=config.ema.warmup)
            self.ema.to(device)
        # 4. Data: this process's share of every epoch
        frames_needed = config.data.frames + config.data.motion_frames + 2 * config.data.audio_margin + 1
        clips = load_clips(config.data.dataset, 1 if config.stage == 1 else frames_needed)
        self.dataset = HalloDataset(clips, config.stage, config.data, solver.seed)
        self.batches = EpochBatches(
            len(clips), config.data.batch_size, seed=solver.seed,
            rank=self.accelerator.process_index, world=self.accelerator.num_processes,
        )
        # 5. accelerate: wrap, and register what a checkpoint must also hold
        if self.accelerator.distributed_type == DistributedType.DEEPSPEED:
            # DeepSpeed reads the micro-batch size from a prepared dataloader; ours shards itself.
            plugin = self.accelerator.state.deepspeed_plugin
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = config.data.batch_size
        self.model, self.optimizer, self.lr_scheduler = self.accelerator.prepare(self.model, optimizer, lr_scheduler)
        self.accelerator.register_for_checkpointing(self.state)
        if self.ema is not None:
            self.accelerator.register_for_checkpointing(self.ema)
        self._validation_models = None

    # -----------------------------------------------------------------------------------------
    # The loop

    def train(self) -> TrainResult:
        """Run (or resume) until `solver.max_steps`; returns what was done and written."""
        config, accelerator = self.config, self.accelerator
        out = Path(config.output_dir)
        resumed = self._resume()
        result = TrainResult(steps=self.state.step)
        if accelerator.is_main_process:
            out.mkdir(parents=True, exist_ok=True)
            (out / "config.yaml").write_text(_yaml(config.to_dict()))
            accelerator.init_trackers(config.logging.project, config=_flat(config.to_dict()))
        log.info(
            "stage %d: %s%d steps, %d clips, %d trainable tensors, %s on %s",
            config.stage, f"resumed at step {self.state.step}, " if resumed else "", config.solver.max_steps,
            len(self.dataset), len(self.parameters), config.solver.mixed_precision, accelerator.device,
        )
        self.model.train()
        while self.state.step < config.solver.max_steps:
            loader = self._loader()
            step_losses = []
            for batch in loader:
                with accelerator.accumulate(self.model):
                    loss = self.loss(batch)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and config.solver.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(self.parameters, config.solver.max_grad_norm)
                    self.optimizer.step()
                    self.lr_scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                self.state.batch += 1
                step_losses.append(accelerator.gather(loss.detach()[None]).mean().item())
                if accelerator.sync_gradients:
                    self._after_step(float(np.mean(step_losses)), result)
                    step_losses = []
                    if self.state.step >= config.solver.max_steps:
                        break
            else:
                self.state.epoch += 1
                self.state.batch = 0
        result.steps = self.state.step
        if accelerator.is_main_process:
            result.net = save_net(self._export_net(), out / "net.pth")
            result.weights_dir = make_weights_folder(self.weights, result.net, out / "pretrained_models")
        accelerator.wait_for_everyone()
        accelerator.end_training()
        return result

    def _loader(self) -> torch.utils.data.DataLoader:
        """The rest of the current epoch's micro-batches."""
        workers = self.config.data.num_workers
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=self.batches.epoch(self.state.epoch, self.state.batch),
            num_workers=workers,
            pin_memory=self.accelerator.device.type == "cuda",
            persistent_workers=False,
        )

    def _after_step(self, loss: float, result: TrainResult) -> None:
        self.state.step += 1
        step = self.state.step
        if self.ema is not None:
            self.ema.step(self.parameters)
        result.losses.append((step, loss))
        self.accelerator.log({"train_loss": loss, "lr": self.lr_scheduler.get_last_lr()[0]}, step=step)
        c = self.config
        if c.checkpoint.every and step % c.checkpoint.every == 0:
            self.save_checkpoint()
        if c.validation.every and step % c.validation.every == 0 and self.accelerator.is_main_process:
            result.videos.append(self.validate())

    def loss(self, batch: dict) -> torch.Tensor:
        """The training objective of one micro-batch (see the module docstring for the steps)."""
        c, g = self.config, self.state.generator
        device = self.accelerator.device
        batch_size = batch["reference"].shape[0]
        stage2 = c.stage == 2
        # 3. Condition dropout, drawn first so the draw order never depends on the data
        keep_reference = torch.rand(batch_size, generator=g) >= c.conditions.reference_dropout
        keep_audio = torch.rand(batch_size, generator=g) >= c.conditions.audio_dropout
        keep_motion = torch.rand(batch_size, generator=g) >= c.conditions.motion_dropout
        # 1. Latents of the targets and of the reference (+ motion) images
        if stage2:
            targets = batch["frames"]
            motion = batch["motion"] * keep_motion[:, None, None, None, None]
            references = torch.cat([batch["reference"][:, None], motion], dim=1).flatten(0, 1)
        else:
            targets = batch["target"][:, None]
            references = batch["reference"]
        frames = targets.shape[1]
        latents = self._encode(targets.flatten(0, 1), g)
        latents = latents.reshape(batch_size, frames, *latents.shape[1:]).transpose(1, 2)
        reference_latents = self._encode(references, g)
        # 2. Noise with offset, timesteps
        noise = torch.randn(latents.shape, generator=g)
        if c.diffusion.noise_offset > 0:
            noise = noise + c.diffusion.noise_offset * torch.randn((batch_size, latents.shape[1], 1, 1, 1), generator=g)
        noise = noise.to(device)
        timesteps = torch.randint(0, c.diffusion.num_train_timesteps, (batch_size,), generator=g).to(device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        # 4. The prediction, with each frame's reference row (-1: dropped)
        rows = torch.arange(batch_size).repeat_interleave(frames)
        reference_index = torch.where(keep_reference.repeat_interleave(frames), rows, -1).to(device)
        face_embedding = batch["face_embedding"].to(device)
        if not stage2:  # stage 1's unconditional pass also has no face identity
            face_embedding = face_embedding * keep_reference[:, None].to(device)
        region = batch["face_region"][:, None].expand(-1, 3, -1, -1).to(device)
        extra = {}
        if stage2:
            extra = dict(
                audio_windows=batch["audio"].to(device),
                audio_keep=keep_audio.float().to(device),
                masks=_frame_masks(batch["masks"], frames, device),
            )
        prediction = self.model(noisy, timesteps, reference_latents, face_embedding, region, reference_index, **extra)
        weights = None
        if c.diffusion.snr_gamma > 0:
            weights = min_snr_weights(self.noise_scheduler.alphas_cumprod, timesteps, c.diffusion.snr_gamma)
        return diffusion_loss(prediction, target, weights)

    @torch.no_grad()
    def _encode(self, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(N, 3, S, S) in [-1, 1] → (N, 4, S/8, S/8) scaled latents, sampled from the posterior."""
        pixels = pixels.to(self.accelerator.device, self.weight_dtype)
        return self.vae.encode(pixels).latent_dist.sample(generator=generator).float() * VAE_SCALE

    # -----------------------------------------------------------------------------------------
    # Checkpoints, export, validation

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.config.output_dir) / "checkpoints"

    def save_checkpoint(self) -> Path:
        """accelerate's state (+ step, data position, generator, EMA) and the exported net.pth."""
        path = self.checkpoint_dir / f"checkpoint-{self.state.step}"
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(path))
        if self.accelerator.is_main_process:
            save_net(self._export_net(), path / "net.pth")
            _prune(self.checkpoint_dir, self.config.checkpoint.keep)
        self.accelerator.wait_for_everyone()
        return path

    def _resume(self) -> bool:
        """Load the checkpoint `checkpoint.resume` names (latest: the newest, if any)."""
        choice = self.config.checkpoint.resume
        if not choice:
            return False
        if choice == "latest":
            found = _checkpoints(self.checkpoint_dir)
            if not found:
                return False
            path = found[-1]
        else:
            path = Path(choice)
            if not path.is_dir():
                raise InputError(f"checkpoint.resume {choice} is not a checkpoint folder (checkpoints/checkpoint-N)")
        self.accelerator.load_state(str(path))
        log.info("resumed from %s (step %d)", path, self.state.step)
        return True

    def _export_net(self):
        """The networks as they are to be used: EMA weights when EMA is on."""
        net = self.accelerator.unwrap_model(self.model).net
        if self.ema is None:
            return inference_copy(net, self.net_args)
        self.ema.store(self.parameters)
        self.ema.copy_to(self.parameters)
        try:
            return inference_copy(net, self.net_args)
        finally:
            self.ema.restore(self.parameters)

    def validate(self) -> Path:
        """A video of the validation clip's first frame speaking its audio, with the networks as
        exported (EMA, LoRA folded in), through the inference pipeline."""
        from ..types import AudioClip
        from ..video.writer import VideoWriter
        from .dataset import validation_inputs

        c = self.config
        pipeline = self._pipeline()
        reference, landmarks, samples = validation_inputs(c.validation.dataset or c.data.dataset, c.validation.clip, c.data.size, c.validation.seconds)
        clip = AudioClip(samples)
        path = Path(c.output_dir) / "validation" / f"step-{self.state.step:06d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        frames = []
        with VideoWriter(path, size=(c.data.size, c.data.size), fps=25, audio=clip, crf=OutputConfig().crf) as video:
            for frame in pipeline.frames(
                reference, landmarks, clip, face_expand_ratio=c.validation.face_expand_ratio, steps=c.validation.steps, cfg_scale=c.validation.cfg_scale, fps=25, seed=c.solver.seed
            ):
                video.write(frame)
                frames.append(frame)
        strip = np.stack(frames[:: max(1, len(frames) // 4)][:4])
        for tracker in self.accelerator.trackers:
            if hasattr(tracker, "log_images"):
                tracker.log_images({"validation": strip}, step=self.state.step, dataformats="NHWC")
        return path

    def _pipeline(self):
        from ..render.hallo.pipeline import HalloPipeline

        device = self.accelerator.device
        if self._validation_models is None:
            self._validation_models = loading.load_front_end(self.weights, device)
        return HalloPipeline(self._export_net(), self.vae, DDIMScheduler(**SCHEDULER), *self._validation_models, device=device, dtype=self.weight_dtype)


def check_train_weights(weights: Path | None) -> Path:
    """The weights folder, or ModelError naming what training reads from it."""
    if weights is None:
        raise ModelError("training needs `weights`: Hallo's pretrained_models folder (VAE, wav2vec2, UNet config, face models)")
    needed = (loading.UNET_CONFIG, f"{loading.VAE}/config.json", f"{loading.WAV2VEC}/config.json", loading.FACE_DETECTOR, loading.FACE_RECOGNIZER)
    return loading.check_weights_dir(weights, needed)


def _accelerator(config: TrainConfig) -> Accelerator:
    mixed = config.solver.mixed_precision
    if mixed == "fp16" and not torch.cuda.is_available():
        raise InputError("solver.mixed_precision fp16 needs a GPU: use bf16 or no on the CPU")
    report = None if config.logging.report_to == "none" else config.logging.report_to
    if report == "tensorboard" and not (importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX")):
        raise InputError("logging.report_to tensorboard needs TensorBoard: pip install 'talkinghead[train]' (or set it to none)")
    out = Path(config.output_dir)
    return Accelerator(
        gradient_accumulation_steps=config.solver.gradient_accumulation_steps,
        mixed_precision=mixed,
        log_with=report,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
        # ReferenceNet layers after its last bank, and the motion modules the UNet never runs
        # (down_blocks.3, up_blocks.0), get no gradient.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )


def _optimizer(parameters: list[torch.nn.Parameter], config: TrainConfig, processes: int) -> torch.optim.Optimizer:
    s = config.solver
    lr = s.learning_rate
    if s.scale_lr:
        lr *= s.gradient_accumulation_steps * config.data.batch_size * processes
    kwargs = dict(lr=lr, betas=(s.adam_beta1, s.adam_beta2), weight_decay=s.adam_weight_decay, eps=s.adam_epsilon)
    if s.use_8bit_adam:
        if importlib.util.find_spec("bitsandbytes") is not None:
            import bitsandbytes as bnb

            return bnb.optim.AdamW8bit(parameters, **kwargs)
        log.warning("solver.use_8bit_adam: bitsandbytes is not installed; using torch's AdamW (more memory)")
    return torch.optim.AdamW(parameters, **kwargs)


def _frame_masks(masks: dict, frames: int, device) -> RegionMasks:
    """Per-sample masks (B, s_l²) per level → per-frame (B·F, s_l²), as the UNet reads them."""
    per_frame = lambda levels: tuple(m.repeat_interleave(frames, dim=0).to(device) for m in levels)  # noqa: E731
    return RegionMasks(per_frame(masks["pose"]), per_frame(masks["expression"]), per_frame(masks["lip"]))


def _checkpoints(folder: Path) -> list[Path]:
    """checkpoint-N folders, oldest first."""
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def _prune(folder: Path, keep: int) -> None:
    for old in _checkpoints(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def _flat(values: dict, prefix: str = "") -> dict:
    """Nested config → flat scalars for the trackers' hyper-parameter tables."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def _yaml(values: dict) -> str:
    import yaml

    return yaml.safe_dump(values, sort_keys=False)

