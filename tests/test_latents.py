"""Learned latent codes: the runtime format (sampling.latents) and latent distillation."""

from __future__ import annotations

import contextlib
import json
import warnings

import numpy as np
import pytest
import torch

from distilled_datasets import DistilledMNIST, Generator, InvalidGeneratorError, SamplingConfig, save_repository
from distilled_datasets.cli import main as cli_main
from distilled_datasets.errors import UsageError
from distilled_datasets.synthesis import chunk_noise, seeded_noise, synthesize_chunk, to_uint8
from distilled_datasets.training.generative.latent_distillation import (
    LatentConfig,
    LatentDistillation,
    distill_latents,
    distribution_matching_loss,
)


def with_latents(make_generator, k=5, seed=3, sets=1):
    generator = make_generator("mnist", sampling=SamplingConfig(chunk_size=4, latents=k, latent_sets=sets))
    with torch.no_grad():
        generator.latents.copy_(torch.randn(generator.latents.shape, generator=torch.Generator().manual_seed(seed)))
    return generator


def pixels(dataset, indices):
    return np.stack([np.asarray(dataset[i][0]) for i in indices])


# ---- runtime -------------------------------------------------------------------------------------


def test_learned_samples_come_from_the_codes_and_later_ones_from_seeded_noise(make_generator, tmp_path):
    generator = with_latents(make_generator)
    folder = save_repository(generator, tmp_path / "gen")
    loaded = Generator.from_pretrained(folder)
    assert torch.equal(loaded.latents, generator.latents) and loaded.latents.shape == (1, 10, 5, 16)
    config = json.loads((folder / "config.json").read_text())
    # One set is written as files were before sets existed: readers of format 1 still read it.
    assert config["sampling"]["latents"] == 5 and "latent_sets" not in config["sampling"]
    assert config["format_version"] == 1
    from safetensors import safe_open
    with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:
        assert weights.get_slice("latents").get_shape() == [10, 5, 16]
    ds = DistilledMNIST(ipc=7, seed=0, repo_id=folder)
    for c in (0, 3):
        expected = to_uint8(loaded(loaded.latents[0, c], torch.full((5,), c)))  # [5, 28, 28]
        assert np.array_equal(pixels(ds, [k * 10 + c for k in range(5)]), expected)
    # Rows beyond the codes are exactly the plain generator's noise.
    noise = chunk_noise(loaded, 0, 2, 1)  # samples 4..7 of class 2
    assert torch.equal(noise[0], loaded.latents[0, 2, 4])
    plain = make_generator("mnist", sampling=SamplingConfig(chunk_size=4))
    assert torch.equal(noise[1:], chunk_noise(plain, 0, 2, 1)[1:])


def test_each_seed_below_latent_sets_is_its_own_learned_set(make_generator, tmp_path):
    generator = with_latents(make_generator, sets=3)
    folder = save_repository(generator, tmp_path / "gen")
    config = json.loads((folder / "config.json").read_text())
    assert config["sampling"]["latent_sets"] == 3 and config["format_version"] == 2
    loaded = Generator.from_pretrained(folder)
    assert torch.equal(loaded.latents, generator.latents)
    plain = make_generator("mnist", sampling=SamplingConfig(chunk_size=4))
    sets = []
    for seed in range(4):
        said = pytest.warns(UserWarning, match="seed 3 gives seeded noise") if seed == 3 else contextlib.nullcontext()
        with said:
            ds = DistilledMNIST(ipc=5, seed=seed, repo_id=folder)
        images = pixels(ds, range(50))
        for c in (1, 8):
            codes = loaded.latents[seed, c] if seed < 3 else chunk_noise(plain, seed, c, 0)[:4]
            expected = to_uint8(loaded(codes, torch.full((len(codes),), c)))
            assert np.array_equal(images[[k * 10 + c for k in range(len(codes))]], expected)
        # The first n * classes items of a set are the set with ipc=n (synthesized again, not read from the cache).
        again = DistilledMNIST(ipc=2, seed=seed, repo_id=folder, cache=False)
        assert np.array_equal(pixels(again, range(20)), images[:20])
        sets.append(images)
    for a in range(4):
        for b in range(a):
            assert not np.array_equal(sets[a][:10], sets[b][:10])  # never the same images as another seed


