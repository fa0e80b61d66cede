from dataclasses import replace

import pytest
import torch

from ldseg.config import (
    DenoiserConfig,
    ImageEncoderConfig,
    LabelDecoderConfig,
    LabelEncoderConfig,
    LDSegConfig,
    LossConfig,
    SamplerConfig,
    SamplerSettings,
)
from ldseg.model import LDSeg, Segmentation


def tiny_config(spatial_dims=2, num_classes=2, in_channels=1, **kw) -> LDSegConfig:
    return LDSegConfig(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        num_classes=num_classes,
        num_downsamplings=2,
        latent_channels=2,
        label_encoder=LabelEncoderConfig(widths=(8, 8, 8)),
        image_encoder=ImageEncoderConfig(widths=(8, 8, 8), attention_heads=2),
        label_decoder=LabelDecoderConfig(widths=(8, 8)),
        denoiser=DenoiserConfig(
            channels=(8, 8),
            attention_levels=(False, True),
            num_res_blocks=1,
            norm_num_groups=4,
            num_head_channels=4,
        ),
        **kw,
    )


def batch(spatial=(16, 16), b=2, c=1, classes=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(b, c, *spatial, generator=g),
        "label": torch.randint(0, classes, (b, 1, *spatial), generator=g),
    }


@pytest.mark.parametrize("dims,spatial,classes", [(2, (16, 16), 2), (3, (8, 8, 8), 3)])
def test_shapes_2d_3d(dims, spatial, classes):
    torch.manual_seed(0)
    m = LDSeg(tiny_config(dims, classes))
    b = batch(spatial, classes=classes)
    terms = m.loss(b, torch.Generator().manual_seed(0))
    assert set(terms) == {"loss", "ce", "dice", "mse"}
    assert torch.isfinite(terms["loss"])
    m.eval()
    seg = m.segment(
        b["image"], num_inference_steps=2, num_samples=3, generator=torch.Generator().manual_seed(0)
    )
    assert seg.probs.shape == (2, classes, *spatial)
    assert seg.labels.shape == (2, 1, *spatial)
    assert seg.std.shape == (2, classes, *spatial)
    assert seg.uncertainty.shape == (2, 1, *spatial)
    assert torch.allclose(seg.probs.sum(1), torch.ones(2, *spatial), atol=1e-5)
    z = m.label_encoder(
        torch.nn.functional.one_hot(b["label"][:, 0], classes).movedim(-1, 1).float()
    )
    assert z.shape == (2, 2, *(s // 4 for s in spatial))


def test_label_latent_is_standardised():
    m = LDSeg(tiny_config())
    y = torch.nn.functional.one_hot(batch()["label"][:, 0], 2).movedim(-1, 1).float()
    z = m.label_encoder(y)
    assert torch.allclose(z.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(z.var(dim=(1, 2, 3), correction=0), torch.ones(2), atol=1e-3)


def test_loss_matches_hand_composition():
    """total = CE + gamma Dice + lambda MSE with the injected t and eps."""
    torch.manual_seed(0)
    m = LDSeg(tiny_config(loss=LossConfig(gamma=3.0, lam=0.5)))
    b = batch()
    t = torch.tensor([5, 700])
    eps = torch.randn(2, 2, 4, 4)
    terms = m.loss(b, t=t, eps=eps)
    want = terms["ce"] + 3.0 * terms["dice"] + 0.5 * terms["mse"]
    assert torch.allclose(terms["loss"], want)


def test_every_loss_and_schedule_key_changes_the_loss():
    b = batch()
    t = torch.tensor([5, 700])

    def loss_of(cfg, eps=None):
        torch.manual_seed(0)
        m = LDSeg(cfg)
        if cfg.label_encoder.affine:  # identity at init: move it off identity
            m.label_encoder.scale.data.fill_(2.0)
        with torch.no_grad():  # MONAI zero-initialises the denoiser's output conv (eps_hat = 0,
            g = torch.Generator().manual_seed(7)  # blind to z_i): move it off zero
            for p in m.denoiser.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=g))
        return m.loss(b, torch.Generator().manual_seed(3), t=t, eps=eps)["loss"].item()

    base = tiny_config()
    ref = loss_of(base)
    variants = {
        "gamma": replace(base, loss=replace(base.loss, gamma=1.0)),
        "lam": replace(base, loss=replace(base.loss, lam=3.0)),
        "denoised": replace(base, loss=replace(base.loss, denoised="x0")),
        "shared_eps": replace(base, loss=replace(base.loss, shared_eps=True)),
        "dice_include_background": replace(
            base, loss=replace(base.loss, dice_include_background=False)
        ),
        "dice_batch": replace(base, loss=replace(base.loss, dice_batch=False)),
        "schedule.kind": replace(base, schedule=replace(base.schedule, kind="linear")),
        "schedule.prediction": replace(base, schedule=replace(base.schedule, prediction="v")),
        "schedule.T": replace(base, schedule=replace(base.schedule, num_train_timesteps=800)),
        "label_encoder.affine": replace(
            base, label_encoder=replace(base.label_encoder, affine=True)
        ),
        # the reference-code switches of the components
        "norm": replace(base, norm="batch"),
        "label_encoder.norm": replace(
            base, label_encoder=replace(base.label_encoder, norm="batch")
        ),
        "label_encoder.downsample": replace(
            base, label_encoder=replace(base.label_encoder, downsample="maxpool")
        ),
        "label_encoder.dropout": replace(
            base, label_encoder=replace(base.label_encoder, dropout=0.2)
        ),
        "image_encoder.norm": replace(
            base, image_encoder=replace(base.image_encoder, norm="batch")
        ),
        "image_encoder.dropout": replace(
            base, image_encoder=replace(base.image_encoder, dropout=0.2)
        ),
        "image_encoder.head": replace(
            base, image_encoder=replace(base.image_encoder, head="attention")
        ),
        "label_decoder.norm": replace(
            base, label_decoder=replace(base.label_decoder, norm="batch")
        ),
        "label_decoder.dropout": replace(
            base, label_decoder=replace(base.label_decoder, dropout=0.2)
        ),
        "label_decoder.output_norm": replace(
            base, label_decoder=replace(base.label_decoder, output_norm=True)
        ),
    }
    for key, cfg in variants.items():
        assert loss_of(cfg) != pytest.approx(ref, abs=1e-7), key
    # t is injected above; the training-timestep range acts through the drawn t
    drawn = replace(base.schedule, train_timesteps="0..T-1", num_train_timesteps=2)
    torch.manual_seed(0)
    a = LDSeg(replace(base, schedule=replace(drawn, train_timesteps="1..T")))
    torch.manual_seed(0)
    b = LDSeg(replace(base, schedule=drawn))
    bt = batch()
    la = a.loss(bt, torch.Generator().manual_seed(3))["loss"].item()
    lb = b.loss(bt, torch.Generator().manual_seed(3))["loss"].item()
    assert la != pytest.approx(lb, abs=1e-7), "schedule.train_timesteps"


def test_shared_eps_is_one_draw_per_batch():
    m = LDSeg(tiny_config(loss=LossConfig(shared_eps=True)))
    seen = {}
    orig = m.denoiser.forward

    def spy(z_t, z_i, t):
        seen["z_t"] = z_t
        return orig(z_t, z_i, t)

    m.denoiser.forward = spy
    b = batch()
    b["label"][:] = b["label"][:1]  # same mask for both samples -> same z_l0
    m.loss(b, torch.Generator().manual_seed(0), t=torch.tensor([400, 400]))
    assert torch.allclose(seen["z_t"][0], seen["z_t"][1], atol=1e-6)


def test_same_seed_identical_outputs_and_image_encoded_once():
    torch.manual_seed(0)
    m = LDSeg(tiny_config()).eval()
    calls = []
    m.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    img = batch()["image"]
    a = m.segment(
        img, num_inference_steps=10, num_samples=4, generator=torch.Generator().manual_seed(1)
    )
    assert len(calls) == 1  # z_i once per call, not per step or per sample
    b = m.segment(
        img, num_inference_steps=10, num_samples=4, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(a.probs, b.probs)
    c = m.segment(
        img, num_inference_steps=10, num_samples=4, generator=torch.Generator().manual_seed(2)
    )
    assert not torch.equal(a.probs, c.probs)


def test_segment_sampler_switches():
    torch.manual_seed(0)
    # Without x0 processing an untrained model's first jump (x0-hat amplified by
    # 1/sqrt(abar_T) ~ 2e4) dominates every later step; standardising x0-hat keeps K visible.
    m = LDSeg(replace(tiny_config(), sampler=SamplerSettings(x0_processing="standardize"))).eval()
    with torch.no_grad():  # MONAI zero-initialises the denoiser's output conv: eps_hat = 0
        for p in m.denoiser.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(7)))
    img = batch()["image"]

    def run(**kw):
        return m.segment(img, generator=torch.Generator().manual_seed(1), **kw).probs

    ref = run(num_inference_steps=5)
    assert not torch.allclose(ref, run(num_inference_steps=5, sampler="ddpm"))
    assert not torch.allclose(ref, run(num_inference_steps=2))
    assert not torch.allclose(ref, run(num_inference_steps=5, sampler=SamplerConfig()))


