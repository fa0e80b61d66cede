"""Reverse-process samplers, separate from any model: DDPM (Algorithm 2) and DDIM.

A sampler knows the schedule and its settings; the network enters only as a function
``denoise(z_t, t) -> output`` (eps-hat, or v-hat: ``NoiseSchedule.split`` turns it into
(z0-hat, eps-hat) for the schedule's ``prediction``). Every method that samples (LDSeg,
LSegDiff, the pixel-space baselines) goes through :func:`sample`, so there is one loop and one
schedule in the project.

Timesteps (the paper, after Nichol & Dhariwal): K evenly spaced real numbers between 1 and T
inclusive, each rounded to the nearest integer (halves round up), visited in decreasing order,
then t = 0 (the clean latent). K = 1 uses t = T alone (a single jump from pure noise).
Fewer than T steps are "respaced": a step from t to s < t uses alpha = abar_t / abar_s.

``timestep_grid="linspace"`` is the reference code's grid instead: the real numbers
linspace(0, T-1, K), not rounded (15 steps: 0, 71.36, ..., 999), in decreasing order. The
schedule gives alpha_bar at real t (``NoiseSchedule.alpha_bar_at``: the cosine closed form, as
the reference code) and the denoiser receives the real t. The grid's last point t = 0 is the
clean latent itself (alpha_bar_0 = 1): the reference code still calls the network there, but the
update returns z unchanged, so this sampler ends at t = 0 without that call (K - 1 network
evaluations). K = 1 visits t = 0 alone: no network call, the (re-normalised) start noise is
returned, exactly what the reference code's loop yields.

DDPM sigma_t (Algorithm 2 leaves it open): ``ddpm_variance="posterior"`` uses
sigma_t^2 = (1 - abar_s)/(1 - abar_t) * (1 - abar_t/abar_s)  (Ho et al.'s beta-tilde, "fixed
small", exact for the respaced chain), ``"beta"`` uses sigma_t^2 = 1 - abar_t/abar_s ("fixed
large"). No noise is added on the last step (t -> 0), as in Algorithm 2, line 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ldseg.config import SamplerConfig
from ldseg.schedule import NoiseSchedule

Denoiser = Callable[[Tensor, Tensor], Tensor]


def timesteps(num_inference_steps: int, T: int, grid: str = "rounded") -> list[int] | list[float]:
    """The timesteps at which the network is called, in decreasing order (all in (0, T]).

    ``grid="rounded"`` (the paper): K integers; ``"linspace"`` (the reference code): the K - 1
    positive points of linspace(0, T-1, K) as floats (the point 0 needs no network call; K = 1
    gives none).
    """
    K = int(num_inference_steps)
    if not 1 <= K <= T:
        raise ValueError(f"num_inference_steps must be in [1, {T}], got {num_inference_steps}")
    if grid == "linspace":  # K = 1: linspace(0, T-1, 1) = [0], nothing to call the network at
        return [i * (T - 1) / (K - 1) for i in range(K - 1, 0, -1)] if K > 1 else []
    if grid != "rounded":
        raise ValueError(f"unknown timestep_grid {grid!r}; use 'rounded' or 'linspace'")
    if K == 1:
        return [T]
    steps = [math.floor(1 + i * (T - 1) / (K - 1) + 0.5) for i in range(K)]
    return sorted(set(steps), reverse=True)


def standardize(z: Tensor, over: str) -> Tensor:
    """Zero mean / unit variance per sample (``"sample"``) or over the whole batch."""
    if over == "none":
        return z
    dims = tuple(range(1, z.dim())) if over == "sample" else tuple(range(z.dim()))
    mean = z.mean(dim=dims, keepdim=True)
    std = z.std(dim=dims, keepdim=True, correction=0)
    return (z - mean) / (std + 1e-6)


def _process_x0(x0: Tensor, config: SamplerConfig) -> Tensor:
    if config.x0_processing == "none":
        return x0
    if config.x0_processing == "clip":
        return x0.clamp(-config.x0_clip, config.x0_clip)
    if config.x0_processing == "standardize":
        return standardize(x0, "sample")
    raise ValueError(f"unknown x0_processing {config.x0_processing!r}")


def _randn_like(z: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(z.shape, generator=generator, dtype=z.dtype, device="cpu").to(z.device)


def ddim_step(
    schedule: NoiseSchedule,
    config: SamplerConfig,
    z_t: Tensor,
    output: Tensor,
    t: float,
    s: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One DDIM update z_t -> z_s (Song et al., eq. 12), eta from the config."""
    ab_t = schedule.alpha_bar_at(t).item()
    ab_s = schedule.alpha_bar_at(s).item()
    t_ = torch.tensor([t])
    x0, eps_hat = schedule.split(output, z_t, t_)
    processed = _process_x0(x0, config)
    if processed is not x0:  # keep the update consistent with the processed x0
        eps_hat = schedule.predict_eps(z_t, processed, t_)
        x0 = processed
    if s == 0:
        return x0
    sigma = config.eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
    z_s = math.sqrt(ab_s) * x0 + math.sqrt(max(1 - ab_s - sigma**2, 0.0)) * eps_hat
    if sigma > 0:
        z_s = z_s + sigma * _randn_like(z_t, generator)
    return z_s