def test_a_seed_without_a_learned_set_is_said_once(make_generator, tmp_path, recwarn):
    folder = save_repository(with_latents(make_generator, sets=2), tmp_path / "gen")
    DistilledMNIST(ipc=3, seed=0, repo_id=folder)
    DistilledMNIST(ipc=3, seed=1, repo_id=folder)
    assert not [w for w in recwarn if "learned set" in str(w.message)]  # seeds 0 and 1: learned sets
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning turned into an error is not yet said: raised again next time
        for _ in range(2):
            with pytest.raises(UserWarning):
                DistilledMNIST(ipc=3, seed=2, repo_id=folder)
    with pytest.warns(UserWarning, match=r"seed=2\): .* holds learned sets for seeds 0..1 only; seed 2 gives "
                                         r"seeded noise through the same generator, as every seed from 2 on"):
        DistilledMNIST(ipc=3, seed=2, repo_id=folder)
    recwarn.clear()
    DistilledMNIST(ipc=7, seed=5, repo_id=folder)
    assert not [w for w in recwarn if "learned set" in str(w.message)]  # once per generator and process
    single = save_repository(with_latents(make_generator), tmp_path / "one")
    with pytest.warns(UserWarning, match=r"holds learned sets for seed 0 only; seed 1 gives seeded noise .* as "
                                         r"every seed from 1 on"):
        DistilledMNIST(ipc=3, seed=1, repo_id=single)


@pytest.mark.parametrize("layer", ["stem", "up1"])
def test_codes_in_a_feature_map_make_their_images_in_one_pass(make_generator, tmp_path, layer):
    generator = make_generator("mnist", sampling=SamplingConfig(chunk_size=4, latents=5, latent_sets=2,
                                                                latent_layer=layer, layout="class_rows"))
    assert generator.latents.shape == (2, 10, 5, *generator.net.code_shape(layer))
    with torch.no_grad():
        generator.latents.normal_(generator=torch.Generator().manual_seed(1))
    folder = save_repository(generator, tmp_path / "gen")
    config = json.loads((folder / "config.json").read_text())
    assert config["sampling"]["latent_layer"] == layer and config["format_version"] == 2
    loaded = Generator.from_pretrained(folder)
    for seed in (0, 1):
        images = pixels(DistilledMNIST(ipc=7, seed=seed, repo_id=folder), range(70))
        for c in (0, 9):
            labels = torch.full((5,), c)
            learned = to_uint8(loaded.net.decode(loaded.latents[seed, c], labels, layer))
            assert np.array_equal(images[[k * 10 + c for k in range(5)]], learned)
        again = DistilledMNIST(ipc=3, seed=seed, repo_id=folder, cache=False)
        assert np.array_equal(pixels(again, range(30)), images[:30])
    # Rows past the codes, and seeds past the sets: the plain generator's images, bytes and all.
    plain = save_repository(make_generator("mnist", sampling=SamplingConfig(chunk_size=4, layout="class_rows")),
                            tmp_path / "plain")
    for seed, items in ((1, range(50, 80)), (2, range(80))):
        with pytest.warns(UserWarning, match="seed 2 gives") if seed == 2 else contextlib.nullcontext():
            mine = pixels(DistilledMNIST(ipc=8, seed=seed, repo_id=folder, cache=False), items)
        assert np.array_equal(mine, pixels(DistilledMNIST(ipc=8, seed=seed, repo_id=plain, cache=False), items))


def test_latent_sets_are_checked(make_generator, tmp_path):
    with pytest.raises(InvalidGeneratorError, match="latent_layer must be one of"):
        SamplingConfig(latents=3, latent_layer="deep")
    with pytest.raises(InvalidGeneratorError, match="latent_layer needs learned latents"):
        SamplingConfig(latent_layer="stem")
    with pytest.raises(InvalidGeneratorError, match="latent_sets needs learned latents"):
        SamplingConfig(latent_sets=2)
    for bad in (0, True, 2.0, 10**6):
        with pytest.raises(InvalidGeneratorError, match=r"latent_sets must be an int in 1..1000"):
            SamplingConfig(latents=3, latent_sets=bad)
    folder = save_repository(with_latents(make_generator, sets=2), tmp_path / "gen", samples=False)
    config = json.loads((folder / "config.json").read_text())
    config["sampling"]["latent_sets"] = 3  # the config asks for a set the weights do not hold
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidGeneratorError, match=r"latents has shape \[2, 10, 5, 16\], the architecture needs "
                                                    r"\[3, 10, 5, 16\]"):
        Generator.from_pretrained(folder)


