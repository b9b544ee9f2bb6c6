"""Differentiable Siamese augmentation: each op alone, Siamese seeding, gradients, dataset rules."""

from __future__ import annotations

import math

import pytest
import torch

from distilled_datasets.training.common import augment
from distilled_datasets.training.common.augment import DSA, OPS


def _batch(b=6, c=3, h=12, w=12, seed=0):
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(seed))


# --- DSA as a whole ------------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_each_op_keeps_shape_dtype_device_and_is_siamese(op):
    dsa = DSA(strategy=op)
    x = _batch()
    y = dsa(x, seed=7)
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert torch.equal(y, dsa(x, seed=7))  # same seed -> identical
    # Siamese: another batch of the same size gets the same transform. Every op is affine in
    # its input for fixed parameters, so T(x + z) + T(0) == T(x) + T(z) exactly when the
    # parameters are shared between the four calls (and not when they differ).
    z = _batch(seed=1)
    zero = torch.zeros_like(x)
    assert torch.allclose(dsa(x + z, seed=7) + dsa(zero, seed=7), y + dsa(z, seed=7), atol=1e-5)
    if op != "color":  # linear ops: T(0) == 0
        assert torch.equal(dsa(zero, seed=7), zero)
    outputs = [dsa(x, seed=s) for s in range(8)]
    assert any(not torch.equal(outputs[0], o) for o in outputs[1:])  # different seeds differ
    assert not torch.equal(y, x) or any(not torch.equal(o, x) for o in outputs)


@pytest.mark.parametrize("op", OPS)
def test_gradients_reach_the_input_for_every_op(op):
    x = _batch().requires_grad_(True)
    weights = torch.randn_like(x)
    (DSA(strategy=op)(x, seed=3) * weights).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_gradcheck_on_the_full_chain():
    dsa = DSA(one_op_per_call=False)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: dsa(t, seed=5), (x,), atol=1e-6)


def test_one_op_per_call_picks_different_ops_and_all_ops_mode_composes():
    x = _batch()
    dsa = DSA()
    # Which op ran for a seed: the one whose single-op DSA gives the same output.
    singles = {op: DSA(strategy=op) for op in OPS}
    picked = set()
    for seed in range(40):
        y = dsa(x, seed=seed)
        matches = [op for op, single in singles.items() if torch.equal(single(x, seed=seed), y)]
        assert len(matches) == 1
        picked.add(matches[0])
    assert picked == set(OPS)
    every = DSA(one_op_per_call=False)(x, seed=0)
    assert every.shape == x.shape and not torch.equal(every, x)


def test_same_for_batch_shares_parameters_across_batch_sizes():
    dsa = DSA(strategy="rotate", same_for_batch=True)
    x = _batch(b=8)
    big, small = dsa(x, seed=11), dsa(x[:3], seed=11)
    assert torch.allclose(big[:3], small, atol=1e-6)
    # And within the batch: the same image twice is transformed the same way.
    twin = dsa(torch.cat([x[:1], x[:1]]), seed=2)
    assert torch.equal(twin[0], twin[1])
    per_sample = DSA(strategy="rotate")(torch.cat([x[:1], x[:1]]), seed=2)
    assert not torch.equal(per_sample[0], per_sample[1])


def test_unseeded_calls_follow_torch_manual_seed():
    dsa = DSA()
    x = _batch()
    torch.manual_seed(0)
    a = dsa(x)
    torch.manual_seed(0)
    assert torch.equal(a, dsa(x))


def test_strategy_validation():
    with pytest.raises(ValueError, match=r"unknown ops \['blur'\].*valid ops: \['color', 'crop'"):
        DSA(strategy="color_blur")
    with pytest.raises(ValueError, match="twice"):
        DSA(strategy="flip_flip")
    with pytest.raises(ValueError, match="scale must be"):
        DSA(scale=0.5)
    with pytest.raises(ValueError, match="rotate_degrees"):
        DSA(rotate_degrees=-1)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        DSA()(torch.zeros(3, 8, 8), seed=0)
    x = _batch()
    assert DSA(strategy="none")(x, seed=0) is x
    assert DSA(strategy="flip", flip=False).strategy == "none"


def test_for_dataset_flips_only_where_the_spec_allows():
    assert "flip" in DSA.for_dataset("cifar10").ops
    assert "flip" not in DSA.for_dataset("mnist").ops
    assert "flip" not in DSA.for_dataset("fashion_mnist").ops
    assert DSA.for_dataset("mnist").ops == ["color", "crop", "cutout", "scale", "rotate"]
    assert DSA.for_dataset("cifar10", rotate_degrees=5.0).rotate_degrees == 5.0
    with pytest.raises(ValueError, match="did you mean 'fashion_mnist'"):
        DSA.for_dataset("FashionMNIST")


# --- each op alone, with explicit parameters -----------------------------------------------------


def test_flip_mirrors_the_chosen_samples():
    x = _batch(b=4)
    out = augment.flip(x, torch.tensor([True, False, True, False]))
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1])
    # Drawn: each sample either mirrored or left alone, and both happen.
    y = DSA(strategy="flip")(_batch(b=32), seed=0)
    x = _batch(b=32)
    mirrored = [torch.equal(y[i], x[i].flip(-1)) for i in range(32)]
    kept = [torch.equal(y[i], x[i]) for i in range(32)]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