def ddpm_step(
    schedule: NoiseSchedule,
    config: SamplerConfig,
    z_t: Tensor,
    output: Tensor,
    t: float,
    s: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One ancestral step z_t -> z_s (Algorithm 2, line 5, respaced when s < t - 1)."""
    ab_t = schedule.alpha_bar_at(t).item()
    ab_s = schedule.alpha_bar_at(s).item()
    alpha = ab_t / ab_s
    beta = 1 - alpha
    x0 = _process_x0(schedule.split(output, z_t, torch.tensor([t]))[0], config)
    # Posterior mean written through x0; identical to Algorithm 2's
    # 1/sqrt(alpha) (z_t - beta/sqrt(1-abar_t) eps_hat) when x0 is not post-processed.
    mean = (math.sqrt(ab_s) * beta / (1 - ab_t)) * x0 + (
        math.sqrt(alpha) * (1 - ab_s) / (1 - ab_t)
    ) * z_t
    if s == 0:
        return mean
    var = beta * (1 - ab_s) / (1 - ab_t) if config.ddpm_variance == "posterior" else beta
    return mean + math.sqrt(var) * _randn_like(z_t, generator)


STEPS = {"ddim": ddim_step, "ddpm": ddpm_step}


def sample(
    denoise: Denoiser,
    z_T: Tensor,
    schedule: NoiseSchedule,
    config: SamplerConfig,
    *,
    num_inference_steps: int | None = None,
    generator: torch.Generator | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> Tensor:
    """Run the reverse process from ``z_T`` and return z_0.

    ``denoise(z_t, t)`` receives the timesteps (one per sample; a LongTensor, or a float tensor
    on the reference code's ``timestep_grid="linspace"``) and returns the
    network output (eps-hat or v-hat, see ``ScheduleConfig.prediction``).
    ``num_inference_steps`` overrides ``config.num_inference_steps``. ``callback(i, t)`` is
    called after each step (for progress bars; library code never prints).
    """
    if config.name not in STEPS:
        raise ValueError(f"unknown sampler {config.name!r}; valid: {sorted(STEPS)}")
    step = STEPS[config.name]
    K = num_inference_steps or config.num_inference_steps
    ts = timesteps(K, schedule.T, config.timestep_grid)
    t_dtype = torch.float32 if config.timestep_grid == "linspace" else torch.long
    z = standardize(z_T, config.renormalize)
    for i, t in enumerate(ts):
        s = ts[i + 1] if i + 1 < len(ts) else 0
        t_batch = torch.full((z.shape[0],), t, dtype=t_dtype, device=z.device)
        output = denoise(z, t_batch)
        z = step(schedule, config, z, output, t, s, generator)
        z = standardize(z, config.renormalize)
        if callback is not None:
            callback(i, t)
    return z


def initial_noise(
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """z_T ~ N(0, I), drawn on the CPU from ``generator`` so results do not depend on device."""
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)


def sample_conditional(
    denoiser: Callable[[Tensor, Tensor, Tensor], Tensor],
    cond: Tensor,
    channels: int,
    schedule: NoiseSchedule,
    config: SamplerConfig,
    *,
    num_samples: int = 1,
    num_inference_steps: int | None = None,
    generator: torch.Generator | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> Tensor:
    """``num_samples`` samples per conditioning input, run as one batch.

    ``denoiser(z_t, cond, t)``; ``cond`` (B, C_c, *spatial) -> z_0 (B * N, channels, *spatial),
    the N samples of each input adjacent. Used by LDSeg, LSegDiff and the pixel-space methods.
    """
    cond = cond.repeat_interleave(num_samples, dim=0)
    shape = (cond.shape[0], channels, *cond.shape[2:])
    z_T = initial_noise(shape, generator, device=cond.device, dtype=cond.dtype)
    return sample(
        lambda z_t, t: denoiser(z_t, cond, t),
        z_T,
        schedule,
        config,
        num_inference_steps=num_inference_steps,
        generator=generator,
        callback=callback,
    )