def test_latents_do_not_combine_with_candidates_and_must_be_in_the_weights(make_generator, tmp_path):
    with pytest.raises(InvalidGeneratorError, match="do not combine"):
        SamplingConfig(latents=3, candidates=2, selector={})
    with pytest.raises(InvalidGeneratorError, match="latents must be an int in 1..100000"):
        SamplingConfig(latents=10**9)
    folder = save_repository(make_generator("mnist"), tmp_path / "plain", samples=False)
    config = json.loads((folder / "config.json").read_text())
    config["sampling"]["latents"] = 4  # the config asks for codes the weights do not hold
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidGeneratorError, match="missing keys \\['latents'\\]"):
        Generator.from_pretrained(folder)


def test_non_finite_codes_are_refused(make_generator, tmp_path):
    generator = with_latents(make_generator)
    generator.latents[0, 0, 0, 0] = float("nan")
    folder = generator.save_pretrained(tmp_path / "gen")
    with pytest.raises(InvalidGeneratorError, match="latents holds NaN or Inf"):
        Generator.from_pretrained(folder)


# ---- the loss ------------------------------------------------------------------------------------


def test_distribution_matching_loss_sums_prefix_mean_distances():
    embed = lambda x: [x.flatten(1)]  # noqa: E731  (one layer: the identity)
    real = [torch.full((6, 1, 2, 2), float(c)) for c in range(2)]
    synthetic = torch.zeros(2, 3, 1, 2, 2)
    synthetic[0, 0], synthetic[1] = 1.0, 1.0  # class 0: means 1, 1/3 over the first 1, 3; class 1: 1
    loss = distribution_matching_loss(embed, real, synthetic, (1, 3), None, [0, 0])
    # class 0 (real mean 0): mean over the 4 dims of 1^2, plus of (1/3)^2; class 1 (real mean 1): 0
    assert loss.item() == pytest.approx(1 + 1 / 9)
    two_layers = lambda x: [x.flatten(1), 2 * x.flatten(1)[:, :1]]  # noqa: E731  (a second, narrower layer)
    assert distribution_matching_loss(two_layers, real, synthetic, (1, 3), None, [0, 0]).item() == \
        pytest.approx((1 + 1 / 9) * (1 + 4))
    synthetic.requires_grad_(True)
    distribution_matching_loss(embed, real, synthetic, (1, 3), None, [0, 0]).backward()
    assert synthetic.grad[0, 0].abs().sum() > 0 and synthetic.grad[1].abs().sum() == 0


# ---- training ------------------------------------------------------------------------------------


@pytest.fixture
def tiny_setup(make_generator_dir, tiny_mnist_root, tmp_path):
    generator = make_generator_dir("mnist")
    def config(**kw):
        base = dict(generator=str(generator), out=str(tmp_path / "lat"), dataset="mnist",
                    data_root=str(tiny_mnist_root),
                    latents=4, prefixes=(1, 4), iterations=4, real_per_class=3, embed_model="lenet", device="cpu",
                    checkpoint_every=2,
                    log_every=1)
        return LatentConfig(**{**base, **kw})
    return config


@pytest.mark.parametrize("seed", [0, 2])
def test_codes_start_as_the_seeds_noise_and_the_result_loads_as_a_dataset(tiny_setup, seed):
    config = tiny_setup(seed=seed)
    run = LatentDistillation(config)
    start = run.latents.detach().clone()
    for c in range(10):
        assert torch.equal(start[c], seeded_noise(run.base, seed, c, 0)[:4])  # step 0: the raw set of the seed
    out = distill_latents(tiny_setup(seed=seed))
    ds = DistilledMNIST(ipc=6, repo_id=out)
    learned = ds.generator.latents
    assert learned.shape == (1, 10, 4, 16) and not torch.equal(learned[0], start)
    assert ds.generator.metadata["training"]["method"] == "latent distribution matching"
    assert ds.generator.metadata["training"]["latents"]["prefixes"] == [1, 4]
    expected = synthesize_chunk(ds.generator, 0, 7, 0)
    assert np.array_equal(np.asarray(ds[7][0]), expected[0]) and len(ds) == 60


