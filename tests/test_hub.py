"""Hub paths through the real huggingface_hub client, against the FakeHub of tests/hub_server.py."""

import contextlib
import io
import os
import time

import pytest
import torch
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
from PIL import Image

from distilled_datasets import (
    DistilledFashionMNIST,
    DistilledMNIST,
    Generator,
    GeneratorNotFoundError,
    InvalidGeneratorError,
    push_to_hub,
)

REPO = "org/mnist-gen"


def _local_data(folder, **kwargs):
    return DistilledMNIST(ipc=3, repo_id=folder, **kwargs).data


def _resolve_requests(hub):
    return [(method, path) for method, path in hub.requests if "/resolve/" in path]


def test_download_by_id(hub, mnist_generator_dir, hf_home):
    sha = hub.upload_folder(REPO, mnist_generator_dir)
    ds = DistilledMNIST(ipc=3, repo_id=REPO)
    assert (ds.files.origin, ds.files.location, ds.files.revision) == ("hub", REPO, sha)
    assert ds.files.config_path.startswith(str(hf_home)) and ds.files.weights_path.startswith(str(hf_home))
    assert torch.equal(ds.data, _local_data(mnist_generator_dir))
    assert f"hub:{REPO}@{sha}" in repr(ds)
    # Only config.json and model.safetensors are read: never the card, the samples or anything else.
    files = {path.rsplit("/", 1)[-1] for _, path in _resolve_requests(hub)}
    assert files == {"config.json", "model.safetensors"}
    generator = Generator.from_pretrained(REPO)
    assert generator.files.revision == sha and generator.config == ds.generator.config


def test_root_is_the_cache_dir(hub, mnist_generator_dir, tmp_path, hf_home):
    hub.upload_folder(REPO, mnist_generator_dir)
    root = tmp_path / "data"
    ds = DistilledMNIST(root, ipc=3, repo_id=REPO)
    assert ds.files.config_path.startswith(str(root / "models--org--mnist-gen"))
    assert torch.equal(ds.data, _local_data(mnist_generator_dir))
    assert not hf_home.exists() or not any(hf_home.glob("models--*"))  # the default cache was not touched


def test_pinned_revision(hub, make_generator_dir):
    old_dir, new_dir = make_generator_dir(weights_seed=0), make_generator_dir(weights_seed=1)
    first = hub.upload_folder(REPO, old_dir, message="first weights")
    second = hub.upload_folder(REPO, new_dir, message="second weights")
    old, new = _local_data(old_dir), _local_data(new_dir)
    assert not torch.equal(old, new)
    latest = DistilledMNIST(ipc=3, repo_id=REPO)
    assert latest.files.revision == second and torch.equal(latest.data, new)
    pinned = DistilledMNIST(ipc=3, repo_id=REPO, revision=first)
    assert pinned.files.revision == first and torch.equal(pinned.data, old)
    hub.repos[REPO].branches["stable"] = first  # a branch name works as well
    assert torch.equal(DistilledMNIST(ipc=3, repo_id=REPO, revision="stable").data, old)


def test_weights_come_from_the_config_commit(hub, make_generator_dir):
    # Both files are fetched at the commit the config came from, even if main moves in between.
    hub.upload_folder(REPO, make_generator_dir(weights_seed=0))
    ds = DistilledMNIST(ipc=1, repo_id=REPO)
    weights = [path for _, path in _resolve_requests(hub) if path.endswith("model.safetensors")]
    assert weights and all(f"/resolve/{ds.files.revision}/" in path for path in weights)


def test_second_load_offline_from_cache(hub, mnist_generator_dir, go_offline):
    sha = hub.upload_folder(REPO, mnist_generator_dir)
    online = DistilledMNIST(ipc=3, repo_id=REPO)
    pinned = DistilledMNIST(ipc=3, repo_id=REPO, revision=sha)
    asked = len(hub.requests)
    cached = DistilledMNIST(ipc=3, repo_id=REPO, local_files_only=True)
    go_offline()  # HF_HUB_OFFLINE=1
    offline = DistilledMNIST(ipc=3, repo_id=REPO)
    offline_pinned = DistilledMNIST(ipc=3, repo_id=REPO, revision=sha)
    assert len(hub.requests) == asked  # not one request
    for ds in (cached, offline, offline_pinned):
        assert ds.files.revision == sha and torch.equal(ds.data, online.data)
    assert torch.equal(pinned.data, online.data)


def test_offline_without_cache_says_how_to_fix(hub, mnist_generator_dir, go_offline):
    hub.upload_folder(REPO, mnist_generator_dir)
    go_offline()
    with pytest.raises(GeneratorNotFoundError) as err:
        DistilledMNIST(repo_id=REPO)
    message = str(err.value)
    assert "could not fetch config.json" in message and repr(REPO) in message
    assert "HF_HUB_OFFLINE" in message and "cache" in message
    assert f"no local folder {REPO!r} exists" in message  # a mistyped run folder reads as a Hub id too
    assert hub.requests == []
    go_offline(False)
    with pytest.raises(GeneratorNotFoundError, match="local_files_only"):
        DistilledMNIST(repo_id=REPO, local_files_only=True)
    assert hub.requests == []


