"""The transformer rows of Table II: MedT (gated axial attention, LoGo) and Swin-Unet (timm Swin
blocks). Shapes, MedT's gates and its Eq. (3) against a hand-written loop, overfitting synthetic
disks, the one-line size error, and parameter counts against the papers' models."""

from __future__ import annotations

import math
import types

import pytest
import torch
from typer.testing import CliRunner

from baselines.medt import GatedAxialAttention, MedTConfig, relative_index
from baselines.swin_unet import SwinUNet, SwinUNetConfig
from benchmarks.errors import ConfigError, InputSizeError
from benchmarks.methods import build_method, method_config
from benchmarks.profiles import load_profile


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def info(in_channels: int = 3, num_classes: int = 2):
    return types.SimpleNamespace(
        name="synth2d", spatial_dims=2, num_classes=num_classes, in_channels=in_channels
    )


def build(name: str, profile: str = "smoke", ds=None, **overrides):
    ds = ds or info()
    cfg = {**load_profile(profile).method_overrides(name, 2), **overrides}
    return build_method(name, method_config(name, cfg, ds), ds)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- shapes ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "size"),
    [("medt", (32, 32)), ("medt", (36, 20)), ("swinunet", (32, 32)), ("swinunet", (64, 32))],
)
def test_logits_and_prediction_shapes(name, size):
    torch.manual_seed(0)
    method = build(name, ds=info(num_classes=3)).eval()
    x = torch.rand(2, 3, *size)
    assert method(x).shape == (2, 3, *size)  # MedT pads 36x20 to 40x24 (multiples of 8), crops
    seg = method.predict(x)
    assert seg.probs.shape == (2, 3, *size) and seg.labels.shape == (2, 1, *size)


def test_medt_local_branch_sees_patches():
    """Changing one patch of the image changes the local branch's output only inside it."""
    torch.manual_seed(0)
    net = build("medt").net.eval()  # smoke: 2 x 2 patches of 16^2 at 32^2
    x = torch.rand(1, 3, 32, 32)
    y = x.clone()
    y[:, :, :16, :16] = torch.rand(1, 3, 16, 16)

    def local(img):
        tiles = img.reshape(1, 3, 2, 16, 2, 16).permute(0, 2, 4, 1, 3, 5).reshape(4, 3, 16, 16)
        return net.local_branch(tiles)

    with torch.no_grad():
        a, b = local(x), local(y)
    assert not torch.equal(a[0], b[0])
    assert torch.equal(a[1:], b[1:])


# -- MedT gates and Eq. (3) --------------------------------------------------------------------
def test_medt_gates_initialised_as_configured_and_trained():
    torch.manual_seed(0)
    method = build("medt")
    layers = [m for m in method.modules() if isinstance(m, GatedAxialAttention)]
    # two axes per gated axial layer; smoke: 1 + 1 layers in each of the two branches
    assert len(layers) == 2 * 4
    for m in layers:
        gates = [m.g_q.item(), m.g_k.item(), m.g_v1.item(), m.g_v2.item()]
        assert gates == pytest.approx([0.1, 0.1, 1.0, 0.1])
        assert all(g.requires_grad for g in (m.g_q, m.g_k, m.g_v1, m.g_v2))
    custom = build("medt", gate_init=[0.0, 0.5, 2.0, 0.25])
    first = next(m for m in custom.modules() if isinstance(m, GatedAxialAttention))
    assert [first.g_q.item(), first.g_k.item(), first.g_v1.item(), first.g_v2.item()] == [
        0.0,
        0.5,
        2.0,
        0.25,
    ]
    # one optimiser step moves the gates (they are learned parameters in the paper)
    data = {"image": torch.rand(2, 3, 32, 32), "label": torch.randint(0, 2, (2, 1, 32, 32))}
    opt = torch.optim.SGD(method.parameters(), lr=0.1)
    method.loss(data)["loss"].backward()
    opt.step()
    assert any(m.g_q.item() != pytest.approx(0.1) for m in layers)


def eq3_loop(att: GatedAxialAttention, x: torch.Tensor) -> torch.Tensor:
    """Eq. (3) written pixel by pixel: y_i = sum_w softmax_w(q_i.k_w + G_Q q_i.r^q_iw +
    G_K k_w.r^k_iw) / sqrt(d_q) (G_V1 v_w + G_V2 r^v_iw), r_iw = table[w - i] (clipped)."""
    n, _, length = x.shape
    qkv = att.qkv_norm(att.qkv(x)).reshape(n, att.heads, 2 * att.d_q + att.d_v, length)
    out = torch.zeros(n, att.heads, att.d_v, length)
    s = att.span
    for b in range(n):
        for h in range(att.heads):
            q = qkv[b, h, : att.d_q]
            k = qkv[b, h, att.d_q : 2 * att.d_q]
            v = qkv[b, h, 2 * att.d_q :]
            for i in range(length):
                off = [min(max(w - i, -(s - 1)), s - 1) + s - 1 for w in range(length)]
                logits = torch.stack(
                    [
                        q[:, i] @ k[:, w]
                        + att.g_q * (q[:, i] @ att.r_q[:, off[w]])
                        + att.g_k * (k[:, w] @ att.r_k[:, off[w]])
                        for w in range(length)
                    ]
                ) / math.sqrt(att.d_q)
                a = logits.softmax(0)
                for w in range(length):
                    out[b, h, :, i] += a[w] * (att.g_v1 * v[:, w] + att.g_v2 * att.r_v[:, off[w]])
    return out.reshape(n, att.heads * att.d_v, length)