def test_segmentation_from_samples():
    probs = torch.tensor([[[[0.2]], [[0.8]]], [[[0.6]], [[0.4]]]])  # N=2, C=2, 1x1
    seg = Segmentation.from_samples(probs[None])  # B=1
    assert torch.allclose(seg.probs[0, :, 0, 0], torch.tensor([0.4, 0.6]))
    assert seg.labels.item() == 1
    assert torch.allclose(seg.std[0, :, 0, 0], torch.tensor([0.2, 0.2]))
    assert seg.uncertainty.item() == pytest.approx(0.2)


def test_size_not_divisible_is_a_clear_error():
    m = LDSeg(tiny_config())
    assert m.size_multiple == 8  # 2**num_downsamplings x the denoiser's 2 levels
    with pytest.raises(ValueError, match="not divisible by 8"):
        m.loss(batch((18, 16)))
    with pytest.raises(ValueError, match="not divisible by 8"):  # latent 5x4: the denoiser
        m.loss(batch((20, 16)))  # could not halve it (a tensor-size RuntimeError before)


def test_width_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="num_downsamplings"):
        LDSeg(replace(tiny_config(), num_downsamplings=3))


def test_overfit_synthetic_disks():
    """A few synthetic images: LDSeg (end to end, 2-step DDIM) reaches DSC > 0.9 in seconds."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    n, size = 4, 32
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    labels, images = [], []
    for i in range(n):
        cy, cx, r = 10 + 4 * i, 20 - 3 * i, 6 + i
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).long()
        labels.append(mask[None])
        images.append((0.2 + 0.6 * mask + 0.05 * torch.randn(size, size, generator=g))[None])
    b = {"image": torch.stack(images), "label": torch.stack(labels)}
    cfg = replace(
        tiny_config(), latent_channels=4, sampler=SamplerSettings(x0_processing="standardize")
    )
    m = LDSeg(cfg)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for step in range(150):
        terms = m.loss(b, torch.Generator().manual_seed(step))
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    m.eval()
    pred = m.segment(
        b["image"], num_inference_steps=2, generator=torch.Generator().manual_seed(0)
    ).labels
    inter = (pred * b["label"]).sum().item()
    dsc = 2 * inter / (pred.sum() + b["label"].sum()).item()
    assert dsc > 0.9, dsc


@pytest.mark.realdata
def test_label_latent_standardised_on_real_glas_masks(data_root):
    """Each sample's z_l0 has ~0 mean and ~unit variance on real GlaS masks (trained or not)."""
    from benchmarks.data import load_split

    ds = load_split("glas", "train", root=data_root, size=(64, 64), limit=4)
    labels = torch.stack([ds[i]["label"] for i in range(len(ds))])
    cfg = replace(tiny_config(in_channels=3), num_downsamplings=2)
    z = LDSeg(cfg).label_encoder(
        torch.nn.functional.one_hot(labels[:, 0], 2).movedim(-1, 1).float()
    )
    assert z.shape == (4, 2, 16, 16)
    assert torch.allclose(z.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(z.var(dim=(1, 2, 3), correction=0), torch.ones(4), atol=1e-3)
