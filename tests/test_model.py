"""LART network: every variant runs and trains, the SDPA attention equals the official explicit attention
(-1e3 replace semantics, uniform fully-masked rows), masking rules, positions, normalisation, bad input."""
import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lartcore import model as M
from lartcore import schema
from lartcore.model import LART, lart_official
from lartcore.variants import names as variant_names
from lartcore.variants import variant_config

B, T, P = 2, 6, 3


def small(name: str) -> M.ModelConfig:
    if name == "lart_official":   # the real widths, fewer blocks (keeps the test fast)
        return dataclasses.replace(lart_official(), depth=2)
    if name == "lart_pose":
        name = "lart_pose_n5"
    return dataclasses.replace(variant_config(name, "demo").model, max_people=P, appearance_dim=16)


def make_batch(cfg, seed=0, present=None):
    g = torch.Generator().manual_seed(seed)
    if present is None:
        present = torch.rand(B, T, P, generator=g) > 0.35
    return {"pose_shape": torch.randn(B, T, P, 229, generator=g),
            "joints_3d": torch.randn(B, T, P, 135, generator=g),
            "appearance": torch.randn(B, T, P, cfg.appearance_dim, generator=g),
            "present": present}


def quiet(cfg):
    """No dropout / drop path, so train mode is deterministic given the mask generator."""
    return dataclasses.replace(cfg, dropout=0.0, drop_path=0.0)


# ---------------------------------------------------------------- reference: the official attention

def reference_encode(model: LART, x, live, masked):
    """Explicit matmul -> replace logits by -1e3 -> softmax -> matmul, as the official `Attention.forward`."""
    for blk in model.blocks:
        a = blk.attn
        h = blk.norm1(x)
        Bn, N, _ = h.shape
        q, k, v = a.qkv(h).view(Bn, N, 3, a.heads, a.dim_head).permute(2, 0, 3, 1, 4)
        dots = q @ k.transpose(-1, -2) * a.dim_head ** -0.5                    # (B, H, N, N)
        pair = (live[:, :, None] & live[:, None, :])[:, None]                  # (B, 1, N, N)
        dots = dots.masked_fill(~pair, -1e3).masked_fill(masked[:, None, None, :], -1e3)
        out = (dots.softmax(-1) @ v).transpose(1, 2).reshape(Bn, N, -1)
        x = x + a.proj(out)
        x = x + blk.mlp(blk.norm2(x))
    return model.norm(x)


def reference_forward(model, batch, generator=None):
    tokens = model.embed(batch)
    live, masked = model.make_masks(batch["present"].bool(), generator)
    x = model.apply_mask(tokens, masked)
    return model.heads(reference_encode(model, x, live.flatten(1), masked.flatten(1)).view_as(tokens))


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("name", [*variant_names(), "lart_official"])
@pytest.mark.parametrize("train", [True, False])
def test_forward_every_variant_finite(name, train):
    cfg = small(name)
    model = LART(cfg).train(train)
    out = model(make_batch(cfg))
    assert out.action_logits.shape == (B, T, P, cfg.num_classes)
    assert torch.isfinite(out.action_logits).all()
    assert (out.kinetics_logits is not None) == cfg.kinetics_head


# modules that the action loss never reaches in the official preset (tests/data/formats: the official state dict)
OFFICIAL_DEAD = ("class_token", "kinetics_head.", "location_head.", "smpl_head.")


@pytest.mark.parametrize("name", [*variant_names(), "lart_official"])
def test_backward_every_parameter_gets_a_gradient(name):
    cfg = dataclasses.replace(small(name), drop_path=0.0)   # drop path may drop a branch for the whole batch
    model = LART(cfg).train()
    model(make_batch(cfg), torch.Generator().manual_seed(0)).action_logits.square().mean().backward()
    no_grad = {n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0}
    dead = {n for n, _ in model.named_parameters() if n.startswith(OFFICIAL_DEAD)}
    assert no_grad == dead
    assert bool(dead) == (name == "lart_official")


