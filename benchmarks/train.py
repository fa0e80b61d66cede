"""The one training loop for every method: seeds, optimiser, LR schedule, EMA, clipping,
AMP (CUDA only), checkpoints every N steps and exact resume.

Determinism: every step draws its batch, augmentation, timesteps and noise from a generator
seeded by (seed, step), and re-seeds torch's global RNG the same way (dropout), so a run
resumed from any checkpoint replays exactly the steps an uninterrupted run would have taken.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from annotated_types import Interval
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from benchmarks.checkpoint import load_checkpoint, save_checkpoint
from benchmarks.errors import TrainingError
from ldseg.config import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    Seed,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    steps: PositiveInt = 1000  # optimiser steps (the budget unit: equal across methods)
    batch_size: PositiveInt = 8
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: PositiveFloat = 1e-3
    momentum: Probability = 0.99  # sgd only
    nesterov: bool = True  # sgd only
    weight_decay: NonNegativeFloat = 0.0
    # "exp": exponential decay from lr to lr * lr_final_fraction (the paper); "poly": nnU-Net's
    # (1 - step/steps)^0.9; "constant": the reference code.
    lr_schedule: Literal["exp", "poly", "constant"] = "exp"
    lr_final_fraction: Annotated[float, Interval(gt=0, le=1)] = 0.05
    # max global grad norm; 0 (what a TOML profile can write) or None = off (the reference code)
    grad_clip: NonNegativeFloat | None = 1.0
    ema_decay: Probability | None = None  # EMA of method.ema_target(); None (or 0) = off
    amp: bool = False  # bf16 autocast, honoured on CUDA only (the reference code: fp32)
    checkpoint_every: PositiveInt = 250
    curve_every: NonNegativeInt = 0  # evaluate every N steps for the DSC-vs-time curve (0 = off)
    # keep the inference weights (EMA applied) at these steps: snapshots/step<N>.pt beside the
    # checkpoint, so one run is scored at several budgets (bench run budget); () = none
    snapshot_steps: tuple[PositiveInt, ...] = ()
    seed: Seed = 0

    def __post_init__(self) -> None:
        late = [s for s in self.snapshot_steps if s > self.steps]
        if late:
            raise ValueError(f"snapshot_steps {late} lie beyond steps = {self.steps}")


@dataclass
class TrainState:
    step: int = 0
    elapsed_s: float = 0.0
    curve: list[dict[str, float]] = field(default_factory=list)  # DSC vs minutes
    last_terms: dict[str, float] = field(default_factory=dict)
    # of the last step: lr (the one it used), grad_norm (before clipping), images_per_s
    last_stats: dict[str, float] = field(default_factory=dict)


def snapshot_path(checkpoint: Path | str, step: int) -> Path:
    """Where the snapshot of ``step`` lives, beside ``checkpoint``."""
    return Path(checkpoint).parent / "snapshots" / f"step{step:07d}.pt"


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7919) % (2**63 - 1)


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use adam, adamw or sgd")


def make_lr_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig):
    if cfg.lr_schedule == "exp":
        gamma = cfg.lr_final_fraction ** (1.0 / max(cfg.steps, 1))
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    if cfg.lr_schedule == "poly":
        return torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=cfg.steps, power=0.9)
    if cfg.lr_schedule == "constant":
        return torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r}; use exp, poly or constant")


class Trainer:
    """Trains ``method`` on ``dataset`` (a SegDataset) under ``cfg``; checkpoints to ``ckpt``."""

    def __init__(
        self,
        method: nn.Module,
        dataset,
        cfg: TrainConfig,
        *,
        device: torch.device | str = "cpu",
        checkpoint: Path | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.method = method.to(device)
        self.dataset = dataset
        self.cfg = cfg
        self.device = torch.device(device)
        self.checkpoint = checkpoint
        self.meta = dict(meta or {})
        self.opt = make_optimizer([p for p in method.parameters() if p.requires_grad], cfg)
        self.sched = make_lr_schedule(self.opt, cfg)
        self.ema = None
        if cfg.ema_decay:
            # use_buffers: BatchNorm statistics and step counters follow the live model
            self.ema = AveragedModel(
                method.ema_target(),
                use_buffers=True,
                multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay),
            )
        self.state = TrainState()
        if checkpoint is not None and Path(checkpoint).exists():
            self._resume(Path(checkpoint))

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.method.state_dict(),
            "optimizer": self.opt.state_dict(),
            "lr_schedule": self.sched.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "step": self.state.step,
            "elapsed_s": self.state.elapsed_s,
            "curve": self.state.curve,
            "rng_cpu": torch.get_rng_state(),
            "train_config": {k: getattr(self.cfg, k) for k in self.cfg.__dataclass_fields__},
        }

    def save(self) -> None:
        if self.checkpoint is not None:
            save_checkpoint(self.checkpoint, {**self.meta, **self.state_dict()})

    def save_snapshot(self, step: int) -> Path:
        """The weights ``predict`` would use now (EMA applied), as a checkpoint without the
        optimiser state: ``load_trained`` / ``evaluate_checkpoint`` read it like the final one."""
        path = snapshot_path(self.checkpoint, step)
        with self.swapped_ema():
            model = {k: v.detach().clone() for k, v in self.method.state_dict().items()}
        payload = {
            **self.meta,
            "model": model,
            "ema": None,
            "step": step,
            "elapsed_s": self.state.elapsed_s,
            "train_config": {k: getattr(self.cfg, k) for k in self.cfg.__dataclass_fields__},
        }
        save_checkpoint(path, payload)
        return path

    def _resume(self, path: Path) -> None:
        ckpt = load_checkpoint(path)
        self.method.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["lr_schedule"])
        if self.ema is not None and ckpt.get("ema") is not None:
            self.ema.load_state_dict(ckpt["ema"])
        torch.set_rng_state(ckpt["rng_cpu"])
        self.state = TrainState(ckpt["step"], ckpt["elapsed_s"], list(ckpt.get("curve", [])))
        log.info("resumed from %s at step %d", path, self.state.step)

    # -- the loop --------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        g = torch.Generator().manual_seed(step_seed(cfg.seed, step))
        torch.manual_seed(step_seed(cfg.seed, step) + 1)
        idx = torch.randint(0, len(self.dataset), (cfg.batch_size,), generator=g).tolist()
        aug_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        batch = self.dataset.batch(idx, aug_seed=aug_seed)
        batch = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        self.method.train()
        use_amp = cfg.amp and self.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            terms = self.method.loss(batch, generator=g)
        loss = terms["loss"]
        if not torch.isfinite(loss):
            raise TrainingError(
                f"loss is {loss.item()} at step {step} (terms: "
                f"{ {k: float(v.detach()) for k, v in terms.items()} }); lower the learning rate or "
                f"enable grad_clip"
            )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        lr = float(self.opt.param_groups[0]["lr"])
        if cfg.grad_clip:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.method.parameters(), cfg.grad_clip)
        else:
            grads = [p.grad for p in self.method.parameters() if p.grad is not None]
            grad_norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())
        self.state.last_stats = {"lr": lr, "grad_norm": float(grad_norm)}
        self.opt.step()
        self.sched.step()
        if self.ema is not None:
            self.ema.update_parameters(self.method.ema_target())
        return {k: float(v.detach()) for k, v in terms.items()}

    def fit(
        self,
        *,
        on_step: Callable[[int, dict], None] | None = None,
        evaluate_curve: Callable[[], dict[str, float]] | None = None,
        stop_after: int | None = None,
    ) -> TrainState:
        """Train until ``cfg.steps`` (or ``stop_after`` steps in this call, for tests)."""
        cfg = self.cfg
        done_here = 0
        while self.state.step < cfg.steps:
            step = self.state.step + 1
            t0 = time.perf_counter()
            self.state.last_terms = self.train_step(step)
            seconds = time.perf_counter() - t0
            self.state.elapsed_s += seconds
            self.state.last_stats["images_per_s"] = cfg.batch_size / max(seconds, 1e-9)
            self.state.step = step
            if (
                evaluate_curve
                and cfg.curve_every
                and (step % cfg.curve_every == 0 or step == cfg.steps)
            ):
                with self.swapped_ema():
                    point = evaluate_curve()
                self.state.curve.append(
                    {"step": step, "minutes": self.state.elapsed_s / 60, **point}
                )
            if on_step is not None:
                on_step(step, self.state.last_terms)
            if step in cfg.snapshot_steps and self.checkpoint is not None:
                self.save_snapshot(step)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                self.save()
            done_here += 1
            if stop_after is not None and done_here >= stop_after:
                break
        return self.state

    def swapped_ema(self):
        """Context manager: evaluate with the EMA weights in place (no-op without EMA)."""
        return _EmaSwap(self)

    @property
    def finished(self) -> bool:
        return self.state.step >= self.cfg.steps


class _EmaSwap:
    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.backup = None

    def __enter__(self):
        tr = self.trainer
        if tr.ema is not None:
            target = tr.method.ema_target()
            self.backup = {k: v.detach().clone() for k, v in target.state_dict().items()}
            target.load_state_dict(tr.ema.module.state_dict())
        return tr.method

    def __exit__(self, *exc):
        if self.backup is not None:
            self.trainer.method.ema_target().load_state_dict(self.backup)
        return False


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Closed form of the LR schedule (tests check the scheduler against it)."""
    if cfg.lr_schedule == "exp":
        return cfg.lr * cfg.lr_final_fraction ** (step / cfg.steps)
    if cfg.lr_schedule == "poly":
        return cfg.lr * (1 - min(step, cfg.steps) / cfg.steps) ** 0.9
    return cfg.lr if math.isfinite(cfg.lr) else float("nan")
