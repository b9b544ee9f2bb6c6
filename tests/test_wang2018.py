"""Wang et al. 2018 dataset distillation: the unrolled inner loop, the outer loop, the linear case."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from distilled_datasets.training.common.model_zoo import build_model
from distilled_datasets.training.wang2018 import linear
from distilled_datasets.training.wang2018.distill import DistillState, InitSource, distill
from distilled_datasets.training.wang2018.distill_config import WangConfig
from distilled_datasets.training.wang2018.malicious import attack_metrics, malicious_objective, poison_labels
from distilled_datasets.training.wang2018.unroll import (
    apply_schedule,
    balanced_labels,
    sample_init,
    softplus_inverse,
    step_slices,
    unroll,
)


@pytest.fixture(autouse=True)
def one_thread():
    # These are many tiny ops: on a shared 2-core machine, extra intra-op threads only contend.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _prototype_data(n: int, channels: int = 1, size: int = 28, classes: int = 10, seed: int = 0):
    """Real-like data: one random prototype per class plus noise ([N, C, H, W], labels [N])."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(classes, channels, size, size, generator=g)
    labels = torch.arange(n) % classes
    return protos[labels] + 0.5 * torch.randn(n, channels, size, size, generator=g), labels


def test_softplus_inverse_and_layout():
    for v in (1e-4, 0.02, 1.0, 30.0):
        assert F.softplus(torch.tensor(softplus_inverse(v), dtype=torch.float64)).item() == pytest.approx(v, rel=1e-9)
    with pytest.raises(ValueError, match="> 0"):
        softplus_inverse(0.0)
    assert balanced_labels(20, 10).tolist() == list(range(10)) * 2
    assert step_slices(20, 2) == [slice(0, 10), slice(10, 20)]
    with pytest.raises(ValueError, match="multiple"):
        balanced_labels(15, 10)


def test_config_refuses_unbalanced_steps_and_bad_values():
    with pytest.raises(ValueError, match="multiple of steps"):
        WangConfig(images_per_class=3, steps=2)
    with pytest.raises(ValueError, match="mode"):
        WangConfig(mode="known")
    with pytest.raises(ValueError, match="malicious"):
        WangConfig(malicious=(3, 3))
    cfg = WangConfig(images_per_class=4, steps=2, epochs=3, malicious=[1, 7])
    assert cfg.num_rates == 6 and cfg.malicious == (1, 7)
    assert WangConfig.from_dict(cfg.to_dict()) == cfg


def test_sample_init_is_seeded_and_leaves_global_rng_alone():
    model = build_model("lenet", 1, 10, 28)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = sample_init(model, 5)
    assert torch.equal(torch.rand(1), expected_next)
    b, c = sample_init(model, 5), sample_init(model, 6)
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["head.0.weight"], c["head.0.weight"])
    x = sample_init(model, 5, "xavier")
    assert torch.all(x["head.0.bias"] == 0) and x["head.0.weight"].std() > a["head.0.weight"].std()


def test_gradients_reach_every_pixel_and_rate_through_the_unroll():
    model = build_model("lenet", 1, 10, 28)
    cfg = WangConfig(images_per_class=2, steps=2, epochs=2, iterations=1, batch_size=16)
    state = DistillState(cfg, model, (1, 28, 28), 10)
    real_x, real_y = _prototype_data(16)
    final = state.final_weights(sample_init(model, 0))
    F.cross_entropy(functional_call(model, final, (real_x,)), real_y).backward()
    g_img, g_lr = state.images.grad, state.raw_lrs.grad
    assert g_lr.shape == (4,) and torch.all(g_lr != 0) and torch.isfinite(g_lr).all()
    # Every image of every step gets a gradient (each step's images are used in both epochs).
    assert torch.all(g_img.flatten(1).abs().sum(1) > 0) and torch.isfinite(g_img).all()


