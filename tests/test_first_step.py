"""The first DDIM step at t = T under epsilon- vs v-prediction, measured with a noisy oracle
(true target + 0.1 % noise): benchmarks/first_step.py, numbers quoted in README."""

from benchmarks.first_step import Setting, first_step_error, profile_setting
from ldseg.config import SamplerConfig, ScheduleConfig


def test_exact_oracle_has_no_error():
    s = Setting("eps", ScheduleConfig(), SamplerConfig())
    assert first_step_error(s, 1, rel_noise=0.0) < 1e-6
    assert first_step_error(s, 2, rel_noise=0.0) < 1e-6


def test_epsilon_prediction_amplifies_the_first_step_error():
    eps = Setting("eps", ScheduleConfig(), SamplerConfig())  # cosine, eps, no post-processing
    # 0.1 % error in eps-hat -> z0-hat error ~ 0.001 / sqrt(abar_T): larger than the signal
    assert first_step_error(eps, 1) > 5.0
    # the second step at t = 1 re-estimates z0 (here with an oracle), leaving a residue
    assert 1e-3 < first_step_error(eps, 2) < 0.1


def test_paper_profile_renormalises_like_the_reference_code():
    """The paper is silent; the paper profile takes the code's per-step re-normalisation, which
    bounds the eps first step (K = 1 ~ an independent draw, sqrt(2))."""
    paper = profile_setting("paper")
    assert paper.schedule.prediction == "epsilon" and paper.sampler.renormalize == "batch"
    assert 1.0 < first_step_error(paper, 1) < 1.6
    assert 1e-4 < first_step_error(paper, 2) < 0.01


def test_v_prediction_keeps_it_bounded():
    quick = profile_setting("quick")
    assert quick.schedule.prediction == "v"
    v = Setting("v", ScheduleConfig(prediction="v"), SamplerConfig())
    for s in (quick, v):
        assert first_step_error(s, 1) < 0.01  # ~ the 0.1 % oracle noise itself
        assert first_step_error(s, 2) < 1e-3
    paper = profile_setting("paper")
    assert first_step_error(paper, 2) > 100 * first_step_error(v, 2)
    eps = Setting("eps", ScheduleConfig(), SamplerConfig())
    assert first_step_error(eps, 2) > 100 * first_step_error(v, 2)


def test_standardisation_bounds_but_does_not_fix_one_step_eps():
    """x0 standardisation / the reference code's re-normalisation keep z0-hat at unit scale,
    but the 1-step sample is then as far from z0 as an independent draw (sqrt(2))."""
    for sampler in (SamplerConfig(x0_processing="standardize"), SamplerConfig(renormalize="batch")):
        err = first_step_error(Setting("eps", ScheduleConfig(), sampler), 1)
        assert 1.0 < err < 1.6