def test_codes_in_a_feature_map_start_as_the_raw_set_and_learn(tiny_setup):
    run = LatentDistillation(tiny_setup(code_layer="stem", seed=1))
    raw = torch.cat([run.base(seeded_noise(run.base, 1, c, 0)[:4], torch.full((4,), c)) for c in range(10)])
    with torch.no_grad():
        start = run.synthetic()  # [10, 4, 1, 28, 28], normalised
    from distilled_datasets.training.common.real_data import generator_to_normalized
    assert torch.allclose(start.flatten(0, 1), generator_to_normalized(raw, "mnist"), atol=1e-5)
    out = distill_latents(tiny_setup(code_layer="stem", seed=1, iterations=2))
    ds = DistilledMNIST(ipc=5, repo_id=out, cache=False)
    learned = ds.generator.latents
    assert ds.generator.sampling.latent_layer == "stem" and learned.shape == (1, 10, 4, *run.net.code_shape("stem"))
    assert not torch.equal(learned[0], run.latents.detach())  # the codes moved
    for c in (2, 5):  # the dataset's images are the decoded codes
        expected = to_uint8(ds.generator.net.decode(learned[0, c], torch.full((4,), c), "stem"))
        assert np.array_equal(pixels(ds, [k * 10 + c for k in range(4)]), expected)


