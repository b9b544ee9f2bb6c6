"""Global-local generative distillation: losses, pool freezing, resume, and a tiny end-to-end run."""

from __future__ import annotations

import json

import pytest
import torch

from distilled_datasets import DistilledMNIST, Generator, GeneratorConfig
from distilled_datasets.errors import MissingFileError, UsageError
from distilled_datasets.training.common.model_zoo import build_model
from distilled_datasets.training.common.network_pool import NetworkPool
from distilled_datasets.training.generative.distillation import GenerativeDistillation, train
from distilled_datasets.training.generative.run_config import RunConfig, Stage1Config, Stage2Config
from distilled_datasets.training.generative.stage2_matching import (feature_layers, global_loss, local_loss,
                                                                   matching_losses)


def tiny_config(root, out, **overrides) -> RunConfig:
    config = RunConfig(
        out=str(out), dataset="mnist", data_root=str(root), stage="both", architecture="small", width=4,
        noise_dim=8, seed=0, device="cpu", checkpoint_every=2, sample_every=1000, log_every=1,
        stage1=Stage1Config(steps=2, batch_size=8, d_width=4),
        stage2=Stage2Config(steps=2, batch_size=8, pool=("convnet3",), lr_g=1e-3, lr_d=1e-3),
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture
def tiny_root(tmp_path, make_mnist_root):
    return make_mnist_root(tmp_path / "data", n=32)


def test_losses_are_zero_for_identical_batches_and_positive_otherwise():
    logits, other = torch.randn(6, 10), torch.randn(6, 10)
    assert global_loss(logits, logits).item() == 0
    assert global_loss(logits, other).item() > 0
    # log-softmax is shift invariant: logits + c carry the same class information.
    assert global_loss(logits, logits + 3.0).item() == pytest.approx(0, abs=1e-10)
    feats = torch.randn(6, 4, 5, 5)
    assert local_loss(feats, feats).item() == 0
    assert local_loss(feats, feats + 1).item() == pytest.approx(1.0)


@pytest.mark.parametrize("layer", ["block1", "block2", "block3"])
def test_local_loss_reads_the_named_layer(layer):
    torch.manual_seed(0)
    model = build_model("convnet3", 1, 10, 28)
    seen = {}
    for name, stage in model.stages.named_children():
        stage.register_forward_hook(lambda m, i, out, name=name: seen.__setitem__(name, out))
    syn, real = torch.randn(4, 1, 28, 28), torch.randn(4, 1, 28, 28)
    _, loc = matching_losses(model, layer, syn, real)
    feat_syn = seen[layer]  # the last pass through the hooks is the synthetic one
    with torch.no_grad():
        _, feat_real = model.forward_features(real, layer)
    assert torch.allclose(loc, local_loss(feat_syn, feat_real))
    with pytest.raises(ValueError, match="block2"):
        matching_losses(model, "layer9", syn, real)


def test_matching_gradients_reach_the_generator_and_not_the_pool_model():
    torch.manual_seed(0)
    gen = Generator(GeneratorConfig(architecture="small", noise_dim=8, arch_kwargs={"width": 4, "embed_dim": 4}))
    model = build_model("convnet3", 1, 10, 28)
    labels = torch.arange(4)
    syn = gen(torch.randn(4, 8), labels)
    real = torch.randn(4, 1, 28, 28)
    with NetworkPool.frozen(model):
        glob, loc = matching_losses(model, "block2", syn, real)
        (glob + loc).backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())  # unfrozen afterwards
    grads = [p.grad for p in gen.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_pool_draws_reinitialises_and_trains_online():
    assert feature_layers(["convnet3", "lenet"], {}, (1, 10, 28)) == {"convnet3": "block2", "lenet": "conv2"}
    pool = NetworkPool(["convnet3", "lenet"], lambda name: build_model(name, 1, 10, 28), online_steps=2, life=2)
    rng = torch.Generator().manual_seed(0)
    batches = lambda: (torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,)))  # noqa: E731
    seen = [pool.draw(rng, batches)[0] for _ in range(6)]
    assert set(seen) == {0, 1}  # both slots are drawn (6 fair draws), each built on its first draw
    assert [type(n).__name__ for n in pool.nets] == [type(build_model(a, 1, 10, 28)).__name__
                                                      for a in ("convnet3", "lenet")]
    slot = seen[-1]
    model = pool.nets[slot]
    pool.draws[slot] = 1  # next draw of it is not due for re-init: it keeps training the same net
    pool.architectures = [pool.architectures[slot]] * 2
    before = [p.clone() for p in model.parameters()]

    def draw_slot(wanted):  # 50 fair draws miss a slot with probability 2**-50: a bound, not a hang
        for _ in range(50):
            drawn, net = pool.draw(rng, batches)
            if drawn == wanted:
                return net
        raise AssertionError(f"slot {wanted} was never drawn")

    again = draw_slot(slot)
    assert again is model and any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    pool.draws[slot] = 2  # drawn `life` times: the next draw builds a new network
    draw_slot(slot)
    assert pool.nets[slot] is not model