def _shifted(img, dx, dy):
    """Reference: img [C, H, W] moved right by dx and down by dy, zero-filled."""
    out = torch.zeros_like(img)
    _, h, w = img.shape
    src = img[:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    out[:, max(0, dy):max(0, dy) + src.shape[1], max(0, dx):max(0, dx) + src.shape[2]] = src
    return out


def test_translate_moves_pixels_exactly():
    x = _batch(b=3, h=9, w=11)
    dx, dy = torch.tensor([2, -3, 0]), torch.tensor([-1, 0, 4])
    out = augment.translate(x, dx, dy)
    for i in range(3):
        assert torch.allclose(out[i], _shifted(x[i], int(dx[i]), int(dy[i])), atol=1e-5)
    assert torch.allclose(augment.translate(x, torch.zeros(3), torch.zeros(3)), x, atol=1e-5)


def test_crop_is_a_bounded_integer_shift():
    dsa = DSA(strategy="crop", crop_ratio=0.25)  # 12 px -> shifts of at most 3
    x = _batch(b=16)
    y = dsa(x, seed=4)
    shifts = set()
    for i in range(16):
        found = [(dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)
                 if torch.allclose(y[i], _shifted(x[i], dx, dy), atol=1e-5)]
        assert found, f"sample {i} is not a shift of at most 3 pixels"
        shifts.add(found[0])
    assert len(shifts) > 1
    assert torch.allclose(DSA(strategy="crop", crop_ratio=0.0)(x, seed=4), x, atol=1e-5)


def test_cutout_zeroes_a_clipped_square_in_normalised_space():
    x = _batch(b=2, c=2, h=10, w=10) + 5.0  # no pixel is 0 before
    out = augment.cutout(x, torch.tensor([5, 0]), torch.tensor([5, 9]), 4, 4)
    assert (out[0, :, 3:7, 3:7] == 0).all()
    assert (out[0] == 0).sum() == 2 * 16
    assert (out[1, :, 0:2, 7:10] == 0).all() and (out[1] == 0).sum() == 2 * 6  # clipped at the corner
    kept = out != 0
    assert torch.equal(out[kept], x[kept])
    y = DSA(strategy="cutout", cutout_ratio=0.5)(x, seed=1)
    for i in range(2):
        zeros = (y[i, 0] == 0).sum().item()
        assert 0 < zeros <= 25 and torch.equal((y[i] == 0)[0], (y[i] == 0)[1])  # all channels alike
    assert torch.equal(DSA(strategy="cutout", cutout_ratio=0.0)(x, seed=1), x)


def test_scale_and_rotate_are_identity_at_zero_strength_and_move_pixels_otherwise():
    x = _batch()
    ones, zeros = torch.ones(6), torch.zeros(6)
    assert torch.allclose(augment.scale(x, ones, ones), x, atol=1e-5)
    assert torch.allclose(augment.rotate(x, zeros), x, atol=1e-5)
    assert torch.allclose(DSA(strategy="scale", scale=1.0)(x, seed=0), x, atol=1e-5)
    assert torch.allclose(DSA(strategy="rotate", rotate_degrees=0.0)(x, seed=0), x, atol=1e-5)
    # A quarter turn of a square image is an exact permutation of its pixels.
    quarter = augment.rotate(x, torch.full((6,), math.pi / 2))
    assert any(torch.allclose(quarter, torch.rot90(x, k, dims=(2, 3)), atol=1e-5) for k in (1, 3))
    # Zooming out (grid stretched by 2) leaves a zero border of the mean colour.
    out = augment.scale(x, 2 * ones, 2 * ones)
    assert (out[:, :, 0, :] == 0).all() and (out[:, :, 5:7, 5:7] != 0).all()
    y = DSA(strategy="rotate")(x, seed=0)
    assert not torch.allclose(y, x, atol=1e-3)


def test_color_ops_and_their_ranges():
    x = _batch()
    assert torch.allclose(augment.adjust_brightness(x, torch.full((6,), 0.3)), x + 0.3)
    grey = augment.adjust_saturation(x, torch.zeros(6))
    assert torch.allclose(grey, x.mean(1, keepdim=True).expand_as(x), atol=1e-6)
    flat = augment.adjust_contrast(x, torch.zeros(6))
    assert torch.allclose(flat, x.mean((1, 2, 3), keepdim=True).expand_as(x), atol=1e-6)
    one_channel = _batch(c=1)
    assert torch.allclose(augment.adjust_saturation(one_channel, torch.full((6,), 1.7)), one_channel)
    assert torch.allclose(DSA(strategy="color", brightness=0, saturation=0, contrast=0)(x, seed=0), x, atol=1e-6)
    # Brightness alone: a constant shift per image within +-brightness/2.
    shifted = DSA(strategy="color", brightness=1.0, saturation=0, contrast=0)(x, seed=9)
    delta = (shifted - x).flatten(1)
    assert torch.allclose(delta, delta[:, :1].expand_as(delta), atol=1e-5)
    assert (delta.abs() <= 0.5 + 1e-6).all() and delta.abs().max() > 0


def test_bfloat16_input_keeps_its_dtype():
    x = _batch().to(torch.bfloat16)
    for op in OPS:
        assert DSA(strategy=op)(x, seed=0).dtype == torch.bfloat16