@pytest.mark.parametrize("name", ["lart", "lart_official"])
@pytest.mark.parametrize("train", [True, False])
def test_sdpa_equals_explicit_reference_attention(name, train):
    model = LART(quiet(small(name))).train(train)
    batch = make_batch(model.cfg, seed=1)
    batch["present"][1, :, 1:] = False      # sample 1: others never detected
    with torch.no_grad():
        ours = model(batch, torch.Generator().manual_seed(5)).action_logits
        ref = reference_forward(model, batch, torch.Generator().manual_seed(5)).action_logits
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["lart", "lart_official", "appearance_single_frame"])
def test_poi_logits_equal_slot0_of_the_full_forward(name):
    """The inference path drops undetected tokens of other people; slot 0 must not change: random gaps,
    a sample with no others, one with no detection at all (uniform rule), one with slot 0 never detected."""
    model = LART(small(name)).eval()
    present = torch.rand(4, T, P, generator=torch.Generator().manual_seed(3)) > 0.4
    present[1, :, 1:] = False
    present[2] = False
    present[3, :, 0] = False
    batch = {k: torch.cat([a, b]) for (k, a), b in zip(make_batch(model.cfg, seed=2).items(),
                                                       make_batch(model.cfg, seed=3).values(), strict=True)}
    batch["present"] = present                                               # 4 samples
    with torch.no_grad():
        full = model(batch).action_logits[:, :, 0]                          # (4, T, C)
        poi = model.poi_logits(batch)
    assert poi.shape == full.shape
    torch.testing.assert_close(poi, full, atol=1e-5, rtol=1e-5)
    with pytest.raises(RuntimeError, match="eval"):
        model.train().poi_logits(batch)


@pytest.mark.parametrize("train", [True, False])
def test_fully_masked_rows_are_uniform_not_nan(train):
    """All detections missing: every row of the official logits is -1e3, i.e. uniform attention."""
    model = LART(quiet(small("lart_official"))).train(train)
    batch = make_batch(model.cfg, present=torch.zeros(B, T, P, dtype=torch.bool))
    with torch.no_grad():
        ours = model(batch).action_logits
        ref = reference_forward(model, batch).action_logits
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    # the attention itself: a query with no attendable key outputs the projected mean of all values
    a = model.blocks[0].attn.eval()
    h = torch.randn(B, T * P, 512)
    with torch.no_grad():
        v = a.qkv(h).view(B, T * P, 3, a.heads * a.dim_head)[:, :, 2]           # (B, N, H*dh)
        nobody = torch.zeros(B, T * P, dtype=torch.bool)
        out = a(h, M.plan_attention(nobody, nobody))
    torch.testing.assert_close(out, a.proj(v.mean(1, keepdim=True)).expand_as(out), atol=1e-5, rtol=1e-5)


def test_bert_masking_counts_generator_and_no_mutation():
    model = LART(small("lart_pose")).train()
    present = torch.rand(4, 10, P, generator=torch.Generator().manual_seed(3)) > 0.3
    before = present.clone()
    live, masked = model.make_masks(present, torch.Generator().manual_seed(7))
    assert torch.equal(present, before) and torch.equal(live, present)
    assert not (masked & ~present).any()                         # only detected tokens are masked
    n = present.flatten(1).sum(1)
    assert masked.flatten(1).sum(1).tolist() == [int(k * 0.4) for k in n.tolist()]
    _, again = model.make_masks(present, torch.Generator().manual_seed(7))
    _, other = model.make_masks(present, torch.Generator().manual_seed(8))
    assert torch.equal(masked, again) and not torch.equal(masked, other)
    model.eval()
    live, masked = model.make_masks(present)
    assert live.all() and torch.equal(masked, ~present)