@pytest.mark.parametrize(("span", "length"), [(5, 5), (3, 6)])  # (3, 6): offsets clipped
def test_gated_axial_attention_matches_eq3(span, length):
    torch.manual_seed(0)
    att = GatedAxialAttention(8, heads=2, span=span, axis=3).eval()
    with torch.no_grad():  # gates away from their initial values, so each one matters
        gates = (att.g_q, att.g_k, att.g_v1, att.g_v2)
        for gate, value in zip(gates, (0.7, -0.4, 1.3, 0.6), strict=True):
            gate.fill_(value)
        for p in (att.r_q, att.r_k, att.r_v):
            p.normal_()
    x = torch.randn(3, 8, length)
    with torch.no_grad():
        torch.testing.assert_close(att.attend(x), eq3_loop(att, x), rtol=1e-5, atol=1e-5)
    # the 2D module attends along the width (axis 3) of every row
    img = torch.randn(2, 8, 4, length)
    with torch.no_grad():
        rows = att(img)
        torch.testing.assert_close(rows[:, :, 1], att.attend(img[:, :, 1]))


def test_gated_attention_by_hand():
    """One head, d_q = 1, d_v = 2, a sequence of 2, q = k = 0 except where set: the numbers of
    Eq. (3) worked out on paper."""
    att = GatedAxialAttention(2, heads=1, span=2, axis=3).eval()
    att.qkv_norm = torch.nn.Identity()
    with torch.no_grad():
        att.qkv.weight.zero_()
        att.qkv.weight[0, 0, 0] = 1.0  # q = channel 0 of x; k = 0
        att.qkv.weight[2, 1, 0] = 1.0  # v = (channel 1 of x, 0)
        att.r_q.copy_(torch.tensor([[0.0, 0.0, 2.0]]))  # r^q at offsets -1, 0, +1
        att.r_k.zero_()
        att.r_v.copy_(torch.tensor([[10.0, 20.0, 30.0], [0.0, 0.0, 0.0]]))
        att.g_q.fill_(0.5)
        att.g_v2.fill_(0.1)
    x = torch.tensor([[[math.log(3.0), 0.0], [4.0, 8.0]]])  # q = (ln 3, 0), v = (4, 8)
    # logits: i=0: [q0 k0 + G_Q q0 r(0), q0 k1 + G_Q q0 r(+1)] = [0, 0.5 * ln3 * 2] = [0, ln 3]
    #   -> softmax [1/4, 3/4]; i=1: q1 = 0 -> [1/2, 1/2]
    # y_0 = 1/4 (v_0 + 0.1 r(0)) + 3/4 (v_1 + 0.1 r(+1)); channel 0: 1/4 (4 + 2) + 3/4 (8 + 3)
    # y_1 = 1/2 (v_0 + 0.1 r(-1)) + 1/2 (v_1 + 0.1 r(0)); channel 0: 1/2 (4 + 1) + 1/2 (8 + 2)
    with torch.no_grad():
        y = att.attend(x)
    expected = torch.tensor([[[0.25 * 6 + 0.75 * 11, 0.5 * 5 + 0.5 * 10], [0.0, 0.0]]])
    torch.testing.assert_close(y, expected)
    assert relative_index(2, 2).tolist() == [[1, 2], [0, 1]]


# -- Swin-Unet ---------------------------------------------------------------------------------
def test_swin_unet_u_shape():
    """Three stages (2 mergings) at 32^2 with 2x2 patches: encoder maps 16, 8, 4 tokens per side,
    decoder back to 16 and the final expanding to 32; skips have the decoder's widths."""
    torch.manual_seed(0)
    net = build("swinunet").net
    seen = {}
    for name, mod in net.named_children():
        if name in ("encoder", "decoder"):
            for i, stage in enumerate(mod):
                stage.register_forward_hook(
                    lambda m, a, out, key=(name, i): seen.__setitem__(key, tuple(out.shape))
                )
    net(torch.rand(1, 3, 32, 32))
    assert seen[("encoder", 0)] == (1, 16, 16, 12)
    assert seen[("encoder", 1)] == (1, 8, 8, 24)
    assert seen[("encoder", 2)] == (1, 4, 4, 48)  # the bottleneck
    assert seen[("decoder", 0)] == (1, 8, 8, 24)
    assert seen[("decoder", 1)] == (1, 16, 16, 12)


