"""Numerical tests for mde_hub.models.losses."""

import math

import numpy as np
import pytest
import torch

from mde_hub.models.losses import (
    AdaBinsLoss,
    DenseDepthLoss,
    ScaleAndShiftInvariantLoss,
    SILogLoss,
    SSIML1Loss,
    bin_chamfer_loss,
    gradient_loss,
    gradient_matching_loss,
    l1_loss,
    normalize_disparity,
    silog_loss,
    ssim_loss,
    ssim_map,
    trimmed_mae_loss,
)


def _depth(b: int = 2, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 9.0 * torch.rand(b, h, w, generator=g, dtype=torch.float64)


def _corrupt(target: torch.Tensor) -> torch.Tensor:
    """Copy of target with NaN, inf, -inf and 0 at fixed pixels."""
    bad = target.clone()
    bad[0, 3, 4] = float("nan")
    bad[0, 7, 7] = float("inf")
    bad[1, 0, 0] = float("-inf")
    bad[1, 5, 9] = 0.0
    return bad


def _ssi(alignment: str) -> ScaleAndShiftInvariantLoss:
    return ScaleAndShiftInvariantLoss(alignment=alignment)


IDENTITY_LOSSES = {
    "l1": lambda p, t: l1_loss(p, t),
    "gradient": lambda p, t: gradient_loss(p, t),
    "ssim": lambda p, t: ssim_loss(p, t, value_range=10.0),
    "ssim_l1": SSIML1Loss(value_range=10.0),
    "densedepth": DenseDepthLoss(value_range=10.0),
    "ssi_median": _ssi("median"),
    "ssi_least_squares": _ssi("least_squares"),
}


# ------------------------------------------------------------------------------------------ identity


@pytest.mark.parametrize("name", IDENTITY_LOSSES)
def test_zero_at_identity(name: str) -> None:
    t = _depth()
    assert IDENTITY_LOSSES[name](t.clone(), t).item() == pytest.approx(0.0, abs=1e-6)


def test_silog_near_zero_at_identity() -> None:
    t = _depth()
    assert 0.0 <= silog_loss(t.clone(), t).item() <= 1e-4
    assert SILogLoss()(t.clone(), t).item() == pytest.approx(10.0 * 1e-6, rel=1e-6)


def test_adabins_near_zero_at_identity() -> None:
    centres = torch.tensor([[1.0, 2.5, 4.0, 7.0]], dtype=torch.float64)
    target = centres[0][torch.arange(64) % 4].reshape(1, 8, 8)
    assert AdaBinsLoss()(target.clone(), target, centres).item() <= 1e-4


def test_channel_axis_accepted_and_shape_mismatch_rejected() -> None:
    t = _depth()
    p = t + 0.1
    assert l1_loss(p[:, None], t[:, None]).item() == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"\(2, 16, 16\).*\(2, 8, 8\)"):
        l1_loss(p, t[:, :8, :8])


# ---------------------------------------------------------------------------------------------- SSIM


def test_ssim_constant_vs_itself_is_one() -> None:
    c = torch.full((1, 12, 12), 3.0, dtype=torch.float64)
    s = ssim_map(c, c, value_range=10.0)
    assert s.shape == (1, 2, 2)
    torch.testing.assert_close(s, torch.ones_like(s))