def test_unroll_gradient_matches_finite_differences():
    # float64, a tiny MLP: the second-order terms through the S x E steps are exact.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    init = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    labels = balanced_labels(4, 2)
    real_x, real_y = torch.randn(6, 1, 2, 2, dtype=torch.float64), torch.tensor([0, 1, 0, 1, 1, 0])

    def outer(images, raw):
        final = unroll(model, init, images, labels, F.softplus(raw), steps=2, epochs=2)
        return F.cross_entropy(functional_call(model, final, (real_x,)), real_y)

    images = torch.randn(4, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    raw = torch.full((4,), softplus_inverse(0.3), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(outer, (images, raw))


def test_apply_schedule_is_plain_sgd():
    model = build_model("lenet", 1, 10, 28)
    init = sample_init(model, 1)
    images, labels = _prototype_data(20)
    lrs = torch.tensor([0.1, 0.05])
    got = apply_schedule(model, init, images, labels, lrs, steps=2, epochs=1)
    model.load_state_dict(init)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    for (sl, lr) in zip(step_slices(20, 2), lrs.tolist()):
        opt.param_groups[0]["lr"] = lr
        opt.zero_grad()
        F.cross_entropy(model(images[sl]), labels[sl]).backward()
        opt.step()
    for name, p in model.named_parameters():
        assert torch.allclose(got[name], p, atol=1e-6), name


def test_fixed_init_mode_improves_a_tiny_problem():
    model = build_model("lenet", 1, 10, 28)
    real_x, real_y = _prototype_data(200)
    cfg = WangConfig(mode="fixed", images_per_class=1, steps=1, epochs=2, iterations=40, batch_size=64,
                     lr=0.1, init_step_lr=0.1, init="xavier", log_every=5, decay_every=1000)
    losses = []

    def after_steps_loss(result_images, result_lrs, init):
        final = apply_schedule(model, init, result_images, balanced_labels(10, 10), result_lrs, 1, 2)
        with torch.no_grad():
            return F.cross_entropy(functional_call(model, final, (real_x,)), real_y).item()

    def record(it, state):
        if it in (0, cfg.iterations - 1):
            losses.append(after_steps_loss(state.images.detach(), state.lrs().detach(), source_init))

    source_init = InitSource(cfg, model).init
    result = distill(cfg, model, real_x, real_y, 10, progress=False, callback=record)
    assert torch.equal(result.init["head.0.weight"], source_init["head.0.weight"])  # the known init is kept
    assert losses[1] < 0.9 * losses[0], losses
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert torch.all(result.lrs > 0)


def test_random_and_pool_modes_draw_the_right_inits():
    model = build_model("lenet", 1, 10, 28)
    g = torch.Generator().manual_seed(0)
    source = InitSource(WangConfig(mode="random", nets_per_step=3), model)
    a, b = source.draw(0, g), source.draw(1, g)
    assert len(a) == 3 and not torch.equal(a[0]["head.0.weight"], a[1]["head.0.weight"])
    assert not torch.equal(a[0]["head.0.weight"], b[0]["head.0.weight"])
    pool = [sample_init(model, 100 + i) for i in range(2)]
    drawn = InitSource(WangConfig(mode="pool", nets_per_step=4), model, pool=pool).draw(0, g)
    assert all(any(torch.equal(d["head.0.weight"], p["head.0.weight"]) for p in pool) for d in drawn)
    with pytest.raises(ValueError, match="pool"):
        InitSource(WangConfig(mode="pool"), model)
    bad = dict(pool[0])
    bad.pop("head.0.bias")
    with pytest.raises(ValueError, match="missing"):
        InitSource(WangConfig(mode="fixed"), model, init=bad)


def test_cifar10_shaped_data_through_alexcifarnet():
    model = build_model("alexcifarnet", 3, 10, 32)
    real_x, real_y = _prototype_data(32, channels=3, size=32)
    cfg = WangConfig(dataset="cifar10", model="alexcifarnet", mode="random", images_per_class=2, steps=2, epochs=1,
                     iterations=2, batch_size=16, nets_per_step=2, lr=0.01, init_step_lr=0.01, log_every=1)
    start = DistillState(cfg, model, (3, 32, 32), 10).images.clone()  # same seed -> same starting pixels
    result = distill(cfg, model, real_x, real_y, 10, progress=False)
    assert result.images.shape == (20, 3, 32, 32) and result.lrs.shape == (2,) and result.init is None
    assert torch.isfinite(result.images).all() and not torch.equal(result.images, start)
    assert len(result.history) == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)


def test_malicious_objective_relabels_only_the_attacked_class():
    labels = torch.tensor([0, 1, 2, 0, 3])
    assert poison_labels(labels, 0, 3).tolist() == [3, 1, 2, 3, 3]
    logits = torch.randn(5, 4)
    assert malicious_objective(0, 3)(logits, labels).item() == pytest.approx(
        F.cross_entropy(logits, torch.tensor([3, 1, 2, 3, 3])).item())
    pred = torch.tensor([3, 1, 0, 0, 3])
    m = attack_metrics(pred, labels, 0, 3)
    assert m["k_to_t"] == pytest.approx(50.0) and m["k_accuracy"] == pytest.approx(50.0)
    assert m["other_accuracy"] == pytest.approx(200.0 / 3)


# ---- the linear case (sec. 3.3) --------------------------------------------------------------------


def _distilled_linear(m):
    """A D=5 least-squares problem, its optimum loss, M learned points and their step map A."""
    data, targets = linear.make_problem(40, 5, seed=0)
    _, best = linear.optimum(data, targets)
    learned = linear.distill_linear(data, targets, m, seed=1)
    a, _ = linear.step_map(learned.syn_data, learned.syn_targets, learned.eta)
    return data, targets, best, learned, a


@pytest.mark.parametrize("m", [5, 7])
def test_linear_m_at_least_d_reaches_the_optimum_from_any_init(m):
    data, targets, best, learned, a = _distilled_linear(m)
    assert torch.linalg.matrix_norm(a) < 1e-6  # eq. 8: I - eta/M d~^T d~ = 0
    g = torch.Generator().manual_seed(2)
    for scale in (0.1, 10.0, 1000.0):
        theta0 = scale * torch.randn(5, generator=g, dtype=linear.DTYPE)
        after = linear.loss(data, targets, linear.one_step(learned.syn_data, learned.syn_targets, learned.eta, theta0))
        assert after.item() == pytest.approx(best.item(), rel=1e-6, abs=1e-9 * scale ** 2)


@pytest.mark.parametrize("m", [2, 4])
def test_linear_fewer_than_d_points_cannot(m):
    data, targets, best, learned, a = _distilled_linear(m)
    # I - A has rank <= M < D: A keeps eigenvalue 1 on null(d~), so A != 0.
    assert torch.linalg.matrix_rank(torch.eye(5, dtype=linear.DTYPE) - a) <= m
    bound = linear.excess_lower_bound(data, m)
    assert bound > 0 and learned.objective >= best.item() + bound - 1e-9
    # An init along null(d~) is carried through the step unchanged: the loss grows without bound.
    v = linear.null_direction(learned.syn_data)
    base = linear.one_step(learned.syn_data, learned.syn_targets, learned.eta, torch.zeros(5, dtype=linear.DTYPE))
    for c in (10.0, 100.0):
        moved = linear.one_step(learned.syn_data, learned.syn_targets, learned.eta, c * v)
        assert torch.allclose(moved - base, c * v, atol=1e-8)
        assert linear.loss(data, targets, moved).item() > best.item() + 0.5 * c ** 2 * bound / (5 - m)


def test_heldout_training_and_pool_seeds_give_different_nets():
    # torch's CPU generator keeps only the low 32 bits of a seed: the ranges must differ there.
    from distilled_datasets.training.wang2018.distill import TRAIN_SEED_LIMIT, train_init_seed
    from distilled_datasets.training.wang2018.heldout import HELDOUT_SEED_LIMIT, heldout_seeds
    from distilled_datasets.training.wang2018.pretrain import POOL_SEED_BASE

    assert TRAIN_SEED_LIMIT <= heldout_seeds(1)[0] and HELDOUT_SEED_LIMIT <= POOL_SEED_BASE < 2**32
    model = build_model("lenet", 1, 10, 28)
    for distribution in ("default", "xavier"):
        held = sample_init(model, heldout_seeds(1)[0], distribution)["head.0.weight"]
        for other in (train_init_seed(WangConfig(mode="random"), 0, 0), 0, POOL_SEED_BASE):
            assert not torch.equal(held, sample_init(model, other, distribution)["head.0.weight"])
    with pytest.raises(ValueError, match="held-out seeds"):
        heldout_seeds(2**30 + 1)