def test_sets_learned_per_seed_join_into_one_generator(tiny_setup, tmp_path, capsys):
    parts = [distill_latents(tiny_setup(out=str(tmp_path / f"set{s}"), seed=s, iterations=2)) for s in range(2)]
    code = cli_main(["join-sets", *map(str, parts), "--out", str(tmp_path / "joined")])
    assert code == 0 and "2 learned sets (seeds 0..1) joined" in capsys.readouterr().out
    joined = tmp_path / "joined"
    recipes = Generator.from_pretrained(joined).metadata["training"]["sets"]
    assert [r["seed"] for r in recipes] == [0, 1]
    for s, part in enumerate(parts):  # seed s of the result: exactly part s's set
        assert np.array_equal(pixels(DistilledMNIST(ipc=4, seed=s, repo_id=joined), range(40)),
                              pixels(DistilledMNIST(ipc=4, seed=0, repo_id=part), range(40)))
    # The same folder again: refused without --overwrite, and nothing is touched.
    before = {p.name: p.stat().st_mtime_ns for p in joined.iterdir()}
    assert cli_main(["join-sets", *map(str, parts), "--out", str(joined)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in joined.iterdir()} == before


def test_join_refuses_sets_that_would_change_when_joined(tiny_setup, tmp_path, make_generator_dir):
    from distilled_datasets.training.generative.latent_sets import join_set_folders

    first = distill_latents(tiny_setup(out=str(tmp_path / "a"), iterations=2))
    tuned = distill_latents(tiny_setup(out=str(tmp_path / "b"), iterations=2, seed=1, lr_generator=1e-3))
    with pytest.raises(UsageError, match="part 1 holds other generator weights than part 0"):
        join_set_folders([str(first), str(tuned)], str(tmp_path / "out"))
    fewer = distill_latents(tiny_setup(out=str(tmp_path / "c"), iterations=2, seed=1, latents=2, prefixes=(1, 2)))
    with pytest.raises(UsageError, match="part 1 differs from part 0 in its architecture or sampling"):
        join_set_folders([str(first), str(fewer)], str(tmp_path / "out"))
    with pytest.raises(UsageError, match="part 1 has no learned latent codes"):
        join_set_folders([str(first), str(make_generator_dir("mnist"))], str(tmp_path / "out"))
    with pytest.raises(UsageError, match="parts 0 and 1 hold the same codes"):
        join_set_folders([str(first), str(first)], str(tmp_path / "out"))
    with pytest.raises(UsageError, match="at least two"):
        join_set_folders([str(first)], str(tmp_path / "out"))
    # Regression: parts out of seed order were joined, so seed 0 gave the set learned from seed 1.
    second = distill_latents(tiny_setup(out=str(tmp_path / "d"), iterations=2, seed=1))
    with pytest.raises(UsageError, match="part 0 was learned with --seed 1, so it is not set 0"):
        join_set_folders([str(second), str(first)], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    join_set_folders([str(first), str(second)], str(tmp_path / "out"))


def test_later_sets_repeat_the_recipe_of_a_set0_run(tiny_setup, tmp_path, tiny_mnist_root):
    # benchmarks/latent_sets.py --set0: a programme row's run becomes set 0 and seeds 1.. repeat its recipe.
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    from distilled_datasets.training.generative.latent_sets import join_set_folders

    set0 = distill_latents(tiny_setup(out=str(tmp_path / "row"), iterations=2, pool=2, pool_steps=2, lr=0.1))
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "latent_sets.py"
    printed = subprocess.run([sys.executable, str(script), "commands", "--dataset", "mnist", "--seeds", "1",
                              "--set0", str(set0), "--runs-dir", str(tmp_path / "sets"),
                              "--data-root", str(tiny_mnist_root)], capture_output=True, text=True, check=True)
    argv = shlex.split(printed.stdout.strip())
    assert argv[:2] == ["distilled-datasets", "distill-latents"]
    assert cli_main(argv[1:] + ["--device", "cpu", "--log-every", "1"]) == 0
    set1 = tmp_path / "sets" / "mnist" / "set1"
    recipe = lambda run: {k: v for k, v in json.loads((run / "latent_config.json").read_text()).items()  # noqa: E731
                          if k not in ("out", "seed", "generator", "device", "log_every", "checkpoint_every")}
    assert recipe(set1) == recipe(set0) and json.loads((set1 / "latent_config.json").read_text())["seed"] == 1
    joined = join_set_folders([str(set0), str(set1)], str(tmp_path / "joined"))
    assert Generator.from_pretrained(joined).sampling.latent_sets == 2


@pytest.mark.parametrize("pool", [0, 2])
def test_resume_continues_exactly(tiny_setup, tmp_path, pool):
    whole = distill_latents(tiny_setup(out=str(tmp_path / "whole"), pool=pool, pool_life=3))
    distill_latents(tiny_setup(out=str(tmp_path / "part"), iterations=2, pool=pool, pool_life=3))
    part = distill_latents(tiny_setup(out=str(tmp_path / "part"), iterations=4, pool=pool, pool_life=3), resume=True)
    assert torch.equal(Generator.from_pretrained(whole).latents, Generator.from_pretrained(part).latents)


def test_a_resume_may_change_only_how_the_result_is_synthesized(tiny_setup, tmp_path):
    # docs/training.md: a resume may change the result's --chunk-size and --layout; the codes stay exact.
    whole = distill_latents(tiny_setup(out=str(tmp_path / "whole")))
    distill_latents(tiny_setup(out=str(tmp_path / "part"), iterations=2))
    part = distill_latents(tiny_setup(out=str(tmp_path / "part"), chunk_size=2, layout="class_rows"), resume=True)
    learned, started = Generator.from_pretrained(part), Generator.from_pretrained(whole)
    assert torch.equal(started.latents, learned.latents)
    assert (learned.sampling.chunk_size, learned.sampling.layout) == (2, "class_rows")
    assert (started.sampling.chunk_size, started.sampling.layout) != (2, "class_rows")


def test_a_checkpoint_of_the_older_pool_format_resumes_exactly(tiny_setup, tmp_path):
    # Before the two trainers shared one pool, the latent pool saved its networks' ages in SGD steps.
    from distilled_datasets.training.common.checkpoint import load_checkpoint, save_checkpoint

    settings = dict(pool=2, pool_life=3, pool_steps=2)
    whole = distill_latents(tiny_setup(out=str(tmp_path / "whole"), **settings))
    part = distill_latents(tiny_setup(out=str(tmp_path / "part"), iterations=2, **settings))
    path = part / "checkpoints" / "latents.safetensors"
    state = load_checkpoint(path)
    pool = state["pool"]
    state["pool"] = {"ages": [d * 2 for d in pool["draws"]], "nets": pool["nets"], "optimizers": pool["optimizers"]}
    save_checkpoint(state, path)
    part = distill_latents(tiny_setup(out=str(tmp_path / "part"), **settings), resume=True)
    assert torch.equal(Generator.from_pretrained(whole).latents, Generator.from_pretrained(part).latents)


def test_folder_rules(tiny_setup, tmp_path, capsys):
    out = distill_latents(tiny_setup(iterations=2))
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(FileExistsError, match="--resume .* --overwrite"):
        distill_latents(tiny_setup(iterations=2))
    with pytest.raises(ValueError, match="lr"):
        distill_latents(tiny_setup(iterations=3, lr=0.5), resume=True)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # refused: nothing touched
    (out / "notes.txt").write_text("mine")
    distill_latents(tiny_setup(iterations=2, lr=0.5), overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"  # --overwrite replaces the run's own files only
    code = cli_main(["distill-latents", "--generator", tiny_setup().generator, "--out", str(tmp_path / "missing"),
                     "--resume"])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_gradient_matching_loss_is_zero_on_real_images_and_reaches_the_codes():
    from distilled_datasets.training.generative.latent_distillation import gradient_matching_loss

    torch.manual_seed(0)
    # A linear classifier: every row of its weight gradient is non-zero (no dead units), so the
    # distance of identical gradients is exactly 0.
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 2))
    for p in net.parameters():
        p.requires_grad_(False)
    real = [torch.randn(3, 1, 28, 28), torch.randn(3, 1, 28, 28)]
    same = torch.stack(real)  # the synthetic set *is* the real batch: identical gradients
    assert gradient_matching_loss(net, real, same, (3,), None, [0, 0]).item() == pytest.approx(0, abs=1e-4)
    synthetic = torch.randn(2, 3, 1, 28, 28, requires_grad=True)
    loss = gradient_matching_loss(net, real, synthetic, (1, 3), None, [0, 0])
    loss.backward()
    assert loss.item() > 0 and synthetic.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in net.parameters())  # the network is left frozen