def test_ssim_matches_brute_force_window() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 10, (12, 12)), rng.uniform(0, 10, (12, 12))
    coords = np.arange(11) - 5.0
    g = np.exp(-(coords**2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 10) ** 2, (0.03 * 10) ** 2
    got = ssim_map(torch.from_numpy(x)[None], torch.from_numpy(y)[None], 10.0)[0]
    for i, j in [(0, 0), (1, 1), (0, 1)]:
        px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
        mx, my = (window * px).sum(), (window * py).sum()
        vx, vy = (window * px * px).sum() - mx**2, (window * py * py).sum() - my**2
        cov = (window * px * py).sum() - mx * my
        expected = (2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        assert got[i, j].item() == pytest.approx(expected, abs=1e-12)


def test_ssim_loss_is_half_one_minus_mean_ssim_and_crops_mask() -> None:
    p, t = _depth(1, 14, 14, seed=1), _depth(1, 14, 14, seed=2)
    ssim = ssim_map(p, t, 10.0)
    assert ssim_loss(p, t, value_range=10.0).item() == pytest.approx(((1 - ssim) / 2).mean().item())
    mask = torch.ones(1, 14, 14, dtype=torch.bool)
    mask[0, 5, 5] = False  # centre of output (0, 0) after a crop of 5
    filled = t.clone()
    filled[0, 5, 5] = p[0, 5, 5]  # the invalid target pixel is replaced by the prediction
    keep = torch.ones_like(ssim, dtype=torch.bool)
    keep[0, 0, 0] = False
    expected = ((1 - ssim_map(p, filled, 10.0)) / 2)[keep].mean().item()
    assert ssim_loss(p, t, mask, value_range=10.0).item() == pytest.approx(expected)


def test_ssim_rejects_small_images() -> None:
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_loss(_depth(1, 10, 20), _depth(1, 10, 20), value_range=10.0)


# --------------------------------------------------------------------------------------- L1 and edges

PRED_3x3 = torch.tensor([[[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]])
# residual pred - target = [[0, 1, 0], [0, 0, 2], [0, 0, 0]]
TARGET_3x3 = torch.tensor([[[1.0, 1, 3], [4, 5, 4], [7, 8, 9]]])


def test_l1_and_gradient_hand_computed() -> None:
    assert l1_loss(PRED_3x3, TARGET_3x3).item() == pytest.approx(3 / 9)
    # |dy r|: 1 + 2 + 2 over 6 pairs; |dx r|: 1 + 1 + 2 over 6 pairs.
    assert gradient_loss(PRED_3x3, TARGET_3x3).item() == pytest.approx(5 / 6 + 4 / 6)


def test_l1_and_gradient_hand_computed_with_invalid_pixel() -> None:
    target = TARGET_3x3.clone()
    target[0, 1, 2] = float("nan")  # removes the residual 2 and every pair touching it
    assert l1_loss(PRED_3x3, target).item() == pytest.approx(1 / 8)
    # dy: 1 over 4 valid pairs; dx: 1 + 1 over 5 valid pairs.
    assert gradient_loss(PRED_3x3, target).item() == pytest.approx(1 / 4 + 2 / 5)


# ---------------------------------------------------------------------------------------------- SILog


def _silog_reference(p: torch.Tensor, t: torch.Tensor, lam: float, c: float = 1.0) -> float:
    g = (torch.log(p) - torch.log(t)).flatten().numpy() + math.log(c)
    return 10.0 * math.sqrt(np.mean(g**2) - lam * np.mean(g) ** 2)


def test_silog_scale_invariance_and_closed_form() -> None:
    p, t = _depth(seed=3), _depth(seed=4)
    c = 3.7
    assert silog_loss(c * p, t, variance_focus=1.0).item() == pytest.approx(
        silog_loss(p, t, variance_focus=1.0).item(), rel=1e-10
    )
    base, scaled = silog_loss(p, t).item(), silog_loss(c * p, t).item()
    assert base == pytest.approx(_silog_reference(p, t, 0.85), rel=1e-10)
    assert scaled == pytest.approx(_silog_reference(p, t, 0.85, c), rel=1e-10)
    assert abs(scaled - base) > 0.1


# ------------------------------------------------------------------------------------ scale/shift invariant


@pytest.mark.parametrize("alignment", ["median", "least_squares"])
def test_ssi_loss_affine_invariance(alignment: str) -> None:
    pred = _depth(seed=5).float().reciprocal()
    target = _corrupt(_depth(seed=6).float().reciprocal())
    loss = _ssi(alignment)
    base = loss(pred, target).item()
    assert base > 1e-2
    assert loss(2.5 * pred + 0.7, target).item() == pytest.approx(base, abs=1e-5)


def test_normalize_disparity_hand_computed() -> None:
    d = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 100.0]]])
    mask = torch.tensor([[[True, True, True, True, False]]])
    # lower median of (1, 2, 3, 4) is 2; mean |d - 2| = (1 + 0 + 1 + 2) / 4 = 1
    torch.testing.assert_close(normalize_disparity(d, mask), d - 2.0)


def test_trimmed_mae_drops_outliers() -> None:
    residuals = torch.cat([0.01 * torch.arange(90.0), torch.full((10,), 1e6)])
    pred = residuals.reshape(1, 10, 10)
    target, mask = torch.zeros_like(pred), torch.ones_like(pred, dtype=torch.bool)
    # trim 0.1 keeps exactly the 90 inliers: sum 0.01 * 89 * 90 / 2 over 2 * 100 pixels.
    assert trimmed_mae_loss(pred, target, mask, trim=0.1).item() == pytest.approx(40.05 / 200)
    # trim 0.2 keeps the 80 smallest: sum 0.01 * 79 * 80 / 2.
    assert trimmed_mae_loss(pred, target, mask, trim=0.2).item() == pytest.approx(31.6 / 200)


def test_trimmed_mae_batch_based_reduction() -> None:
    pred = torch.stack([torch.ones(4, 4), torch.full((4, 4), 2.0)])
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0].view(-1)[:10] = True  # M = 10, keep 8 residuals of 1
    mask[1].view(-1)[:5] = True  # M = 5, keep 4 residuals of 2
    assert trimmed_mae_loss(pred, torch.zeros_like(pred), mask).item() == pytest.approx(16 / 30)