def test_pool_of_fresh_networks_keeps_nothing_and_draws_no_random_numbers():
    pool = NetworkPool(["convnet3"], lambda name: build_model(name, 1, 10, 28), fresh_each_draw=True)
    rng = torch.Generator().manual_seed(0)
    state = rng.get_state()
    first, second = pool.draw(rng, None)[1], pool.draw(rng, None)[1]
    assert first is not second and torch.equal(rng.get_state(), state)
    assert pool.state() == {"draws": [], "nets": [], "optimizers": []}


def test_resume_reproduces_an_uninterrupted_run(tiny_root, tmp_path):
    straight = GenerativeDistillation(tiny_config(tiny_root, tmp_path / "a"))
    straight.run()

    # Same run, stopped after 2 of its 4 steps (mid-way, at the stage boundary), then resumed.
    config = tiny_config(tiny_root, tmp_path / "b")
    config.stage2 = Stage2Config(**{**config.stage2.__dict__, "steps": 0})
    GenerativeDistillation(config).run()
    resumed_config = tiny_config(tiny_root, tmp_path / "b")
    resumed = GenerativeDistillation(resumed_config, resume=True)
    assert resumed.step == 2
    resumed.run()
    for key, value in straight.generator.state_dict().items():
        assert torch.equal(value, resumed.generator.state_dict()[key]), key


def test_a_checkpoint_of_the_older_pool_format_resumes_exactly(tiny_root, tmp_path):
    # Before the two trainers shared one pool, stage 2 saved {model name: {model, opt}} per rank and
    # the number of draws of each model since the run began.
    from distilled_datasets.training.common.checkpoint import load_checkpoint, save_checkpoint

    def config(out, steps):
        c = tiny_config(tiny_root, tmp_path / out)
        c.stage2 = Stage2Config(**{**c.stage2.__dict__, "pool": ("convnet3", "lenet"), "reinit_every": 2,
                                   "steps": steps})
        return c

    straight = GenerativeDistillation(config("a", 4))
    straight.run()
    part = GenerativeDistillation(config("b", 2))
    part.run()
    path = tmp_path / "b" / "checkpoints" / "last.safetensors"
    state = load_checkpoint(path)
    names = ["convnet3", "lenet"]
    pools = state["pool_by_rank"]
    state["pool_by_rank"] = [{n: {"model": p["nets"][i], "opt": p["optimizers"][i]} for i, n in enumerate(names)
                              if p["nets"][i] is not None} for p in pools]
    state["pool_uses"] = {n: pools[0]["draws"][i] for i, n in enumerate(names)}  # none rebuilt yet
    save_checkpoint(state, path)
    resumed = GenerativeDistillation(config("b", 4), resume=True)
    resumed.run()
    for key, value in straight.generator.state_dict().items():
        assert torch.equal(value, resumed.generator.state_dict()[key]), key


def test_tiny_end_to_end_run_loads_as_a_dataset(tiny_root, tmp_path):
    out = tmp_path / "run"
    GenerativeDistillation(tiny_config(tiny_root, out)).run()
    for name in ("config.json", "model.safetensors", "README.md", "samples.png", "train_config.json",
                 "checkpoints/last.safetensors"):
        assert (out / name).is_file(), name
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert {"global_loss", "local_loss"} <= set(log[-1]) and "global_loss" not in log[0]
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == "mnist" and config["training"]["stage2"]["lambda_local"] == 0.001
    assert config["training"]["stage2"]["feature_layers"] == {"convnet3": "block2"}
    ds = DistilledMNIST(repo_id=str(out), ipc=2)
    image, label = ds[3]
    assert image.size == (28, 28) and label == 3