def test_bad_code_layer_and_seed_are_refused_by_name(tiny_setup, capsys):
    with pytest.raises(UsageError, match=r"code_layer \(--code-layer\) must be one of \('noise', 'stem', 'up1'\)"):
        tiny_setup(code_layer="deep").validate()
    with pytest.raises(UsageError, match=r"seed \(--seed\) must be >= 0"):
        tiny_setup(seed=-1).validate()
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage error
        cli_main(["distill-latents", "--generator", tiny_setup().generator, "--seed", "-1"])
    assert exit_info.value.code == 2 and f"--seed: expected an integer from 0 to {2**63 - 1}" in capsys.readouterr().err


def test_unknown_match_layers_are_refused_before_an_overwrite_puts_the_run_aside(tiny_setup, tmp_path, capsys):
    """Regression: --match-layers bogus --overwrite failed at the first step, after the previous run
    was discarded, leaving a folder of a config and a log."""
    with pytest.raises(UsageError, match=r"match_layers \(--match-layers\) \['bogus'\] are not stages of lenet; "
                                         r"valid values: \[.*'embed'\]"):
        tiny_setup(match_layers=("embed", "bogus")).validate()
    tiny_setup(match_layers=("embed",)).validate()
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "model.safetensors").write_bytes(b"the previous run's")
    code = cli_main(["distill-latents", "--generator", tiny_setup().generator, "--out", str(previous), "--overwrite",
                     "--match-layers", "bogus", "--embed-model", "lenet"])
    assert code == 2 and "are not stages of lenet" in capsys.readouterr().err
    assert sorted(p.name for p in previous.iterdir()) == [".lock", "model.safetensors"]  # put back as it was
    assert (previous / "model.safetensors").read_bytes() == b"the previous run's"