def test_swin_unet_shifts_windows_unless_the_map_is_one_window():
    """W-MSA / SW-MSA alternate; a 4x4-token map is a single 4x4 window and gets no shift (as
    in Swin). The shift follows the input size without touching any weight."""
    torch.manual_seed(0)
    net = build("swinunet", depths=[2, 2, 2]).net.eval()
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    net(torch.rand(1, 3, 32, 32))  # token maps 16, 8, 4
    shifts = [[b.shift_size for b in stage.blocks] for stage in net.encoder]
    assert shifts == [[(0, 0), (2, 2)], [(0, 0), (2, 2)], [(0, 0), (0, 0)]]
    net(torch.rand(1, 3, 64, 64))  # token maps 32, 16, 8
    assert net.encoder[2].blocks[1].shift_size == (2, 2)
    assert all(torch.equal(v, weights[k]) for k, v in net.state_dict().items())


def test_swin_unet_refuses_indivisible_sizes_in_one_line():
    method = build("swinunet")  # smoke: multiple 2 * 4 * 2**2 = 32
    with pytest.raises(InputSizeError) as err:
        method(torch.rand(1, 3, 48, 32))
    msg = str(err.value)
    assert "\n" not in msg and "not divisible by 32" in msg and "(64, 32)" in msg
    assert isinstance(err.value, ConfigError) and isinstance(err.value, ValueError)
    with pytest.raises(ValueError, match="not divisible by 32"):
        method.check_size(torch.empty(0, 3, 40, 40))
    method.check_size(torch.empty(0, 3, 64, 96))
    with pytest.raises(ConfigError, match="num_heads"):
        build("swinunet", num_heads=[1, 2])


def test_bench_train_with_an_indivisible_size_is_one_line(tmp_path):
    from benchmarks.cli import app

    profile = tmp_path / "bad.toml"
    smoke = load_profile("smoke").method_overrides("swinunet", 2)
    lines = ['name = "bad"', 'description = "synth2d at 48^2"', "[datasets.synth2d]"]
    lines += ["size = [48, 48]", "limit = 4", "[train]", "steps = 1", "batch_size = 2"]
    lines += ["[methods.swinunet]"]
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in smoke.items()]
    profile.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(
        app,
        ["train", "swinunet", "--dataset", "synth2d", "--profile", str(profile), "--out",
         str(tmp_path / "run")],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.output  # the message is one line (the rest is the progress bar)
    assert errors[0].startswith("error: swinunet: image size (48, 48) is not divisible by 32")
    assert "(64, 64)" in errors[0]


# -- overfitting synthetic disks ----------------------------------------------------------------
def disks(n: int = 4, size: int = 32) -> dict:
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    labels, images = [], []
    for i in range(n):
        cy, cx, r = 10 + 4 * i, 20 - 3 * i, 6 + i
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).long()
        labels.append(mask[None])
        images.append((0.2 + 0.6 * mask + 0.05 * torch.randn(size, size, generator=g))[None])
    return {"image": torch.stack(images), "label": torch.stack(labels)}


@pytest.mark.parametrize(("name", "steps"), [("medt", 80), ("swinunet", 40)])
def test_overfit_synthetic_disks(name, steps):
    """Four 32^2 disk images: the training images are segmented with DSC > 0.9 (a few s)."""
    torch.manual_seed(0)
    overrides = {"drop_path_rate": 0.0} if name == "swinunet" else {}
    method = build(name, ds=info(in_channels=1), **overrides)
    data = disks()
    opt = torch.optim.Adam(method.parameters(), lr=3e-3)
    method.train()
    for _ in range(steps):
        loss = method.loss(data)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    pred = method.eval().predict(data["image"]).labels
    dsc = 2 * (pred * data["label"]).sum().item() / (pred.sum() + data["label"].sum()).item()
    assert dsc > 0.9, dsc


# -- sizes vs the papers -------------------------------------------------------------------------
def test_parameter_counts_against_the_papers():
    """Swin-Unet's defaults are the paper's model: 27.17M weights (9 Synapse classes, as
    reported for it); MedT's defaults (the authors' GlaS model) stay near its 1.4M (our decoder
    has no extra 3x3 conv at the local bottleneck: 0.76M). The quick profile's models are
    smaller (CPU budget) but the same networks."""
    torch.manual_seed(0)
    assert n_params(SwinUNet(SwinUNetConfig(num_classes=9))) == pytest.approx(27.17e6, rel=2e-3)
    assert 0.5e6 < n_params(build("medt", profile="paper", img_size=128)) < 1.5e6
    assert 0.1e6 < n_params(build("medt", profile="quick")) < 0.4e6
    assert 5e6 < n_params(build("swinunet", profile="quick")) < 9e6
    assert n_params(build("medt")) < 2e4 and n_params(build("swinunet")) < 1e5
    assert MedTConfig().gate_init == (0.1, 0.1, 1.0, 0.1)
