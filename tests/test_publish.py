"""`publish`: measured metrics only, matched to the published weights; folder and Hub targets."""

from __future__ import annotations

import json

import pytest
import torch

from distilled_datasets import DistilledMNIST
from distilled_datasets.cli import main as cli_main
from distilled_datasets.training.publishing.publish_generator import (PublishOptions, metric_rows, publish,
                                                                       sha256_file)


def _result(path, sha, *, method="global+local", reduced=False, complete=True, dataset="mnist", kind=None):
    """A consistent evaluation record: 4 runs of 400 test images, 91.25 +- 0.50 %."""
    runs = [{"run": r, "seed": r, "correct": c, "test_images": 400, "accuracy": 100 * c / 400}
            for r, c in enumerate([363, 363, 367, 367])]
    record = {
        "format": "distilled-datasets/evaluation", "method": method, "dataset": dataset, "ipc": 10,
        "model": "convnet3", "complete": complete,
        "protocol": {"name": "fixed", "epochs": 300 if reduced else 1000, "reduced": reduced,
                     "reduced_reasons": ["epochs 300 < 1000"] if reduced else []},
        "source": {"kind": kind or "dataset", "weights_sha256": sha} if sha else {"kind": kind or "random-real"},
        "seeds": [0, 1, 2, 3], "runs": runs if complete else runs[:2],
        "accuracy": {"mean": 91.25, "std": 0.5, "n": 4} if complete else {"mean": 90.75, "std": 0.0, "n": 2},
    }
    path.write_text(json.dumps(record))
    return path


def test_edited_records_baselines_of_other_datasets_and_unpinned_results_are_refused(mnist_generator_dir,
                                                                                      tmp_path):
    sha = sha256_file(mnist_generator_dir / "model.safetensors")
    edited = json.loads(_result(tmp_path / "edited.json", sha).read_text())
    edited["accuracy"]["mean"] = 99.9  # a number typed in, not what the runs give
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    with pytest.raises(ValueError, match="accuracy.mean is 99.9, its runs give 91.2500"):
        metric_rows([tmp_path / "edited.json"], sha, dataset="mnist")
    fashion = _result(tmp_path / "fashion.json", None, method="random real", dataset="fashion_mnist")
    with pytest.raises(ValueError, match="measures fashion_mnist, not mnist"):
        metric_rows([fashion], sha, dataset="mnist")
    unpinned = _result(tmp_path / "unpinned.json", None, kind="dataset")
    with pytest.raises(ValueError, match="names no weights_sha256"):
        metric_rows([unpinned], sha, dataset="mnist")
    rows = metric_rows([_result(tmp_path / "ok.json", sha)], sha, dataset="mnist")
    assert rows[0]["dataset"] == "mnist" and rows[0]["mean"] == 91.25
    # Regression: an evaluation at noise_scale 1.0 was shown on the card of the same weights after
    # `select --noise-scale 0.7` (sampling changed, weights byte-identical).
    resampled = json.loads(_result(tmp_path / "resampled.json", sha).read_text())
    resampled["source"]["generator_sampling"] = {"noise_scale": 1.0, "chunk_size": 10}
    (tmp_path / "resampled.json").write_text(json.dumps(resampled))
    with pytest.raises(ValueError, match=r"another sampling of these weights \(noise_scale differ"):
        metric_rows([tmp_path / "resampled.json"], sha, dataset="mnist",
                    sampling={"noise_scale": 0.7, "chunk_size": 10})
    assert metric_rows([tmp_path / "resampled.json"], sha, dataset="mnist",
                       sampling={"noise_scale": 1.0, "chunk_size": 10})[0]["mean"] == 91.25


def test_publish_to_folder_puts_measured_rows_in_card_and_config(mnist_generator_dir, tmp_path, front_matter):
    out = tmp_path / "published"
    # First publish without results, then evaluate *that* folder (here: fake results that pin its hash).
    publish(mnist_generator_dir, PublishOptions(out=out, half=True))
    sha = sha256_file(out / "model.safetensors")
    ours = _result(tmp_path / "ours.json", sha, reduced=True)
    baseline = _result(tmp_path / "random.json", None, method="random real")
    publish(out, PublishOptions(out=out, half=True, results=(ours, baseline), package_default=True, overwrite=True))
    assert sha256_file(out / "model.safetensors") == sha  # re-publishing fp16 weights is exact
    card = (out / "README.md").read_text()
    assert front_matter(card)["library_name"] == "distilled-datasets"
    assert "91.25 +- 0.50" in card and "REDUCED" in card and "random real (baseline)" in card
    assert "DistilledMNIST(ipc=10, seed=0)" in card
    config = json.loads((out / "config.json").read_text())
    assert sorted(row["method"] for row in config["metrics"]) == ["global+local", "random real (baseline)"]
    assert (out / "samples.png").is_file()
    assert DistilledMNIST(repo_id=str(out), ipc=1)[0][0].size == (28, 28)


def test_results_on_other_weights_or_unfinished_are_refused(mnist_generator_dir, tmp_path):
    other = _result(tmp_path / "other.json", "0" * 64)
    with pytest.raises(ValueError, match="not on the weights being published"):
        publish(mnist_generator_dir, PublishOptions(out=tmp_path / "x", results=(other,)))
    assert not (tmp_path / "x").exists()  # nothing half-written
    sha = sha256_file(mnist_generator_dir / "model.safetensors")
    unfinished = _result(tmp_path / "unfinished.json", sha, complete=False)
    with pytest.raises(ValueError, match="unfinished"):
        metric_rows([unfinished], sha)
    with pytest.raises(ValueError, match="repo_id"):
        publish(mnist_generator_dir, PublishOptions())