def test_config_validation_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="stage must be one of"):
        RunConfig(stage="3").validate()
    with pytest.raises(ValueError, match="--init-from"):
        RunConfig(stage="2").validate()
    with pytest.raises(ValueError, match="--stage1-gan-loss must be"):
        RunConfig(stage1=Stage1Config(gan_loss="lsgan")).validate()
    with pytest.raises(ValueError, match="lambda"):
        RunConfig(stage2=Stage2Config(lambda_local=-1)).validate()
    # Regression: stage 2's rates were first checked by the optimiser, after all of stage 1 had run.
    for stage2, flag in ((Stage2Config(lr_d=-0.5), "--stage2-lr-d"), (Stage2Config(lr_g=0.0), "--stage2-lr-g"),
                         (Stage2Config(online_lr=float("nan")), "--stage2-online-lr"),
                         (Stage2Config(online_steps=-1), "--stage2-online-steps")):
        with pytest.raises(ValueError, match=flag):
            RunConfig(stage2=stage2).validate()
    with pytest.raises(ValueError, match=r"--stage1-beta2 must be in \[0, 1\), got 1.0"):
        RunConfig(stage1=Stage1Config(beta2=1.0)).validate()
    with pytest.raises(ValueError, match="--stage1-aux-weight must be >= 0"):
        RunConfig(stage1=Stage1Config(aux_weight=-1)).validate()
    RunConfig(stage2=Stage2Config(online_steps=0)).validate()  # no online steps: allowed


@pytest.mark.parametrize("dataset, out", [("cifar10", "runs/cifar10"), ("Fashion-MNIST", "runs/fashion_mnist")])
def test_the_default_run_folder_is_named_after_the_dataset(dataset, out):
    config = RunConfig(dataset=dataset)
    config.validate()
    assert config.out == out
    given = RunConfig(dataset=dataset, out="runs/mine")
    given.validate()
    assert given.out == "runs/mine"


def test_class_mean_matching_compares_class_means_only():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1])
    real = torch.randn(4, 5)
    # Same class means, different samples: zero under class_mean, positive when paired.
    syn = real[[1, 0, 3, 2]]
    assert local_loss(syn, real, labels, 2).item() == pytest.approx(0, abs=1e-7)
    assert local_loss(syn, real).item() > 0
    model = build_model("convnet3", 1, 10, 28)
    x = torch.randn(4, 1, 28, 28)
    glob, loc = matching_losses(model, "block2", x[[1, 0, 3, 2]], x, mode="class_mean", labels=labels, num_classes=10)
    assert glob.item() == pytest.approx(0, abs=1e-6) and loc.item() == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="labels"):
        matching_losses(model, "block2", x, x, mode="class_mean")
    with pytest.raises(ValueError, match="paired"):
        matching_losses(model, "block2", x, x, mode="mean")


def test_stage2_from_another_run_records_that_runs_stage1(tiny_root, tmp_path):
    GenerativeDistillation(tiny_config(tiny_root, tmp_path / "s1", stage="1")).run()
    config = tiny_config(tiny_root, tmp_path / "s2", stage="2", init_from=str(tmp_path / "s1"),
                         stage1=Stage1Config(steps=2, batch_size=8, d_width=4, n_critic=2, beta1=0.5))
    GenerativeDistillation(config).run()
    recipe = json.loads((tmp_path / "s2" / "config.json").read_text())["training"]
    assert "stage1" not in recipe  # stage 1 was the other run's
    assert recipe["init_from"]["run"] == str(tmp_path / "s1")
    assert recipe["init_from"]["stage1_steps_done"] == 2
    assert recipe["init_from"]["stage1"]["batch_size"] == 8 and recipe["init_from"]["stage1"]["n_critic"] == 1
    # Regression: stage 2 ran its cGAN term with this run's --stage1-* GAN flags, recorded nowhere.
    assert recipe["stage2"]["gan_settings"] == {"gan_loss": "hinge", "n_critic": 2, "aux_weight": 0.2, "beta1": 0.5,
                                                "beta2": 0.9}


def test_a_resumed_stage2_reports_its_source_run_as_it_started_from_it(tiny_root, tmp_path):
    GenerativeDistillation(tiny_config(tiny_root, tmp_path / "s1", stage="1")).run()  # 2 steps
    stage2 = tiny_config(tiny_root, tmp_path / "s2", stage="2", init_from=str(tmp_path / "s1"))
    GenerativeDistillation(stage2).run()
    longer = tiny_config(tiny_root, tmp_path / "s1", stage="1", stage1=Stage1Config(steps=4, batch_size=8, d_width=4))
    GenerativeDistillation(longer, resume=True).run()  # the source run goes on to 4 steps
    stage2.stage2.steps = 4
    GenerativeDistillation(stage2, resume=True).run()
    recipe = json.loads((tmp_path / "s2" / "config.json").read_text())["training"]
    assert recipe["steps_done"] == 4 and recipe["init_from"]["stage1_steps_done"] == 2

    from distilled_datasets.training.common.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    path = tmp_path / "s2" / "checkpoints" / "last.safetensors"
    save_checkpoint({**load_checkpoint(path), "init_from_recipe": ["damaged"]}, path)
    stage2.stage2.steps = 6
    with pytest.raises(CheckpointError, match="init_from_recipe is a list, not a mapping"):
        GenerativeDistillation(stage2, resume=True)