def test_eval_in_filling_predicts_every_token_from_context():
    model = LART(small("lart")).eval()
    batch = make_batch(model.cfg, seed=2)
    batch["present"][0, 2] = False                                # a gap frame for every person
    out = model(batch).action_logits
    assert out.shape == (B, T, P, 80) and torch.isfinite(out).all()
    # the gap tokens' predictions come from context: change a detected token, the gap prediction moves;
    # change the (ignored) input of a gap token, nothing moves
    moved = dict(batch, pose_shape=batch["pose_shape"].clone())
    t, p = torch.nonzero(batch["present"][0])[0].tolist()
    moved["pose_shape"][0, t, p] += 1.0
    assert not torch.allclose(model(moved).action_logits[0, 2], out[0, 2])
    ignored = dict(batch, pose_shape=batch["pose_shape"].clone())
    ignored["pose_shape"][0, 2] += 5.0
    torch.testing.assert_close(model(ignored).action_logits, out)


def test_sincos_table_matches_direct_formula():
    D, Tm, Pm = 16, 7, 4
    table = M.sincos_table(D, Tm, Pm)
    half = D // 2
    for c in range(D):
        i = (c % half) // 2                                       # frequency index within the half
        w = 1.0 / 10000 ** (2 * i / half)
        for t in range(Tm):
            for p in range(Pm):
                pos = p if c < half else t
                expect = math.sin(pos * w) if c % 2 == 0 else math.cos(pos * w)
                assert abs(table[c, t, p].item() - expect) < 1e-6, (c, t, p)
    official = LART(dataclasses.replace(lart_official(), depth=1))
    assert official.pos_embedding.requires_grad and official.pos_embedding.shape == (512, 250, 10)
    torch.testing.assert_close(official.pos_embedding.detach(), M.sincos_table(512, 250, 10))
    assert "pos_embedding" not in LART(small("lart_pose")).state_dict()   # paper: fixed, not saved


def test_pose_stats_padding_and_normalisation(tmp_path):
    model = LART(small("lart_pose")).eval()
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=(1, 226)), rng.uniform(0.5, 2, size=(1, 226))
    np.save(tmp_path / "mean_std.npy", np.stack([mean, std]))             # PHALP layout (2, 1, K)
    batch = make_batch(model.cfg)
    before = model(batch).action_logits
    model.load_pose_stats(tmp_path / "mean_std.npy")
    assert torch.equal(model.pose_mean[226:], torch.zeros(3)) and torch.equal(model.pose_std[226:], torch.ones(3))
    after = model(batch).action_logits
    manual = dict(batch, pose_shape=batch["pose_shape"].clone())
    manual["pose_shape"][..., :226] = (manual["pose_shape"][..., :226] - torch.tensor(mean, dtype=torch.float32)) \
        / (torch.tensor(std, dtype=torch.float32) + 1e-10)
    model.pose_mean.zero_(), model.pose_std.fill_(1.0)
    torch.testing.assert_close(after, model(manual).action_logits)
    assert not torch.allclose(before, after)
    np.save(tmp_path / "bad.npy", np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"bad.npy.*\(3, 5\)"):
        model.load_pose_stats(tmp_path / "bad.npy")


def test_bad_input_nan_missing_key_no_others_too_long():
    model = LART(small("lart")).eval()
    batch = make_batch(model.cfg)
    batch["appearance"][1, 3, 0, 5] = float("nan")
    with pytest.raises(ValueError, match=r"batch\['appearance'\] has NaN/inf \(first at index \[1, 3, 0, 5\]\)"):
        model(batch)
    with pytest.raises(ValueError, match="need batch key 'appearance'"):
        model({k: v for k, v in make_batch(model.cfg).items() if k != "appearance"})
    solo = {k: v[:, :, :1] for k, v in make_batch(model.cfg).items()}     # no other people (P = 1)
    assert torch.isfinite(model(solo).action_logits).all()
    long = {k: v.repeat(1, 100, 1, *([1] * (v.dim() - 3))) for k, v in make_batch(model.cfg).items()}
    with pytest.raises(ValueError, match="T=600 frames, P=3 people; this model allows at most 250 x 3"):
        model(long)