def test_publish_command_pushes_to_the_hub(hub, mnist_generator_dir, tmp_path, front_matter):
    sha = sha256_file(mnist_generator_dir / "model.safetensors")
    result = _result(tmp_path / "r.json", sha)
    code = cli_main(["publish", str(mnist_generator_dir), "--repo-id", "org/mnist-gl", "--results", str(result)])
    assert code == 0
    files = hub.files("org/mnist-gl")
    assert {"config.json", "model.safetensors", "README.md", "samples.png"} <= set(files)
    card = files["README.md"].decode()
    assert 'repo_id="org/mnist-gl"' in card and "91.25 +- 0.50" in card
    assert front_matter(card)["license"] == "mit"
    pushed = DistilledMNIST(repo_id="org/mnist-gl", ipc=2)
    local = DistilledMNIST(repo_id=str(mnist_generator_dir), ipc=2)
    assert torch.equal(pushed.data, local.data)


def test_notes_appear_in_the_card_under_the_measured_table(make_generator_dir, tmp_path):
    from distilled_datasets.training.publishing.publish_generator import PublishOptions, publish

    out = publish(make_generator_dir("mnist"), PublishOptions(out=tmp_path / "published",
                                                               notes="Trained on a CPU, briefly."))
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.index("Trained on a CPU, briefly.") > card.index("## Measured accuracy")


def test_card_table_names_the_whole_training_set_row():
    from distilled_datasets.model_card import metrics_table

    table = metrics_table([{"method": "whole training set (baseline)", "protocol": "fixed", "model": "convnet3",
                            "ipc": None, "mean": 89.82, "std": 0.0, "runs": 1, "result": "x.json"},
                           {"method": "random real (baseline)", "protocol": "fixed", "model": "convnet3",
                            "ipc": 10, "mean": 76.25, "std": 0.85, "runs": 5, "result": "y.json"}])
    assert "| convnet3 | whole set | 89.82 +- 0.00 |" in table and "None" not in table
    assert "| convnet3 | 10 | 76.25 +- 0.85 | 5 |" in table


def test_card_table_leads_with_the_headline_network_by_ipc_the_set_before_its_baseline():
    from distilled_datasets.model_card import metrics_table

    def row(method, model, ipc):
        return {"method": method, "protocol": "fixed", "model": model, "ipc": ipc, "mean": 1.0, "runs": 1,
                "result": f"{method}-{model}-{ipc}.json"}

    rows = [row("random real (baseline)", "alexnet", 10), row("learned latents", "alexnet", 10),
            row("whole training set (baseline)", "convnet3", None), row("random real (baseline)", "convnet3", 10),
            row("learned latents", "convnet3", 10), row("learned latents", "convnet3", 1)]
    files = [line.rsplit("|", 2)[1].strip() for line in metrics_table(rows).splitlines()[2:]]
    assert files == ["learned latents-convnet3-1.json", "learned latents-convnet3-10.json",
                     "random real (baseline)-convnet3-10.json", "whole training set (baseline)-convnet3-None.json",
                     "learned latents-alexnet-10.json", "random real (baseline)-alexnet-10.json"]


def test_card_recipe_lists_plain_values_and_folds_nested_ones_as_json():
    import json
    import re

    from distilled_datasets.model_card import training_text

    recipe = {"method": "latent distribution matching", "iterations": 1800,
              "latents": {"lr": 0.05, "match_layers": ["embed"]}, "sets": [{"seed": 0}, {"seed": 1}]}
    text = training_text(recipe)
    assert '- `method`: "latent distribution matching"\n- `iterations`: 1800' in text
    folded = re.findall(r"<summary><code>(\w+)</code></summary>\n\n```json\n(.*?)\n```\n\n</details>", text, re.S)
    assert [(key, json.loads(body)) for key, body in folded] == [("latents", recipe["latents"]),
                                                                  ("sets", recipe["sets"])]
    assert training_text({}) == "Not recorded."


def test_a_push_that_cannot_happen_is_one_line_naming_the_fix(mnist_generator_dir, monkeypatch, hf_home, capsys):
    from conftest import set_hf_constants

    code = cli_main(["publish", str(mnist_generator_dir), "--repo-id", "not/a/valid"])
    err = capsys.readouterr().err
    assert code == 2 and "--repo-id 'not/a/valid' is not a Hub repository id like ORG/NAME" in err
    assert err.count("\n") == 1
    set_hf_constants(monkeypatch, ENDPOINT="http://127.0.0.1:9")  # nothing listens there: the Hub is unreachable
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    code = cli_main(["publish", str(mnist_generator_dir), "--repo-id", "org/name"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: could not reach the Hub to push org/name") and err.count("\n") == 1


def test_a_saved_copy_of_a_shipped_default_is_not_marked_as_shipped(tmp_path):
    """Regression: save_repository of a loaded default kept package_default, so the copy's card told users
    to load it without repo_id (which loads the shipped default, not the copy)."""
    import json

    from distilled_datasets import DistilledMNIST, save_repository

    folder = save_repository(DistilledMNIST(ipc=1).generator, tmp_path / "copy", samples=False)
    assert "package_default" not in json.loads((folder / "config.json").read_text())
    card = (folder / "README.md").read_text()
    assert 'repo_id="path/to/this/folder"' in card and "ships with the package" not in card