def test_gradient_matching_hand_computed() -> None:
    pred = torch.arange(8.0).repeat(8, 1)[None]  # residual is a ramp along x
    target, mask = torch.zeros_like(pred), torch.ones_like(pred, dtype=torch.bool)
    # scale 0: 56 x-pairs of 1 over 64 pixels; scale 1: 12 x-pairs of 2 over 16 pixels.
    assert gradient_matching_loss(pred, target, mask, scales=1).item() == pytest.approx(56 / 64)
    assert gradient_matching_loss(pred, target, mask, scales=2).item() == pytest.approx(56 / 64 + 24 / 16)


# -------------------------------------------------------------------------------------------- Chamfer


def _chamfer_brute_force(centres: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    per_sample = []
    for x, y, m in zip(centres, target, mask):
        y = y[m]
        if y.numel() == 0:
            continue
        d = (x[:, None] - y[None, :]) ** 2
        per_sample.append(d.min(dim=1).values.mean() + d.min(dim=0).values.mean())
    return torch.stack(per_sample).mean()


def test_chamfer_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(7)
    target = 10 * torch.rand(3, 9, 9, generator=g, dtype=torch.float64)
    target[0, :4] = 0.0
    target[1, 2, 2] = float("nan")
    target[2] = 0.0  # no valid depth: excluded from the batch mean
    mask = torch.isfinite(target) & (target > 1e-3)
    centres = (10 * torch.rand(3, 16, generator=g, dtype=torch.float64)).requires_grad_()
    fast = bin_chamfer_loss(centres, target)
    (grad_fast,) = torch.autograd.grad(fast, centres)
    slow = _chamfer_brute_force(centres, target, mask)
    (grad_slow,) = torch.autograd.grad(slow, centres)
    assert fast.item() == pytest.approx(slow.item(), abs=1e-6)
    torch.testing.assert_close(grad_fast, grad_slow, atol=1e-6, rtol=0)


def test_chamfer_zero_when_centres_equal_target_values() -> None:
    centres = torch.tensor([[0.5, 1.0, 3.0, 8.0], [2.0, 2.5, 9.0, 4.0]])
    idx = torch.arange(36) % 4
    target = torch.stack([centres[0][idx], centres[1][idx]]).reshape(2, 6, 6)
    assert bin_chamfer_loss(centres, target).item() == 0.0


# --------------------------------------------------------------------------------- robustness, gradients

ROBUST_LOSSES = {
    "l1": lambda p, t: l1_loss(p, t),
    "gradient": lambda p, t: gradient_loss(p, t),
    "ssim": lambda p, t: ssim_loss(p, t, value_range=10.0),
    "silog": lambda p, t: silog_loss(p, t),
    "densedepth": DenseDepthLoss(value_range=10.0),
    "ssi_median": _ssi("median"),
    "ssi_least_squares": _ssi("least_squares"),
    "adabins": lambda p, t: AdaBinsLoss()(p, t, torch.linspace(1.0, 9.0, 8).repeat(2, 1)),
}


@pytest.mark.parametrize("name", ROBUST_LOSSES)
def test_invalid_target_pixels_give_finite_loss_and_grad(name: str) -> None:
    pred = _depth(seed=8).float().requires_grad_()
    target = _corrupt(_depth(seed=9).float())
    loss = ROBUST_LOSSES[name](pred, target)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(pred.grad).all()


def test_l1_grad_is_zero_at_invalid_pixels() -> None:
    pred = _depth(seed=8).requires_grad_()
    target = _corrupt(_depth(seed=9))
    l1_loss(pred, target).backward()
    invalid = ~(torch.isfinite(target) & (target > 1e-3))
    assert invalid.sum() == 4
    assert (pred.grad[invalid] == 0).all()
    assert (pred.grad[~invalid] != 0).all()


@pytest.mark.parametrize("name", ROBUST_LOSSES)
def test_no_valid_pixel_gives_attached_zero(name: str) -> None:
    pred = _depth(seed=10).float().requires_grad_()
    loss = ROBUST_LOSSES[name](pred, torch.full_like(pred, float("nan")))
    assert loss.item() == 0.0
    loss.backward()
    assert (pred.grad == 0).all()


def test_chamfer_grad_finite_with_invalid_target() -> None:
    centres = torch.linspace(1.0, 9.0, 8).repeat(2, 1).requires_grad_()
    bin_chamfer_loss(centres, _corrupt(_depth(seed=11).float())).backward()
    assert torch.isfinite(centres.grad).all() and centres.grad.abs().sum() > 0


def test_densedepth_loss_decreases_under_optimisation() -> None:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 24), indexing="ij")
    target = (2.0 + 3.0 * xx + 2.0 * torch.sin(6 * yy)).expand(2, 24, 24).clone()
    pred = (target + torch.randn(target.shape, generator=torch.Generator().manual_seed(12))).requires_grad_()
    loss_fn = DenseDepthLoss(value_range=10.0)
    optimiser = torch.optim.Adam([pred], lr=0.05)
    initial = loss_fn(pred, target).item()
    for _ in range(20):
        optimiser.zero_grad()
        loss = loss_fn(pred, target)
        loss.backward()
        optimiser.step()
    assert loss_fn(pred, target).item() < 0.5 * initial