def test_official_layout_and_decode_pose():
    model = LART(dataclasses.replace(lart_official(), depth=1)).eval()
    assert model.action_ids == schema.EVALUATED_IDS and len(schema.EVALUATED_IDS) == 60
    assert schema.EVALUATED_IDS[:3] == (1, 3, 4) and schema.EVALUATED_IDS[-1] == 80
    feats = torch.randn(2, 3, 512)
    pose = model.decode_pose(feats)
    assert pose["global_orient"].shape == (2, 3, 1, 3, 3) and pose["body_pose"].shape == (2, 3, 23, 3, 3)
    assert pose["betas"].shape == (2, 3, 10) and pose["location"].shape == (2, 3, 3)
    rot = pose["body_pose"].reshape(-1, 3, 3)
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand_as(rot), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="pose_heads=True"):
        LART(small("lart_pose")).decode_pose(feats)


# PHALP's SMPLHead (phalp/models/heads/smpl_head.py) run by the oracle harness on formula weights, float64,
# eval mode (tests/data/README.md, "SMPL head example"). Without the ReLUs after fc1 and fc2 betas[0][0]
# would be -0.0864134107, ~3e-3 away.
SMPL_EXAMPLE = {
    "betas": [[-0.08929603199420626, 0.00255892096961084, 0.05862911246300744, 0.1300747221921589,
               0.2382580867822069, 0.3339047036484266, 0.330040503498792, 0.1814613775759633,
               -0.06217329655004949, -0.2812059498826558],
              [-0.09123562459836247, -0.001084749237866, 0.05377451895288539, 0.12466625138215676,
               0.23302775005919643, 0.329560402615565, 0.3271702185689606, 0.18045358869001876,
               -0.06118219019991321, -0.2783500895558329]],
    "global_orient0": [0.923066211410489, 0.37356668540120375, 0.09163351412362404, -0.3388023201846693,
                       0.9024401979112823, -0.26611027231456236, -0.18210369900079235, 0.21459175369105815,
                       0.9595773142681234],
    "global_orient1": [0.9241562074623535, 0.37031425073664803, 0.09382249149406621, -0.3357486550164291,
                       0.9045106082851583, -0.2629323109742732, -0.18223102058502028, 0.2114897519998735,
                       0.9602416049805246],
    "body_pose00": [0.9422197240878253, -0.19873825018126073, -0.2696759156001011, 0.2649346275145414,
                    0.9347391272807691, 0.23679612977014083, 0.2050161815164683, -0.29456047230624266,
                    0.9333822868852449],
    "body_pose1_22": [0.8137267769609626, 0.4153366590232612, 0.4066253707383726, -0.4447818201531197,
                      0.8953064535762327, -0.02440259506747012, -0.3741896109167138, -0.16100252748371455,
                      0.9132690300376194],
    "body_pose_sum": 126.07780614940162, "body_pose_abs_sum": 186.5207445574947,
}


def formula_smpl_head() -> M.SMPLHead:
    """The example's weights: layer k = 1..5 (fc1, fc2, decpose, decshape, deccam),
    W_k[i, j] = 0.5 sin(0.37 i + 0.11 j + k) / sqrt(in), b_k[i] = 0.1 cos(0.5 i + k), computed in float64 and
    stored in float32 (the example sets a float32 module, then runs it in float64)."""
    head = M.SMPLHead(512).eval()
    with torch.no_grad():
        for k, name in enumerate(["fc1", "fc2", "decpose", "decshape", "deccam"], start=1):
            lin = getattr(head, name)
            o, i = lin.weight.shape
            rows, cols = torch.meshgrid(torch.arange(o, dtype=torch.float64), torch.arange(i, dtype=torch.float64),
                                        indexing="ij")
            lin.weight.copy_(0.5 * torch.sin(0.37 * rows + 0.11 * cols + k) / math.sqrt(i))
            lin.bias.copy_(0.1 * torch.cos(0.5 * torch.arange(o, dtype=torch.float64) + k))
        ar = torch.arange(144, dtype=torch.float64)
        head.init_body_pose.copy_((torch.tensor([1.0, 0, 0, 0, 1, 0]).repeat(24) + 0.1 * torch.sin(0.3 * ar))[None])
        head.init_betas.copy_(0.1 * torch.cos(torch.arange(10, dtype=torch.float64))[None])
        head.init_cam.copy_(torch.tensor([[0.9, 0.1, -0.1]]))
    return head.double()


