"""Each reference-code switch of ldseg/config.py acts, checked against hand-computed values:
label-encoder max-pooling, per-component norm, encoder/decoder dropout, the image encoder's
attention head, BatchNorm on the logits, training timesteps in {0..T-1}, alpha_bar at real t,
and the DDIM grid linspace(0, T-1, K)."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from ldseg.config import SamplerConfig, ScheduleConfig
from ldseg.model import LDSeg
from ldseg.nets import ImageEncoder, LabelDecoder, LabelEncoder
from ldseg.nets.blocks import SelfAttention, down_unit
from ldseg.samplers import sample, timesteps
from ldseg.schedule import NoiseSchedule
from tests.test_ldseg_model import tiny_config


def count(module: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


def test_maxpool_downsampling_values_and_shape():
    unit = down_unit(2, 1, 4, downsample="maxpool", norm="batch")
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert unit[0](x).flatten().tolist() == [5.0, 7.0, 13.0, 15.0]  # 2x2 maxima
    assert unit(x).shape == (1, 4, 2, 2)
    cfg = tiny_config()
    pooled = replace(cfg, label_encoder=replace(cfg.label_encoder, downsample="maxpool"))
    enc_p, enc_s = LabelEncoder(pooled), LabelEncoder(cfg)
    assert count(enc_p, nn.MaxPool2d) == cfg.num_downsamplings == 2
    assert count(enc_s, nn.MaxPool2d) == 0
    y = torch.nn.functional.one_hot(torch.randint(0, 2, (2, 16, 16)), 2).movedim(-1, 1).float()
    assert enc_p(y).shape == enc_s(y).shape == (2, 2, 4, 4)
    # every residual unit after a pool keeps the size (stride 1)
    strides = [m.stride for m in enc_p.modules() if isinstance(m, nn.Conv2d)]
    assert set(strides) == {(1, 1)}


@pytest.mark.parametrize(
    "part,build",
    [
        ("label_encoder", LabelEncoder),
        ("image_encoder", ImageEncoder),
        ("label_decoder", LabelDecoder),
    ],
)
def test_norm_per_component_overrides_the_global_norm(part, build):
    cfg = tiny_config()  # norm = "group"
    assert count(build(cfg), nn.BatchNorm2d) == 0
    own = replace(cfg, **{part: replace(getattr(cfg, part), norm="batch")})
    net = build(own)
    assert count(net, nn.BatchNorm2d) > 0
    # the image encoder's self-attention keeps its own pre-norm GroupNorm
    assert count(net, nn.GroupNorm) == count(net, SelfAttention)
    others = {
        "label_encoder": LabelEncoder,
        "image_encoder": ImageEncoder,
        "label_decoder": LabelDecoder,
    }
    for name, other in others.items():
        if name != part:  # the other components keep the global norm
            assert count(other(own), nn.BatchNorm2d) == 0


@pytest.mark.parametrize(
    "part,build", [("image_encoder", ImageEncoder), ("label_decoder", LabelDecoder)]
)
def test_dropout_acts_in_training_only(part, build):
    cfg = tiny_config()
    assert count(build(cfg), nn.Dropout) == 0
    torch.manual_seed(0)
    net = build(replace(cfg, **{part: replace(getattr(cfg, part), dropout=0.2)}))
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert drops and {m.p for m in drops} == {0.2}
    x = torch.rand(2, 1, 16, 16) if part == "image_encoder" else torch.randn(2, 2, 4, 4)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    torch.manual_seed(1)
    a = net(x)
    torch.manual_seed(2)
    assert not torch.allclose(a, net(x))


def test_image_encoder_attention_head_is_attention_swish_batchnorm():
    cfg = tiny_config()
    plain = ImageEncoder(cfg)
    torch.manual_seed(0)
    head_cfg = replace(cfg, image_encoder=replace(cfg.image_encoder, head="attention"))
    enc = ImageEncoder(head_cfg).eval()
    attn, act, bn = enc.body[-1]
    assert isinstance(attn, SelfAttention) and attn.attn.num_heads == 1
    assert isinstance(bn, nn.BatchNorm2d) and bn.num_features == cfg.latent_channels
    assert len(enc.body) == len(plain.body) + 1
    x = torch.rand(2, 1, 16, 16)
    before = enc.body[:-1](x)
    a = attn(before)
    # fresh BatchNorm in eval: (x - 0) / sqrt(1 + eps); swish(x) = x * sigmoid(x)
    want = a * torch.sigmoid(a) / math.sqrt(1 + bn.eps)
    assert torch.allclose(enc(x), want, atol=1e-6)


def test_decoder_output_batchnorm_standardises_logits_per_class():
    cfg = tiny_config()
    dec = LabelDecoder(replace(cfg, label_decoder=replace(cfg.label_decoder, output_norm=True)))
    assert isinstance(dec.body[-1], nn.BatchNorm2d)
    logits = dec(torch.randn(4, 2, 4, 4))  # training mode: batch statistics
    assert torch.allclose(logits.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(logits.var(dim=(0, 2, 3), correction=0), torch.ones(2), atol=1e-3)


def test_train_timesteps_reference_range():
    g = torch.Generator().manual_seed(0)
    ref = NoiseSchedule(ScheduleConfig(num_train_timesteps=3, train_timesteps="0..T-1"))
    paper = NoiseSchedule(ScheduleConfig(num_train_timesteps=3))
    assert set(ref.sample_timesteps(500, g).tolist()) == {0, 1, 2}
    assert set(paper.sample_timesteps(500, g).tolist()) == {1, 2, 3}


def test_alpha_bar_at_real_t():
    s = NoiseSchedule()  # cosine, T = 1000, s = 0.008
    ints = torch.tensor([0, 1, 500, 999, 1000])
    assert torch.equal(s.alpha_bar_at(ints), s.alpha_bar[ints])

    def f(t):
        return math.cos(((t / 1000 + 0.008) / 1.008) * math.pi / 2) ** 2

    for t in (0.5, 71.357142857142857, 998.25):
        assert s.alpha_bar_at(t).item() == pytest.approx(f(t) / f(0), rel=1e-12)
    # the closed form meets the table at the integers (no beta is clipped below T)
    assert s.alpha_bar_at(499.999999).item() == pytest.approx(s.alpha_bar[500].item(), rel=1e-6)
    lin = NoiseSchedule(ScheduleConfig(kind="linear"))
    a, b = lin.alpha_bar[10].item(), lin.alpha_bar[11].item()
    assert lin.alpha_bar_at(10.5).item() == pytest.approx(math.sqrt(a * b), rel=1e-12)
    assert lin.alpha_bar_at(10.25).item() == pytest.approx(a**0.75 * b**0.25, rel=1e-12)


def test_linspace_grid_values():
    ts = timesteps(15, 1000, "linspace")
    assert len(ts) == 14  # linspace(0, 999, 15) without its last point t = 0
    assert ts[0] == 999.0 and ts[-1] == pytest.approx(999 / 14)
    assert ts[6] == pytest.approx(8 * 999 / 14)  # 570.857...
    assert timesteps(2, 1000, "linspace") == [999.0]
    assert timesteps(4, 10, "linspace") == [9.0, 6.0, 3.0]
    assert timesteps(1, 1000, "linspace") == []  # linspace(0, 999, 1) = [0]: no network call
    z_T = torch.randn(2, 1, 4, 4)
    cfg = SamplerConfig(num_inference_steps=1, timestep_grid="linspace", renormalize="batch")
    out = sample(lambda z, t: 1 / 0, z_T, NoiseSchedule(), cfg)  # never called
    assert torch.allclose(out, (z_T - z_T.mean()) / (z_T.std(correction=0) + 1e-6))


@pytest.mark.parametrize("kind", ["cosine", "linear"])
@pytest.mark.parametrize("K", [2, 15, 50])
def test_linspace_grid_oracle_recovers_z0_with_real_t(kind, K):
    s = NoiseSchedule(ScheduleConfig(kind=kind))
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    z_T = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    seen = []

    def denoise(z_t, t):  # true noise, from the closed form at the real t
        seen.append(t[0].item())
        ab = torch.tensor(
            [
                math.cos(((u / 1000 + 0.008) / 1.008) * math.pi / 2) ** 2
                / math.cos((0.008 / 1.008) * math.pi / 2) ** 2
                for u in t.tolist()
            ],
            dtype=torch.float64,
        ).reshape(-1, 1, 1, 1)
        if kind == "linear":
            ab = s.alpha_bar_at(t.double()).reshape(-1, 1, 1, 1)
        return (z_t - ab.sqrt() * z0) / (1 - ab).sqrt()

    cfg = SamplerConfig(num_inference_steps=K, timestep_grid="linspace")
    out = sample(denoise, z_T, s, cfg)
    assert torch.allclose(out, z0, atol=1e-4)
    assert seen == pytest.approx([i * 999 / (K - 1) for i in range(K - 1, 0, -1)], rel=1e-6)


def test_denoiser_head_width_per_level():
    """``denoiser.num_head_channels`` per level: the reference code's one head per block."""
    cfg = tiny_config()  # denoiser channels (8, 8), attention at the second level
    heads = {}
    for width in (4, (8, 8)):
        denoiser = replace(cfg.denoiser, num_head_channels=width)
        model = LDSeg(replace(cfg, denoiser=denoiser))
        attn = [m for m in model.denoiser.modules() if hasattr(m, "num_heads")]
        heads[str(width)] = {m.num_heads for m in attn}
    assert heads == {"4": {2}, "(8, 8)": {1}}  # 8 channels / 4 per head vs / 8 per head
