"""The forward process: one ``NoiseSchedule`` object used by training and by every sampler.

Timesteps follow the paper: t is an integer in {1, ..., T}; index 0 is the clean latent with
alpha_bar_0 = 1. Everything is computed in float64 and cast to the tensor's dtype at use.
Training draws t from {1..T} or, as the reference code, {0..T-1} (``train_timesteps``).

Non-integer t (the reference code's DDIM grid ``linspace(0, T-1, K)``, see ``samplers.py``):
alpha_bar(t) is evaluated as the reference code does, from the cosine closed form
cos^2(((t/T + s)/(1 + s)) pi/2) / cos^2((s/(1 + s)) pi/2) at the real t (equal to the table at
every integer t < T, where no beta is clipped); the linear schedule, which the reference code
never samples at real t, interpolates log(alpha_bar) linearly between the two integer
neighbours. The denoiser receives the real t (its sinusoidal embedding is continuous).
A hand-written schedule (rather than ``monai.networks.schedulers``) because the paper's
1-based timesteps, the K-step rounding rule and the float64 requirement are not what MONAI's
schedulers expose; the betas follow Nichol & Dhariwal (cosine) and Ho et al. (linear).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ldseg.config import ScheduleConfig


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """beta_t = 1 - abar(t)/abar(t-1), abar(t) = cos^2(((t/T + s)/(1 + s)) * pi/2), clipped."""
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos(((t / T + s) / (1 + s)) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(max=max_beta)


def linear_betas(T: int, start: float = 1e-4, end: float = 0.02) -> Tensor:
    """Ho et al.'s linear betas, rescaled so that any T keeps the T = 1000 end points' shape."""
    scale = 1000.0 / T
    return torch.linspace(scale * start, scale * end, T, dtype=torch.float64)


class NoiseSchedule:
    """Betas, alphas and cumulative products for t = 0..T (float64), plus the closed forms."""

    def __init__(self, config: ScheduleConfig | None = None) -> None:
        self.config = config or ScheduleConfig()
        T = self.config.num_train_timesteps
        if T < 1:
            raise ValueError(f"num_train_timesteps must be >= 1, got {T}")
        if self.config.kind == "cosine":
            betas = cosine_betas(T, self.config.cosine_s, self.config.max_beta)
        elif self.config.kind == "linear":
            betas = linear_betas(T, self.config.linear_beta_start, self.config.linear_beta_end)
            betas = betas.clamp(max=self.config.max_beta)  # tiny T would push betas past 1
        else:
            raise ValueError(
                f"unknown schedule kind {self.config.kind!r}; use 'cosine' or 'linear'"
            )
        if self.config.prediction not in ("epsilon", "v"):
            raise ValueError(
                f"unknown schedule prediction {self.config.prediction!r}; use 'epsilon' or 'v'"
            )
        if self.config.train_timesteps not in ("1..T", "0..T-1"):
            raise ValueError(
                f"unknown train_timesteps {self.config.train_timesteps!r}; use '1..T' or '0..T-1'"
            )
        self.T = T
        # index t in 0..T; beta_0 := 0 so that alpha_bar_0 = 1 (the clean latent)
        self.betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])
        self.alphas = 1.0 - self.betas
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)

    # -- helpers ---------------------------------------------------------------------------
    def alpha_bar_at(self, t: Tensor | float) -> Tensor:
        """alpha_bar at (possibly non-integer) t in [0, T], float64, shape of ``t``.

        Integer t read the table; real t use the cosine closed form (the reference code) or,
        for the linear schedule, log-linear interpolation between the integer neighbours.
        """
        t = torch.as_tensor(t, dtype=torch.float64)
        if not t.is_floating_point() or bool((t == t.round()).all()):
            return self.alpha_bar[t.round().long()]
        if not bool(((t >= 0) & (t <= self.T)).all()):
            raise ValueError(f"timesteps must lie in [0, {self.T}], got {t.tolist()}")
        if self.config.kind == "cosine":
            s = self.config.cosine_s
            f = torch.cos(((t / self.T + s) / (1 + s)) * math.pi / 2) ** 2
            return f / math.cos((s / (1 + s)) * math.pi / 2) ** 2
        lo = t.floor().long().clamp(max=self.T - 1)
        w = t - lo
        log_ab = self.alpha_bar.log()
        return torch.exp((1 - w) * log_ab[lo] + w * log_ab[lo + 1])

    def _coef(self, values: Tensor, t: Tensor, like: Tensor) -> Tensor:
        """values[t] broadcast to ``like``'s shape (batch first), in like's dtype/device."""
        if isinstance(t, Tensor) and t.is_meta:  # shapes only (``bench plan`` counts on meta)
            return torch.empty(t.numel(), dtype=like.dtype, device=like.device).reshape(
                -1, *([1] * (like.dim() - 1))
            )
        t = torch.as_tensor(t, device=values.device).long().reshape(-1)
        out = values[t].to(device=like.device, dtype=like.dtype)
        return out.reshape(-1, *([1] * (like.dim() - 1)))

    def _sqrt_ab(self, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        """(sqrt(abar_t), sqrt(1 - abar_t)) broadcast to ``like`` (t may be non-integer)."""
        t = torch.as_tensor(t)
        if not t.is_floating_point() or t.is_meta:
            ab = self.alpha_bar
            return self._coef(ab.sqrt(), t, like), self._coef((1 - ab).sqrt(), t, like)
        ab = self.alpha_bar_at(t.detach().cpu().reshape(-1))
        shape = (-1, *([1] * (like.dim() - 1)))
        return tuple(  # type: ignore[return-value]
            v.to(device=like.device, dtype=like.dtype).reshape(shape)
            for v in (ab.sqrt(), (1 - ab).sqrt())
        )

    def sample_timesteps(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """t ~ Uniform({1, ..., T}) (Algorithm 1, line 5), or Uniform({0, ..., T-1}) with
        ``train_timesteps = "0..T-1"`` (the reference code)."""
        low = 0 if self.config.train_timesteps == "0..T-1" else 1
        return torch.randint(low, low + self.T, (batch_size,), generator=generator)

    def perturb(
        self,
        z0: Tensor,
        generator: torch.Generator | None = None,
        *,
        t: Tensor | None = None,
        eps: Tensor | None = None,
        shared_eps: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Algorithm 1, lines 5-7, for every diffusion method: returns (z_t, t, eps).

        ``t`` ~ U{1..T} and ``eps`` ~ N(0, I) are drawn from ``generator`` unless injected;
        ``shared_eps`` draws one eps for the whole batch (the reference code's choice).
        """
        if t is None:
            t = self.sample_timesteps(z0.shape[0], generator)
        t = t.to(z0.device)
        if eps is None:
            shape = (1, *z0.shape[1:]) if shared_eps else z0.shape
            eps = torch.randn(shape, generator=generator).to(z0).expand_as(z0)
        return self.add_noise(z0, eps, t), t, eps

    # -- closed forms ----------------------------------------------------------------------
    def add_noise(self, z0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """Eq. (11): z_t = sqrt(abar_t) z_0 + sqrt(1 - abar_t) eps."""
        a, b = self._sqrt_ab(t, z0)
        return a * z0 + b * eps

    def predict_x0(self, z_t: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """Invert eq. (11) for z_0 given a noise estimate."""
        a, b = self._sqrt_ab(t, z_t)
        return (z_t - b * eps) / a

    def predict_eps(self, z_t: Tensor, x0: Tensor, t: Tensor) -> Tensor:
        """Invert eq. (11) for eps given a clean-latent estimate (t >= 1)."""
        a, b = self._sqrt_ab(t, z_t)
        return (z_t - a * x0) / b

    def target(self, z0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """What the network is trained to output: eps, or v = sqrt(abar) eps - sqrt(1-abar) z0."""
        if self.config.prediction == "epsilon":
            return eps
        a, b = self._sqrt_ab(t, z0)
        return a * eps - b * z0

    def split(self, output: Tensor, z_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Network output -> (z0-hat, eps-hat) for the configured ``prediction``.

        With "v": z0 = sqrt(abar) z_t - sqrt(1-abar) v and eps = sqrt(1-abar) z_t + sqrt(abar) v,
        both bounded for every t (no division by sqrt(abar_t)).
        """
        if self.config.prediction == "epsilon":
            return self.predict_x0(z_t, output, t), output
        a, b = self._sqrt_ab(t, z_t)
        return a * z_t - b * output, b * z_t + a * output
