"""Deployment-time herding selection: the herding rule, the config, the weights format, and the
`select` command end to end on tiny data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distilled_datasets import DistilledMNIST, Generator, InvalidGeneratorError, SamplingConfig
from distilled_datasets.errors import UsageError
from distilled_datasets.herding import herd
from distilled_datasets.synthesis import chunk_noise, synthesize_chunk, to_uint8
from distilled_datasets.training.selection.selector_fit import attach_selector, fit_selector

SELECTOR = {"width": 2, "feature_dim": 4}


def test_herding_takes_the_closest_point_first_then_balances_the_mean():
    features = torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.8, 1.8], [0.9, 1.1]])
    order = herd(features, torch.tensor([1.0, 1.0]), 3)
    assert order[0] == 1  # closest to the target alone
    assert order[1] == 3  # keeps the running mean on the target
    # Third: the mean of (1,1), (0.9,1.1) and x nearest (1,1): with (1.8,1.8) it is 0.38 away, with (0,0)
    # 0.47 (and never a candidate taken twice).
    assert order.tolist() == [1, 3, 2]
    with pytest.raises(ValueError, match="cannot keep 5 of 4"):
        herd(features, torch.zeros(2), 5)


@pytest.mark.parametrize("kwargs, message", [
    ({"candidates": 0}, "candidates must be an int in 1..64"),
    ({"candidates": True}, "candidates must be an int in 1..64"),
    ({"candidates": 1000}, "candidates must be an int in 1..64"),
    ({"candidates": 2}, "needs a 'selector' object"),
    ({"candidates": 2, "selector": {"depth": 3}}, "keys must be among"),
    ({"candidates": 2, "selector": {"width": 0}}, "selector\\['width'\\] must be an int in 1..4096"),
    ({"selector": {"width": 2}}, "candidates is 1"),
])
def test_bad_selection_config_is_refused(kwargs, message):
    with pytest.raises(InvalidGeneratorError, match=message):
        SamplingConfig(**kwargs)


def selecting_generator(make_generator, candidates=4) -> Generator:
    base = make_generator("mnist")
    torch.manual_seed(1)
    images = torch.rand(40, 1, 28, 28) * 2 - 1
    labels = torch.arange(40) % 10
    selector = fit_selector(images, labels, 10, SELECTOR, epochs=1, batch_size=8)
    return attach_selector(base, selector, candidates)


def test_a_selected_chunk_is_the_herded_subset_of_its_candidates(make_generator):
    generator = selecting_generator(make_generator)
    chunk = synthesize_chunk(generator, seed=3, label=7, chunk=0)
    assert chunk.shape == (generator.sampling.chunk_size, 28, 28)
    # Recompute by hand: all candidates, their features, herding to the class mean.
    with torch.no_grad():
        noise = chunk_noise(generator, 3, 7, 0)
        candidates = to_uint8(generator(noise, torch.full((len(noise),), 7)))
        features = generator.selector(torch.from_numpy(candidates).float().div(127.5).sub(1)[:, None])
    assert len(candidates) == 4 * generator.sampling.chunk_size
    expected = candidates[herd(features, generator.selector.class_means[7], generator.sampling.chunk_size).numpy()]
    np.testing.assert_array_equal(chunk, expected)


def test_selection_survives_save_and_load_and_changes_the_images(make_generator, tmp_path):
    generator = selecting_generator(make_generator)
    generator.save_pretrained(tmp_path / "selected")
    config = json.loads((tmp_path / "selected" / "config.json").read_text())
    assert config["sampling"]["candidates"] == 4 and config["sampling"]["selector"] == SELECTOR
    loaded = DistilledMNIST(repo_id=str(tmp_path / "selected"), ipc=3, seed=0)
    saved, restored = generator.selector.state_dict(), loaded.generator.selector.state_dict()
    assert saved.keys() == restored.keys() and all(torch.equal(saved[k], restored[k]) for k in saved)
    # The loaded images are the in-memory generator's own selections (sample k of class c at k * 10 + c).
    for c in (0, 7):
        expected = synthesize_chunk(generator, seed=0, label=c, chunk=0)[:3]
        np.testing.assert_array_equal(loaded.data.numpy()[[k * 10 + c for k in range(3)]], expected)
    make_generator("mnist").save_pretrained(tmp_path / "plain")
    plain = DistilledMNIST(repo_id=str(tmp_path / "plain"), ipc=3, seed=0)
    assert not np.array_equal(loaded.data.numpy(), plain.data.numpy())


def test_selector_weights_without_a_selecting_config_are_refused(make_generator, tmp_path):
    selecting_generator(make_generator).save_pretrained(tmp_path / "g")
    config_path = tmp_path / "g" / "config.json"
    config = json.loads(config_path.read_text())
    config["sampling"] = {"chunk_size": 16, "noise_scale": 1.0}
    config_path.write_text(json.dumps(config))
    with pytest.raises(InvalidGeneratorError, match=r"unexpected keys \['selector\."):
        Generator.from_pretrained(tmp_path / "g")


def test_select_command_end_to_end(make_generator, make_mnist_root, tmp_path, capsys):
    from distilled_datasets.cli import main

    root = make_mnist_root(tmp_path / "data", n=60, seed=2)
    make_generator("mnist").save_pretrained(tmp_path / "run")
    assert main(["select", str(tmp_path / "run"), "--out", str(tmp_path / "sel"), "--dataset", "mnist",
                 "--data-root", str(root), "--candidates", "3", "--selector-width", "2",
                 "--selector-feature-dim", "4", "--epochs", "1"]) == 0
    assert "keeps 1 in 3" in capsys.readouterr().out
    generator = Generator.from_pretrained(tmp_path / "sel")
    assert generator.sampling.candidates == 3
    assert generator.metadata["selection"]["method"] == "herding"
    image, label = DistilledMNIST(repo_id=str(tmp_path / "sel"), ipc=2)[5]
    assert image.size == (28, 28) and label == 5
    assert main(["select", str(tmp_path / "run"), "--out", str(tmp_path / "x"), "--dataset", "mnist",
                 "--data-root", str(root), "--candidates", "1"]) == 2
    assert "nothing to select" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # Truncation alone: no selector, the noise scaled.
    assert main(["select", str(tmp_path / "run"), "--out", str(tmp_path / "trunc"), "--dataset", "mnist",
                 "--candidates", "1", "--noise-scale", "0.5"]) == 0
    truncated = Generator.from_pretrained(tmp_path / "trunc")
    assert truncated.selector is None and truncated.sampling.noise_scale == 0.5
    assert truncated.metadata["selection"] == {"method": "truncation", "noise_scale": 0.5}


@pytest.mark.parametrize("flags, message", [
    (["--candidates", "0"], "expected a positive integer"),
    (["--selector-width", "0"], "expected a positive integer"),
    (["--selector-feature-dim", "x"], "expected a positive integer"),
    (["--epochs", "0"], "expected a positive integer"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'; valid values"),
])
def test_select_command_refuses_bad_values_before_any_work(make_generator, tmp_path, capsys, flags, message):
    from distilled_datasets.cli import main

    make_generator("mnist").save_pretrained(tmp_path / "run")
    base = ["select", str(tmp_path / "run"), "--out", str(tmp_path / "out"), "--dataset", "mnist",
            "--data-root", str(tmp_path / "no-data")]
    with pytest.raises(SystemExit) as exited:
        main(base + flags)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_select_checks_selector_arguments_before_reading_data(make_generator, tmp_path):
    from distilled_datasets.training.selection.selector_fit import SelectConfig, fit_selection

    make_generator("mnist").save_pretrained(tmp_path / "run")
    # The data root does not exist: the argument error must come first.
    with pytest.raises(UsageError, match="selector_width must be >= 1"):  # the user's flags: exit code 2
        fit_selection(tmp_path / "run", SelectConfig(out="x", dataset="mnist", data_root=str(tmp_path / "no-data"),
                                                     candidates=4, selector_width=0))
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        fit_selection(tmp_path / "run", SelectConfig(out="x", dataset="mnist", data_root=str(tmp_path / "no-data"),
                                                     candidates=4, epochs=0))


def test_kcenter_and_mix_orders():
    from distilled_datasets.herding import select

    features = torch.tensor([[0.0], [1.0], [10.0], [-10.0], [5.0]])
    target = torch.tensor([0.5])
    # k-center: nearest to the class mean first, then always the farthest from every pick (ties: first).
    assert select("kcenter", features, target, 4).tolist() == [0, 2, 3, 4]
    # herding: the running mean stays near 0.5.
    assert select("herding", features, target, 2).tolist() == [0, 1]
    # mix: herding at even positions, k-center at odd ones.
    assert select("mix", features, target, 3).tolist() == [0, 2, 3]
    with pytest.raises(ValueError, match="selection method must be one of"):
        select("random", features, target, 2)


def test_selection_method_travels_in_the_config(make_generator, tmp_path):
    from distilled_datasets import Generator, SamplingConfig

    sampling = SamplingConfig(candidates=2, selector={"width": 4, "feature_dim": 8}, selection="kcenter")
    generator = make_generator("mnist", sampling=sampling)
    folder = generator.save_pretrained(tmp_path / "g")
    assert Generator.from_pretrained(folder).sampling.selection == "kcenter"
    with pytest.raises(ValueError, match="selection must be one of"):
        SamplingConfig(candidates=2, selector={}, selection="best")


def test_truncation_of_a_latent_code_generator_keeps_its_codes_and_drops_what_no_longer_holds(make_generator,
                                                                                              tmp_path, capsys):
    """Regression: `select` rebuilt the sampling field by field and copied only the network, so the
    learned codes (the distilled set itself) were lost, and the result still claimed to ship with
    the package."""
    from distilled_datasets import save_repository
    from distilled_datasets.cli import main as cli_main

    source = make_generator("mnist", sampling=SamplingConfig(chunk_size=2, latents=3),
                            metadata={"package_default": True, "metrics": [{"method": "m", "ipc": 3, "mean": 50.0}]})
    with torch.no_grad():
        source.latents.normal_(generator=torch.Generator().manual_seed(5))
    save_repository(source, tmp_path / "codes")
    code = cli_main(["select", str(tmp_path / "codes"), "--out", str(tmp_path / "truncated"), "--dataset", "mnist",
                     "--candidates", "1", "--noise-scale", "0.5"])
    assert code == 0, capsys.readouterr().err
    before = DistilledMNIST(ipc=3, repo_id=tmp_path / "codes", cache=False)
    after = DistilledMNIST(ipc=3, repo_id=tmp_path / "truncated", cache=False)
    assert torch.equal(after.data, before.data)  # samples 0..2 are the codes: untouched by truncation
    assert not torch.equal(DistilledMNIST(ipc=4, repo_id=tmp_path / "truncated", cache=False).data[30:],
                           DistilledMNIST(ipc=4, repo_id=tmp_path / "codes", cache=False).data[30:])
    config = json.loads((tmp_path / "truncated" / "config.json").read_text())
    assert config["sampling"]["latents"] == 3 and "package_default" not in config and "metrics" not in config
    assert 'repo_id="path/to/this/folder"' in (tmp_path / "truncated" / "README.md").read_text()
    # Candidates on top of codes do not combine: refused with the reason, before any data is read.
    code = cli_main(["select", str(tmp_path / "codes"), "--out", str(tmp_path / "herded"), "--dataset", "mnist",
                     "--candidates", "4", "--data-root", str(tmp_path / "nowhere")])
    assert code == 2 and "latents and candidates" in capsys.readouterr().err


def test_select_refuses_candidates_whose_passes_could_not_be_loaded_before_reading_data(make_generator, tmp_path,
                                                                                       monkeypatch):
    import distilled_datasets.generator as generator_module
    from distilled_datasets.training.selection.selector_fit import SelectConfig, fit_selection

    make_generator("mnist").save_pretrained(tmp_path / "run")
    monkeypatch.setattr(generator_module, "MAX_PASS_ELEMENTS", 200_000)
    with pytest.raises(UsageError, match="--candidates 64: one forward pass of this config"):
        fit_selection(tmp_path / "run", SelectConfig(out="x", dataset="mnist", data_root=str(tmp_path / "no-data"),
                                                     candidates=64))