def test_smpl_head_matches_phalp_on_formula_weights():
    head = formula_smpl_head()
    n, j = torch.arange(1, 3, dtype=torch.float64)[:, None], torch.arange(1, 513, dtype=torch.float64)
    with torch.no_grad():
        out = head(torch.sin(0.013 * j * n))                                  # x (2, 512)
    want = SMPL_EXAMPLE
    close = lambda got, ref: np.testing.assert_allclose(got.numpy(), np.array(ref), rtol=0, atol=1e-12)
    close(out["betas"], want["betas"])
    close(out["global_orient"][0, 0].reshape(-1), want["global_orient0"])
    close(out["global_orient"][1, 0].reshape(-1), want["global_orient1"])
    close(out["body_pose"][0, 0].reshape(-1), want["body_pose00"])
    close(out["body_pose"][1, 22].reshape(-1), want["body_pose1_22"])
    assert out["body_pose"].sum().item() == pytest.approx(want["body_pose_sum"], abs=1e-10)
    assert out["body_pose"].abs().sum().item() == pytest.approx(want["body_pose_abs_sum"], abs=1e-10)
    head.train()                                            # dropout (p = 0.5) acts only in training
    with torch.no_grad():
        assert not torch.equal(head(torch.ones(2, 512, dtype=torch.float64))["betas"],
                               head(torch.ones(2, 512, dtype=torch.float64))["betas"])


def test_every_config_field_has_a_reader():
    src = Path(M.__file__).read_text()
    for field in dataclasses.fields(M.ModelConfig):
        assert re.search(rf"cfg\.{field.name}\b|self\.{field.name}\b", src), field.name


def test_config_rejects_inconsistent_widths():
    with pytest.raises(ValueError, match=r"stream output widths: expected a sum equal to dim=512, found \[\('pose', 256\), \('joints', 128\)\]"):
        M.ModelConfig(streams=("pose", "joints"), pose_mlp=(256, 256), joints_mlp=(128,))


def test_single_frame_tokens_see_only_themselves():
    model = LART(small("appearance_single_frame")).eval()
    batch = make_batch(model.cfg, seed=4)
    batch["present"][0, 0, 0] = True
    out = model(batch).action_logits
    moved = dict(batch, appearance=batch["appearance"].clone())
    moved["appearance"][0, 0, 0] += 3.0
    new = model(moved).action_logits
    assert not torch.allclose(new[0, 0, 0], out[0, 0, 0])
    new[0, 0, 0] = out[0, 0, 0]
    torch.testing.assert_close(new, out)


def test_preset_sizes():
    for name in variant_names():
        cfg = variant_config(name, "paper").model
        assert (cfg.dim, cfg.depth, cfg.heads, cfg.final_norm, cfg.num_classes) == (512, 16, 16, True, 80)
    lart = variant_config("lart", "paper").model
    assert lart.pose_mlp[-1] == lart.appearance_mlp[-1] == 256
    official = LART(lart_official())
    # the official network has 51,795,882 parameters, of which conv_en + conv_de (2 x 1,835,520) are dropped
    assert sum(p.numel() for p in official.parameters()) == 51_795_882 - 2 * 1_835_520