def test_snapshot_of_a_run_is_the_generator_of_its_last_checkpoint(tiny_root, tmp_path):
    from distilled_datasets.training.generative.distillation import snapshot_generator

    config = tiny_config(tiny_root, tmp_path / "run", stage="1")
    GenerativeDistillation(config).run()
    snap = snapshot_generator(tmp_path / "run", tmp_path / "snap")
    final, snapped = Generator.from_pretrained(tmp_path / "run"), Generator.from_pretrained(snap)
    assert all(torch.equal(a, b) for a, b in zip(final.state_dict().values(), snapped.state_dict().values()))
    recipe = snapped.metadata["training"]
    assert recipe["steps_done"] == 2 and recipe["data"] == {"dataset": "mnist", "read_as": "torchvision files"}
    assert DistilledMNIST(ipc=1, repo_id=snap, cache=False).data.shape == (10, 28, 28)


def test_stage2_refuses_a_run_of_another_dataset_or_architecture_by_name(tiny_root, tmp_path, make_mnist_root):
    GenerativeDistillation(tiny_config(tiny_root, tmp_path / "s1", stage="1")).run()
    fashion = make_mnist_root(tmp_path / "fashion", name="FashionMNIST", n=32)
    s1 = str(tmp_path / "s1")
    critic = Stage1Config(steps=2, batch_size=8, d_width=4, gan_loss="wgan-gp")  # no spectral-norm weights
    cases = [({"dataset": "fashion_mnist", "data_root": str(fashion)}, "trained on --dataset mnist, not fashion_mnist"),
             ({"noise_dim": 16}, r"holds networks of another shape \(--noise-dim 8 there, 16 here\)"),
             ({"stage1": critic}, r"holds networks of another shape \(--stage1-gan-loss 'hinge' there, 'wgan-gp' here\)")]
    for overrides, message in cases:
        config = tiny_config(tiny_root, tmp_path / "s2", stage="2", init_from=s1, **overrides)
        with pytest.raises(UsageError, match=f"--init-from {s1} (was )?{message}"):
            GenerativeDistillation(config)
    # Settings that name the same networks are the same: a width left to the architecture's default, or given.
    GenerativeDistillation(tiny_config(tiny_root, tmp_path / "d1", stage="1", width=None)).run()
    default_width = Generator.from_pretrained(tmp_path / "d1").net.width
    GenerativeDistillation(tiny_config(tiny_root, tmp_path / "d2", stage="2", init_from=str(tmp_path / "d1"),
                                       width=default_width))
    with pytest.raises(MissingFileError, match="takes the run directory of a stage-1 run"):
        GenerativeDistillation(tiny_config(tiny_root, tmp_path / "s2", stage="2", init_from=str(tmp_path)))


def test_a_resume_may_not_rewrite_steps_already_taken(tiny_root, tmp_path):
    out = tmp_path / "run"
    GenerativeDistillation(tiny_config(tiny_root, out)).run()  # both stages: 2 + 2 steps
    with pytest.raises(UsageError, match="stage 1 of .* ended after 2 steps and stage 2 has begun"):
        GenerativeDistillation(tiny_config(tiny_root, out, stage1=Stage1Config(steps=3, batch_size=8, d_width=4)),
                               resume=True)
    fewer = tiny_config(tiny_root, out)
    fewer.stage2.steps = 1
    with pytest.raises(UsageError, match="has done 2 steps, more than --stage2-steps 1 asks for"):
        GenerativeDistillation(fewer, resume=True)
    other_rate = tiny_config(tiny_root, out)
    other_rate.stage2.lr_g = 5e-4
    with pytest.raises(UsageError, match=r"these differ: stage2\.lr_g \(--stage2-lr-g\): saved 0\.001, asked 0\.0005"):
        train(other_rate, resume=True)
    more = tiny_config(tiny_root, out)
    more.stage2.steps = 3
    GenerativeDistillation(more, resume=True).run()
    recipe = json.loads((out / "config.json").read_text())["training"]
    assert (recipe["stage1"]["steps"], recipe["stage2"]["steps"], recipe["steps_done"]) == (2, 3, 5)


def test_feature_layers_are_checked_before_any_training(tiny_root, tmp_path):
    for layers, message in [({"convnet3": "nope"}, r"convnet3=nope: convnet3 has no stage 'nope'; valid values"),
                            ({"resnet50": "layer2"}, r"names \['resnet50'\], which --stage2-pool \['convnet3'\]")]:
        config = tiny_config(tiny_root, tmp_path / "run")
        config.stage2.feature_layers = layers
        with pytest.raises(UsageError, match=message):
            GenerativeDistillation(config)
        assert not (tmp_path / "run").exists()