class _NoSleep:
    """Stands for the `time` module in huggingface_hub's retry loop: every wait is skipped."""

    def __init__(self):
        self.waits = []

    def sleep(self, seconds):
        self.waits.append(seconds)

    def __getattr__(self, name):
        return getattr(time, name)


def test_unreachable_hub_says_what_was_tried(monkeypatch):
    # No `hub` fixture: the endpoint is a closed local port (conftest.hf_home). With nothing cached,
    # huggingface_hub retries with back-off (about 23 s of waiting in v2.4): skip the waits.
    from huggingface_hub.utils import _http

    if hasattr(_http, "time"):
        monkeypatch.setattr(_http, "time", _NoSleep())
    with pytest.raises(GeneratorNotFoundError) as err:
        DistilledMNIST(repo_id="org/anything")
    message = str(err.value)
    assert "'org/anything'" in message and "127.0.0.1:9" in message and "HF_ENDPOINT" in message


def test_repo_not_found(hub):
    with pytest.raises(GeneratorNotFoundError) as err:
        DistilledMNIST(repo_id="org/missing")
    message = str(err.value)
    assert "'org/missing'" in message and "not found" in message and hub.url in message
    assert "check the id" in message and "HF_TOKEN" in message
    assert isinstance(err.value.__cause__, RepositoryNotFoundError)


def test_revision_not_found(hub, mnist_generator_dir):
    hub.upload_folder(REPO, mnist_generator_dir)
    with pytest.raises(GeneratorNotFoundError) as err:
        DistilledMNIST(repo_id=REPO, revision="v9")
    message = str(err.value)
    assert "'v9'" in message and repr(REPO) in message and "revision=None" in message
    assert isinstance(err.value.__cause__, RevisionNotFoundError)


@pytest.mark.parametrize("keep,missing", [("config.json", "model.safetensors"), ("model.safetensors", "config.json")])
def test_file_missing(hub, mnist_generator_dir, keep, missing):
    hub.commit(REPO, {keep: (mnist_generator_dir / keep).read_bytes(),
                      "README.md": (mnist_generator_dir / "README.md").read_bytes()})
    with pytest.raises(GeneratorNotFoundError) as err:
        DistilledMNIST(repo_id=REPO)
    message = str(err.value)
    assert f"{missing} is missing from {REPO!r}" in message and hub.url in message
    assert "push_to_hub" in message


def test_truncated_safetensors(hub, mnist_generator_dir):
    weights = mnist_generator_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    sha = hub.upload_folder(REPO, mnist_generator_dir)
    with pytest.raises(InvalidGeneratorError) as err:
        DistilledMNIST(repo_id=REPO)
    message = str(err.value)
    assert "truncated" in message and f"hub:{REPO}@{sha}" in message
    assert "re-upload" in message and "delete the cached file" in message


def test_mismatched_config(hub, make_generator_dir):
    hub.upload_folder(REPO, make_generator_dir("cifar10"))
    with pytest.raises(InvalidGeneratorError) as err:
        DistilledMNIST(repo_id=REPO)
    message = str(err.value)
    assert f"hub:{REPO}@" in message and "'channels': 3" in message and "'channels': 1" in message
    hub.upload_folder(REPO, make_generator_dir("mnist"))
    with pytest.raises(InvalidGeneratorError, match="trained on 'mnist'"):
        DistilledFashionMNIST(repo_id=REPO)


def test_generator_from_pretrained_arguments(hub, mnist_generator_dir, tmp_path):
    sha = hub.upload_folder(REPO, mnist_generator_dir)
    generator = Generator.from_pretrained(REPO, cache_dir=tmp_path / "cache")
    assert generator.files.config_path.startswith(str(tmp_path / "cache")) and generator.files.revision == sha
    again = Generator.from_pretrained(REPO, revision=sha, cache_dir=tmp_path / "cache", local_files_only=True)
    assert again.files.revision == sha
    with pytest.raises(GeneratorNotFoundError):
        Generator.from_pretrained(REPO, local_files_only=True)  # not in the default cache