@pytest.mark.parametrize("sets, layer, expected", [
    (3, "noise", "seeds 0..2: a learned set each (5 codes per class, in the input noise); later seeds: seeded noise"),
    (1, "stem", "seed 0: a learned set (5 codes per class, in the stem feature map); later seeds: seeded noise"),
])
def test_info_says_which_seeds_hold_learned_sets(make_generator, tmp_path, capsys, sets, layer, expected):
    generator = make_generator("mnist", sampling=SamplingConfig(chunk_size=4, latents=5, latent_sets=sets,
                                                                latent_layer=layer))
    folder = save_repository(generator, tmp_path / "gen")
    assert cli_main(["info", "mnist", "--repo-id", str(folder)]) == 0
    assert f"seeds:         {expected}\n" in capsys.readouterr().out


def test_info_of_a_generator_without_codes_says_every_seed_is_noise(make_generator, tmp_path, capsys):
    folder = save_repository(make_generator("mnist", sampling=SamplingConfig(chunk_size=4)), tmp_path / "gen")
    assert cli_main(["info", "mnist", "--repo-id", str(folder)]) == 0
    assert "seeds:         every seed: seeded noise (no learned sets)\n" in capsys.readouterr().out


def test_a_result_too_big_to_load_is_refused_before_the_first_step(tiny_setup, monkeypatch):
    import distilled_datasets.generator as generator_module

    monkeypatch.setattr(generator_module, "MAX_PASS_ELEMENTS", 200_000)  # the tiny generator's room: about 20 images
    with pytest.raises(UsageError, match="--chunk-size / --layout: one forward pass of this config"):
        LatentDistillation(tiny_setup(chunk_size=64, layout="class_rows"))
    LatentDistillation(tiny_setup(chunk_size=1, layout="per_class"))  # the same run in smaller passes starts


def test_the_result_drops_the_record_of_how_its_source_selected_images(make_generator_dir, tiny_setup):
    source = Generator.from_pretrained(tiny_setup().generator)
    source.metadata["selection"] = {"method": "truncation", "noise_scale": 1.0}
    source.save_pretrained(tiny_setup().generator)
    result = LatentDistillation(tiny_setup()).generator()
    assert "selection" not in result.metadata and result.metadata["dataset"] == "mnist"


def test_distribution_matching_loss_compares_bf16_features_in_float32():
    # Real features alternate 1 and 1 + 2^-7 (both exact in bf16): their mean 1 + 2^-8 is not a bf16
    # number, so only means taken in float32 give the exact loss (2^-8)^2 against all-ones features.
    real = [torch.ones(4, 1, 1, 1)]
    real[0][1::2] += 2 ** -7
    synthetic = torch.ones(1, 2, 1, 1, 1)
    features = lambda x: [x.flatten(1).to(torch.bfloat16)]  # noqa: E731
    loss = distribution_matching_loss(features, real, synthetic, (2,), None, [0])
    assert loss.dtype == torch.float32 and loss.item() == 2.0 ** -16


def test_bf16_matching_records_its_precision_and_resumes_exactly(tiny_setup, tmp_path, capsys):
    settings = dict(pool=2, pool_life=3, precision="bf16")
    fp32 = distill_latents(tiny_setup(out=str(tmp_path / "fp32"), pool=2, pool_life=3))
    whole = distill_latents(tiny_setup(out=str(tmp_path / "whole"), **settings))
    distill_latents(tiny_setup(out=str(tmp_path / "part"), iterations=2, **settings))
    part = distill_latents(tiny_setup(out=str(tmp_path / "part"), **settings), resume=True)
    codes = lambda run: Generator.from_pretrained(run).latents  # noqa: E731
    assert torch.equal(codes(whole), codes(part))
    assert not torch.equal(codes(whole), codes(fp32))  # the networks really ran in bf16
    assert Generator.from_pretrained(whole).metadata["training"]["latents"]["precision"] == "bf16"
    with pytest.raises(ValueError, match="precision"):  # a run keeps its arithmetic
        distill_latents(tiny_setup(out=str(tmp_path / "part"), iterations=5, pool=2, pool_life=3), resume=True)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["distill-latents", "--generator", tiny_setup().generator, "--precision", "fp16"])
    assert exit_info.value.code == 2 and "'fp32', 'bf16'" in capsys.readouterr().err
