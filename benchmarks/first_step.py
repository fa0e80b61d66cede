"""How fragile is the first DDIM step at t = T? An oracle measurement (issue 10, item 8).

A 1- or 2-step sample decides almost everything at its first step, t = T, where
``abar_T`` is tiny. With epsilon-prediction, z0-hat = (z_T - sqrt(1 - abar_T) eps-hat) /
sqrt(abar_T): an error delta in eps-hat becomes an error of about delta / sqrt(abar_T) in z0-hat
(~ 1e4 x for the cosine schedule at T = 1000). v-prediction returns z0-hat = sqrt(abar) z_t -
sqrt(1 - abar) v-hat, which stays bounded.

The measurement: an oracle denoiser returns the *true* network target (eps or v) for the known
z_0 plus Gaussian noise of 0.1 % of its RMS; the sampler runs K = 1 and K = 2 DDIM steps with a
profile's schedule/sampler settings; the result is the RMS error of the sample against z_0,
relative to RMS(z_0) (1.0 = as wrong as a sample of zeros). ``python -m benchmarks.first_step``
prints the table the README quotes.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, dataclass, replace

import torch

from ldseg.config import SamplerConfig, ScheduleConfig
from ldseg.samplers import sample, standardize
from ldseg.schedule import NoiseSchedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setting:
    name: str
    schedule: ScheduleConfig
    sampler: SamplerConfig


def profile_setting(profile: str, method: str = "ldseg") -> Setting:
    """The schedule + sampler settings ``method`` resolves to under ``profile``."""
    from benchmarks.data import get_info
    from benchmarks.methods import method_config
    from benchmarks.profiles import load_profile

    prof = load_profile(profile)
    info = get_info("synth2d")
    cfg = method_config(method, prof.method_overrides(method, 2), info)
    ev = prof.eval_config(method)
    return Setting(profile, cfg.schedule, SamplerConfig(**asdict(cfg.sampler), name=ev.sampler))


def first_step_error(
    setting: Setting,
    num_inference_steps: int,
    *,
    rel_noise: float = 1e-3,
    n: int = 64,
    shape: tuple[int, ...] = (1, 8, 8),
    seed: int = 0,
) -> float:
    """Relative RMS error of a K-step sample driven by a slightly noisy oracle."""
    schedule = NoiseSchedule(setting.schedule)
    g = torch.Generator().manual_seed(seed)
    z0 = standardize(torch.randn(n, *shape, generator=g, dtype=torch.float64), "sample")
    z_T = torch.randn(n, *shape, generator=g, dtype=torch.float64)

    def denoise(z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = schedule.predict_eps(z_t, z0, t)  # the exact noise in z_t
        target = schedule.target(z0, eps, t)  # eps or v, as the schedule predicts
        rms = target.pow(2).mean().sqrt()
        return target + rel_noise * rms * torch.randn(target.shape, generator=g, dtype=target.dtype)

    out = sample(denoise, z_T, schedule, setting.sampler, num_inference_steps=num_inference_steps)
    return float((out - z0).pow(2).mean().sqrt() / z0.pow(2).mean().sqrt())


def table(profiles: tuple[str, ...] = ("paper", "quick")) -> list[dict]:
    """Rows: each profile's own LDSeg settings, then the eps-prediction fixes one at a time."""
    settings = [profile_setting(p) for p in profiles]
    eps = Setting("eps", ScheduleConfig(), SamplerConfig())
    settings += [
        replace(eps, name="eps + x0 clip 3", sampler=SamplerConfig(x0_processing="clip")),
        replace(
            eps, name="eps + x0 standardize", sampler=SamplerConfig(x0_processing="standardize")
        ),
        replace(
            eps,
            name="eps + batch re-normalisation (reference code)",
            sampler=SamplerConfig(renormalize="batch"),
        ),
        Setting("v-prediction, cosine", ScheduleConfig(prediction="v"), SamplerConfig()),
    ]
    rows = []
    for s in settings:
        rows.append(
            {
                "setting": s.name,
                "schedule": f"{s.schedule.kind}/{s.schedule.prediction}",
                "sampler": f"{s.sampler.name} x0={s.sampler.x0_processing} "
                f"renorm={s.sampler.renormalize}",
                "K=1": first_step_error(s, 1),
                "K=2": first_step_error(s, 2),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="paper,quick")
    args = parser.parse_args()
    rows = table(tuple(p for p in args.profiles.split(",") if p))
    header = "| setting | schedule / prediction | sampler | K = 1 | K = 2 |"
    lines = [header, "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['schedule']} | {r['sampler']} | {r['K=1']:.3g} | {r['K=2']:.3g} |"
        )
    print("\n".join(lines))  # a command-line report, like `bench` tables


if __name__ == "__main__":
    main()