def test_push_to_hub_round_trip(hub, make_generator, front_matter, tmp_path):
    generator = make_generator("mnist")
    info = push_to_hub(generator, "org/pushed")
    files = hub.files("org/pushed")
    assert {"config.json", "model.safetensors", "README.md", "samples.png"} <= set(files)
    assert info.oid == hub.repos["org/pushed"].branches["main"]
    assert ("POST", "/api/repos/create") in hub.requests
    assert "Bearer hf_test_token" in hub.auth_headers  # the user's token went along
    # The Hub checked the card's metadata before the upload (some client versions ask twice).
    assert hub.validated_cards and set(hub.validated_cards) == {files["README.md"].decode()}

    loaded = DistilledMNIST(ipc=5, repo_id="org/pushed")
    local = DistilledMNIST(ipc=5, repo_id=generator.save_pretrained(tmp_path / "local"))
    assert loaded.files.revision == info.oid
    assert torch.equal(loaded.data, local.data)

    card = files["README.md"].decode()
    meta = front_matter(card)
    assert meta["library_name"] == "distilled-datasets" and meta["datasets"] == ["ylecun/mnist"]
    assert meta["license"] and "accuracy" in meta["metrics"] and "mnist" in meta["tags"]
    assert 'repo_id="org/pushed"' in card
    samples = Image.open(io.BytesIO(files["samples.png"]))
    assert samples.format == "PNG" and samples.size == (10 * 30 + 2, 10 * 30 + 2)


def test_push_again_branch_and_pinning(hub, make_generator):
    first, second = make_generator(weights_seed=0), make_generator(weights_seed=1)
    sha_first = push_to_hub(first, "org/pushed").oid
    sha_second = push_to_hub(second, "org/pushed", commit_message="retrained", half=True).oid
    sha_dev = push_to_hub(first, "org/pushed", branch="dev", token="hf_other").oid
    assert len({sha_first, sha_second, sha_dev}) == 3
    assert "Bearer hf_other" in hub.auth_headers
    repo = hub.repos["org/pushed"]
    assert (repo.branches["main"], repo.branches["dev"]) == (sha_second, sha_dev)

    main = DistilledMNIST(ipc=2, repo_id="org/pushed")
    old = DistilledMNIST(ipc=2, repo_id="org/pushed", revision=sha_first)
    dev = DistilledMNIST(ipc=2, repo_id="org/pushed", revision="dev")
    assert main.files.revision == sha_second and all(p.dtype == torch.float32 for p in main.generator.parameters())
    assert torch.equal(old.data, dev.data) and not torch.equal(main.data, old.data)


def test_hub_files_never_land_in_the_working_directory(hub, mnist_generator_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hub.upload_folder(REPO, mnist_generator_dir)
    DistilledMNIST(ipc=1, repo_id=REPO)
    assert not [name for name in os.listdir(tmp_path) if name.startswith("models--")]


def test_learned_sets_round_trip_through_the_hub(hub, make_generator, tmp_path):
    from distilled_datasets import SamplingConfig

    generator = make_generator("mnist", sampling=SamplingConfig(chunk_size=4, latents=3, latent_sets=2))
    with torch.no_grad():
        generator.latents.normal_(generator=torch.Generator().manual_seed(0))
    push_to_hub(generator, "org/sets")
    local = generator.save_pretrained(tmp_path / "local")
    for seed in (0, 1, 2):  # both learned sets, and the first seed past them (said once per source)
        said = pytest.warns(UserWarning, match="seed 2 gives seeded noise") if seed == 2 else contextlib.nullcontext()
        with said:
            from_hub = DistilledMNIST(ipc=3, seed=seed, repo_id="org/sets")
            from_folder = DistilledMNIST(ipc=3, seed=seed, repo_id=local, cache=False)  # synthesized, not cached
            assert from_hub.generator.sampling.latent_sets == 2
            assert torch.equal(from_hub.data, from_folder.data)


def test_cli_reads_a_hub_revision_into_its_cache_dir_then_offline(hub, make_generator_dir, tmp_path, go_offline,
                                                                  capsys):
    # README: every runtime command takes --repo-id, --revision, --cache-dir and --local-files-only.
    from safetensors.torch import load_file

    from distilled_datasets.cli import main as cli_main

    old_dir, new_dir = make_generator_dir(weights_seed=0), make_generator_dir(weights_seed=1)
    first = hub.upload_folder(REPO, old_dir)
    hub.upload_folder(REPO, new_dir)
    cache = tmp_path / "cache"

    def export(out, *flags):
        return cli_main(["export", "mnist", "--repo-id", REPO, "--ipc", "3", "--format", "safetensors",
                         "--out", str(tmp_path / out), *flags])

    assert export("a.safetensors", "--revision", first, "--cache-dir", str(cache)) == 0
    assert torch.equal(load_file(tmp_path / "a.safetensors")["images"], _local_data(old_dir))  # not the latest
    assert (cache / "models--org--mnist-gen").is_dir()
    go_offline()
    assert export("b.safetensors", "--revision", first, "--cache-dir", str(cache), "--local-files-only") == 0
    assert torch.equal(load_file(tmp_path / "b.safetensors")["images"], _local_data(old_dir))
    capsys.readouterr()
    assert export("c.safetensors", "--local-files-only", "--cache-dir", str(tmp_path / "empty")) == 2
    assert "not in the cache" in capsys.readouterr().err and not (tmp_path / "c.safetensors").exists()
