"""Latent distillation: learn the latent codes that a trained generator turns into its distilled set.

A generator sampled at random noise gives images about as useful as a random real subset: every
sample is typical, none is chosen for what the *set* teaches. Here the first K samples of each
class get learned latent codes z[c, k] (stored with the weights, ``sampling.latents = K``), and
those codes are optimised so that every deployment prefix of the set -- the first P images per
class, for P in ``prefixes`` (1, 10, 50) -- matches the real data where a classifier looks:

    loss = sum_P sum_c || mean_i phi(A(x_real[c, i])) - mean_{k<P} phi(A(G(z[c, k], c))) ||^2

with phi the penultimate features of a network drawn every step (freshly initialised, or from a
pool of networks trained a little on real data) and A Siamese DSA augmentation. This is
distribution matching (Zhao & Bilen, 2023) in the generator's latent space (as GLaD does with
other losses): the generator keeps every image on its learned manifold of realistic images, and
the optimisation picks the images that cover each class. The set stays a drop-in: integer
labels, uint8 images (later samples come from seeded noise as before).

Before the first step the codes are the generator's own noise of ``--seed`` s, so iteration 0 is
exactly the raw generator's set of seed s, and runs of different seeds learn different sets (their
own starts, networks, batches and augmentations). The result folder is a generator folder like any
other, holding one set; benchmarks/latent_sets.py joins the sets of seeds 0..S-1 into one
generator whose seed s gives set s.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from distilled_datasets import Generator
from distilled_datasets.config import LATENT_LAYERS, LAYOUTS, SamplingConfig
from distilled_datasets.dataset_info import IMAGE_FOLDER, IMAGE_FOLDER_PREFIX
from distilled_datasets.errors import DamagedFileError, InvalidGeneratorError, MissingFileError, UsageError
from distilled_datasets.files import atomic_write_json, read_json
from distilled_datasets.repository import save_repository
from distilled_datasets.synthesis import seeded_noise
from distilled_datasets.validation import (check_int, check_known_keys, check_number, check_positive_int,
                                           non_negative_int)

from ..common.augment import DSA
from ..common.config_flags import check_bounds, named
from ..common.model_zoo import build_model, list_models
from ..common.provenance import resolve_device
from ..common.real_data import (class_indices, default_data_root, describe_real_data, generator_to_normalized,
                                get_dataset_info, load_tensors)
from ..common.distributed import Distributed
from ..common.image_folder import register_for_generator
from ..common.network_pool import NetworkPool
from ..common.training_run import RunLayout, TrainingRun, launch

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoints/latents.safetensors"
CONFIG_FILE = "latent_config.json"


LOSSES = ("distribution", "gradient")
PRECISIONS = ("fp32", "bf16")


def _prefixes(values) -> Tuple[int, ...]:
    return tuple(sorted({int(v) for v in values}))


@dataclass
class LatentConfig:
    """Every field is a flag of ``distilled-datasets distill-latents``."""

    generator: str = field(default="", metadata={"help": "the generator folder (a run directory, a published "
                                                         "folder) or Hub id whose latents are learned"})
    out: str = field(default="runs/latents", metadata={"help": "the new generator folder"})
    dataset: str = field(default="mnist", metadata={"help": "the real dataset matched: mnist, fashion_mnist, cifar10, "
                                                            "or imagefolder (the generator's own folder, --data-root)"})
    data_root: Optional[str] = field(default=None, metadata={
        "help": "the real data: torchvision's files, or an image folder ROOT/train/<class>/... "
                "(None: $DISTILLED_DATASETS_DATA, else ./data)"})
    latents: int = field(default=50, metadata={"help": "learned codes per class (samples 0..K-1 of each class)"})
    code_layer: str = field(default="noise", metadata={
        "help": "where the codes enter the generator: noise (in place of its input) or a feature map of it (stem, "
                "up1: more numbers per image, more expressive; GLaD's deeper latent spaces)",
        "choices": LATENT_LAYERS})
    prefixes: Tuple[int, ...] = field(default=(1, 10, 50), metadata={
        "help": "deployment sizes matched: each first-P-per-class prefix of the set", "type": int,
        "parse": _prefixes})
    iterations: int = field(default=1000, metadata={"help": "optimisation steps"})
    lr: float = field(default=0.05, metadata={"help": "Adam rate of the latent codes"})
    real_per_class: int = field(default=64, metadata={"help": "real images per class in each step's class means"})
    embed_model: str = field(default="convnet3", metadata={"help": "network whose features are matched",
                                                           "choices": list_models()})
    match_layers: Tuple[str, ...] = field(default=("embed",), metadata={
        "help": "features matched: 'embed' (penultimate, DM) and/or stage names of embed_model (local detail, e.g. "
                "block1 block2 of convnet3)"})
    nets_per_step: int = field(default=1, metadata={"help": "networks drawn (and losses averaged) per step"})
    loss: str = field(default="distribution", metadata={
        "help": "distribution: class means of features (DM); gradient: gradients of the classification loss (DC)",
        "choices": LOSSES})
    lr_generator: float = field(default=0.0, metadata={
        "help": "Adam rate of the generator's weights, learned with the codes (0: the generator stays as trained, so "
                "samples beyond the codes are the source generator's)"})
    pool: int = field(default=0, metadata={
        "help": "0: a freshly initialised network every step (DM); N: a pool of N networks trained online on real "
                "batches, re-initialised after pool_life steps (networks at many stages of training)"})
    pool_steps: int = field(default=1, metadata={"help": "SGD steps on real data per draw of a pool network"})
    pool_life: int = field(default=100, metadata={"help": "SGD steps of a pool network before it is re-initialised"})
    pool_lr: float = field(default=0.01, metadata={"help": "SGD rate of the pool networks"})
    dsa: bool = field(default=True, metadata={"help": "Siamese DSA augmentation of both sides"})
    precision: str = field(default="fp32", metadata={
        "help": "arithmetic of the networks matched through (their forward passes and online steps): fp32, or bf16 "
                "autocast (faster on a CPU with AVX512-BF16, as measured by benchmarks/latents_speed.py; measure "
                "other hardware before relying on it); the codes, the generator and the loss stay float32",
        "choices": PRECISIONS})
    chunk_size: Optional[int] = field(default=None, metadata={
        "help": "synthesis chunk of the result (sampling.chunk_size; 1: any ipc costs exactly its images); "
                "None: the source generator's"})
    layout: Optional[str] = field(default=None, metadata={
        "help": "synthesis layout of the result (sampling.layout: class_rows batches every class's chunk in one "
                "pass, per_class one pass per chunk); None: the source generator's", "choices": LAYOUTS})
    seed: int = field(default=0, metadata={
        "help": "the set learned: its start (the generator's noise of this seed, as DistilledX(seed=...) draws it), "
                "networks, batches and augmentations", "type": non_negative_int})
    device: str = field(default="auto", metadata={"help": "auto (CUDA when present), cpu, cuda, cuda:N"})
    checkpoint_every: int = field(default=100, metadata={"help": "iterations between checkpoints (a resume "
                                                                 "starts from the last one)"})
    log_every: int = field(default=50, metadata={"help": "iterations between lines of log.jsonl"})

    def validate(self) -> None:
        check_bounds(self)
        if not self.generator:
            raise UsageError("--generator is required: the folder or Hub id of a trained generator")
        if self.dataset != IMAGE_FOLDER:  # an image folder's facts come from the generator and --data-root
            get_dataset_info(self.dataset)
        for name in ("latents", "iterations", "real_per_class", "pool_steps", "pool_life", "checkpoint_every",
                     "log_every", "nets_per_step"):
            check_positive_int(named(name), getattr(self, name))
        check_int(named("seed"), self.seed, 0)  # a dataset seed: never negative
        check_number(named("lr"), self.lr, 0.0, strict=True)
        check_number(named("pool_lr"), self.pool_lr, 0.0, strict=True)
        check_number(named("lr_generator"), self.lr_generator, 0.0)
        if self.chunk_size is not None:
            check_positive_int(named("chunk_size"), self.chunk_size, 4096)
        if self.code_layer not in LATENT_LAYERS:
            raise UsageError(f"{named('code_layer')} must be one of {LATENT_LAYERS}, got {self.code_layer!r}")
        if self.layout is not None and self.layout not in LAYOUTS:
            raise UsageError(f"{named('layout')} must be one of {LAYOUTS}, got {self.layout!r}")
        if not self.match_layers:
            raise UsageError(f"{named('match_layers')} must name at least one layer ('embed' or stages of embed_model)")
        if self.pool < 0:
            raise UsageError(f"{named('pool')} must be >= 0, got {self.pool}")
        if not self.prefixes or min(self.prefixes) < 1 or max(self.prefixes) > self.latents:
            raise UsageError(f"{named('prefixes')} must be sizes in 1..latents ({self.latents}), got "
                             f"{list(self.prefixes)}")
        if self.loss not in LOSSES:
            raise UsageError(f"{named('loss')} must be one of {LOSSES}, got {self.loss!r}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"{named('precision')} must be one of {PRECISIONS}, got {self.precision!r}")
        if self.embed_model not in list_models():
            raise UsageError(f"{named('embed_model')} must be one of {list_models()}, got {self.embed_model!r}")
        with torch.device("meta"):  # stage names only: nothing allocated, whatever the data's shape
            stages = build_model(self.embed_model, channels=3, num_classes=10, image_size=32).feature_layers
        unknown = [name for name in self.match_layers if name != "embed" and name not in stages]
        if unknown:  # refused here, before an --overwrite puts the previous run aside
            raise UsageError(f"{named('match_layers')} {unknown} are not stages of {self.embed_model}; valid "
                             f"values: {stages + ['embed']}")

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["prefixes"] = list(self.prefixes)
        data["match_layers"] = list(self.match_layers)
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "LatentConfig":
        check_known_keys(data, [f for f in cls.__dataclass_fields__], "latent config")
        return cls(**{**data, "prefixes": _prefixes(data.get("prefixes", cls.prefixes)),
                      "match_layers": tuple(data.get("match_layers", ("embed",)))})


LAYOUT = RunLayout(config_file=CONFIG_FILE, checkpoint=CHECKPOINT,
                   files=(CONFIG_FILE, "checkpoints", "log.jsonl", "config.json", "model.safetensors", "README.md",
                          "samples.png"),
                   may_change_on_resume=("out", "iterations", "data_root", "device", "checkpoint_every", "log_every",
                                         "chunk_size", "layout"))


def distribution_matching_loss(features, real_by_class: List[torch.Tensor], synthetic: torch.Tensor,
                               prefixes: Tuple[int, ...], augment, seeds: List[int]) -> torch.Tensor:
    """sum over prefixes P, classes c and feature layers l of
    mean_d (mean_i phi_l(real_c)_d - mean_{k<P} phi_l(syn_c[k])_d)^2.

    ``features(x)`` returns a list of [B, D_l] features (one layer: DM's penultimate features);
    each layer counts by its mean squared difference, so wide and narrow layers weigh alike.
    ``synthetic``: [classes, K, C, H, W] normalised; ``real_by_class[c]``: [n, C, H, W]. Class c
    uses DSA seed ``seeds[c]`` on both sides (one draw for the whole batch: the same transform).
    """
    total = synthetic.new_zeros(())
    for c, real in enumerate(real_by_class):
        syn = synthetic[c, :max(prefixes)]
        if augment is not None:
            real, syn = augment(real, seed=seeds[c]), augment(syn, seed=seeds[c])
        # Means and differences in float32 whatever the network's arithmetic (bf16 keeps 3 digits,
        # too few for the small differences of class means that the loss is made of).
        with torch.no_grad():
            targets = [f.float().mean(0) for f in features(real)]
        for target, feature in zip(targets, features(syn)):  # feature: [K, D_l]
            feature = feature.float()
            for p in prefixes:
                total = total + (feature[:p].mean(0) - target).pow(2).mean()
    return total


def gradient_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """DC's layer distance: sum over output units of 1 - cos(a_row, b_row) (weights as [out, -1])."""
    a, b = a.flatten(1), b.flatten(1)
    return (1 - torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-6)).sum()


def gradient_matching_loss(net: torch.nn.Module, real_by_class: List[torch.Tensor], synthetic: torch.Tensor,
                           prefixes: Tuple[int, ...], augment, seeds: List[int],
                           labels: Optional[List[int]] = None) -> torch.Tensor:
    """sum over prefixes P and classes c of the distance between the gradients of the classification
    loss on real_c and on syn_c[:P], with respect to ``net``'s weight tensors (gradient matching,
    Zhao et al. 2021, through a drawn network). Differentiable in ``synthetic``. Row c holds class
    ``labels[c]`` (default: c)."""
    params = [p for p in net.parameters() if p.dim() > 1]  # conv and linear weights, as DC matches
    for p in params:
        p.requires_grad_(True)
    loss_fn = torch.nn.functional.cross_entropy
    total = synthetic.new_zeros(())
    for c, real in enumerate(real_by_class):
        syn = synthetic[c, :max(prefixes)]
        if augment is not None:
            real, syn = augment(real, seed=seeds[c]), augment(syn, seed=seeds[c])
        label = c if labels is None else labels[c]
        targets = torch.full((len(real),), label, dtype=torch.long, device=real.device)
        target = [g.detach() for g in torch.autograd.grad(loss_fn(net(real).float(), targets), params)]
        for p in prefixes:
            logits = net(syn[:p]).float()
            grads = torch.autograd.grad(loss_fn(logits, targets[:p]), params, create_graph=True)
            total = total + sum(gradient_distance(g, t) for g, t in zip(grads, target))
    for p in params:
        p.requires_grad_(False)
    return total



class LatentDistillation(TrainingRun):
    """Owns the generator, the codes being learned and the random streams; ``run()`` to the end.

    Under torchrun every rank holds the whole state and draws the same random numbers (batches,
    DSA seeds, networks); rank r synthesizes and matches the classes c with c % world_size == r,
    and the gradients are summed over the ranks, so each step is the step of one process.
    """

    layout = LAYOUT

    def __init__(self, config: LatentConfig, resume: bool = False):
        config.validate()
        if config.data_root is None:
            config.data_root = default_data_root()
        self.config, self.out = config, Path(config.out)
        device = resolve_device(config.device)
        self.dist = Distributed.from_env(device.type)
        self.device = self.dist.device(device)
        self.base = Generator.from_pretrained(config.generator)  # the generator whose codes are learned
        self.spec = (register_for_generator(config.data_root, self.base) if config.dataset == IMAGE_FOLDER
                     else get_dataset_info(config.dataset))
        if self.base.metadata.get("dataset") not in (None, self.spec.name):
            trained_on = self.base.metadata["dataset"]
            fix = f"pass --dataset {IMAGE_FOLDER if trained_on.startswith(IMAGE_FOLDER_PREFIX) else trained_on}"
            raise UsageError(f"{config.generator} is a {trained_on} generator, not {self.spec.name}: {fix}")
        if self.dist.world_size > self.spec.num_classes:
            raise UsageError(f"distill-latents splits the {self.spec.num_classes} classes over the processes: run at "
                             f"most {self.spec.num_classes} of them, not {self.dist.world_size}")
        self.classes = list(range(self.dist.rank, self.spec.num_classes, self.dist.world_size))  # this rank's
        if self.base.sampling.candidates > 1:
            # The learned codes are the selection: the herding selector is dropped from the result.
            logger.info("%s selects 1 in %d candidates; the result keeps its network, not its selector",
                        config.generator, self.base.sampling.candidates)
        try:  # hours before the result is written: a result the package could not load is refused now
            self.base.derive(self.result_sampling()).check_pass_size()
        except InvalidGeneratorError as exc:
            raise UsageError(f"--chunk-size / --layout: {exc}") from None
        # BatchNorm on running statistics, as deployed; its weights learn only with lr_generator > 0.
        self.net = copy.deepcopy(self.base.net).to(self.device).eval()
        for p in self.net.parameters():
            p.requires_grad_(config.lr_generator > 0)
        images, labels = load_tensors(self.spec.name, config.data_root, train=True, device=self.device)
        self.real_by_class = [images[idx] for idx in class_indices(labels, self.spec.num_classes)]
        self.images, self.labels = images, labels
        self.rng = torch.Generator().manual_seed(config.seed)  # CPU: batch picks, DSA seeds, pool draws
        torch.manual_seed(config.seed)  # network initialisations
        self.latents = self._initial_latents().to(self.device).requires_grad_(True)
        groups = [{"params": [self.latents], "lr": config.lr}]
        if config.lr_generator > 0:
            groups.append({"params": list(self.net.parameters()), "lr": config.lr_generator})
        self.optimizer = torch.optim.Adam(groups)
        self.dsa = DSA.for_dataset(self.spec.name, same_for_batch=True) if config.dsa else None
        self.pool = NetworkPool([config.embed_model] * max(config.pool, 1), self._embedding_net,
                                online_steps=config.pool_steps, online_lr=config.pool_lr,
                                life=NetworkPool.life_in_draws(config.pool_life, config.pool_steps),
                                fresh_each_draw=not config.pool)
        self.step = 0
        if resume:
            self.resume_from_checkpoint()
            self.refuse_fewer_steps(config.iterations, "--iterations")

    def _embedding_net(self, name: str) -> torch.nn.Module:
        return build_model(name, self.spec.channels, self.spec.num_classes, self.spec.image_size).to(self.device)

    def _initial_latents(self) -> torch.Tensor:
        """[classes, K, *code shape]: the generator's own deployment noise of seed ``config.seed`` (its
        learned codes ignored), or the feature map it gives at ``code_layer``; so step 0 is the raw set
        of that seed, and each seed starts somewhere else."""
        chunk = self.base.sampling.chunk_size
        rows = []
        for c in range(self.spec.num_classes):
            noise = torch.cat([seeded_noise(self.base, self.config.seed, c, j)
                               for j in range(-(-self.config.latents // chunk))])[:self.config.latents]
            if self.config.code_layer != "noise":
                with torch.no_grad():
                    noise = self.base.net.encode(noise, torch.full((len(noise),), c), self.config.code_layer)
            rows.append(noise)
        return torch.stack(rows)

    def _network_arithmetic(self):
        """bf16 autocast around the networks matched through (--precision bf16), else nothing; the
        generator runs outside it, so the images and the codes' gradients stay float32."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    def _real_per_class(self) -> List[torch.Tensor]:
        """Real images of every class (each rank draws them all, so the random stream stays the same)."""
        n = self.config.real_per_class
        return [real[torch.randint(len(real), (n,), generator=self.rng).to(real.device)] for real in self.real_by_class]

    def _real_batch(self, size: int = 256):
        index = torch.randint(len(self.labels), (size,), generator=self.rng).to(self.labels.device)
        return self.images[index], self.labels[index]

    def synthetic(self, classes: Optional[List[int]] = None) -> torch.Tensor:
        """[len(classes), K, C, H, W] (every class by default) in the normalised space, differentiable
        in the codes."""
        classes = list(range(self.spec.num_classes)) if classes is None else classes
        codes = self.latents[classes]
        k, shape = codes.shape[1], codes.shape[2:]
        labels = torch.tensor(classes, device=self.device).repeat_interleave(k)
        codes = codes.reshape(-1, *shape)
        images = self.net.decode(codes, labels, self.config.code_layer)
        return generator_to_normalized(images, self.spec.name).view(len(classes), k, *images.shape[1:])

    def train_step(self) -> Dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        synthetic = self.synthetic(self.classes)
        total = 0.0
        for _ in range(self.config.nets_per_step):
            with self._network_arithmetic():
                _, net = self.pool.draw(self.rng, self._real_batch, self.dsa)
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)
            seeds = [int(torch.randint(2**31 - 1, (1,), generator=self.rng)) for _ in range(self.spec.num_classes)]
            real = self._real_per_class()
            real, seeds = [real[c] for c in self.classes], [seeds[c] for c in self.classes]
            with self._network_arithmetic():
                if self.config.loss == "gradient":
                    loss = gradient_matching_loss(net, real, synthetic, self.config.prefixes, self.dsa, seeds,
                                                  labels=self.classes)
                else:
                    features = lambda x, net=net: net.features(x, self.config.match_layers)  # noqa: E731
                    loss = distribution_matching_loss(features, real, synthetic, self.config.prefixes, self.dsa,
                                                      seeds)
            loss = loss / self.config.nets_per_step
            loss.backward(retain_graph=True)
            total += loss.item()
        parameters = [self.latents] + (list(self.net.parameters()) if self.config.lr_generator > 0 else [])
        self.dist.sum_gradients(parameters)  # every class's terms: the step of one process
        self.optimizer.step()
        return {"loss": self.dist.sum_number(total)}

    # ---- loop and outputs ---------------------------------------------------------------------

    def run(self) -> Path:
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.out / CONFIG_FILE, self.config.to_dict())
        self.run_steps(self.config.iterations, checkpoint_every=self.config.checkpoint_every,
                       log_every=self.config.log_every, desc="latents")
        return self.finish()

    def result_sampling(self) -> SamplingConfig:
        """How the result synthesizes: the source's noise scale, this run's codes, chunk and layout."""
        return SamplingConfig(chunk_size=self.config.chunk_size or self.base.sampling.chunk_size,
                              noise_scale=self.base.sampling.noise_scale, latents=self.config.latents,
                              layout=self.config.layout or self.base.sampling.layout,
                              latent_layer=self.config.code_layer)

    def generator(self) -> Generator:
        """The source generator with the learned codes attached (CPU, eval mode)."""
        training = {"method": "latent distribution matching", "latents": self.recipe(),
                    "generator": self.base.metadata.get("training")}
        gen = self.base.derive(self.result_sampling(), training=training)
        gen.net.load_state_dict(self.net.state_dict())  # the source's weights, or learned ones (lr_generator)
        with torch.no_grad():
            gen.latents[0].copy_(self.latents.detach().cpu())  # one set: the one learned here
        return gen.eval()

    def recipe(self) -> Dict[str, Any]:
        recipe = self.config.to_dict()
        recipe.update(steps_done=self.step, source=self.base.files.describe() if self.base.files else None,
                      data=describe_real_data(self.spec.name, self.config.data_root))
        for key in ("out", "data_root", "device", "checkpoint_every", "log_every", "chunk_size", "layout"):
            recipe.pop(key)
        return recipe

    def save_generator(self) -> None:
        save_repository(self.generator(), self.out)
        logger.info("generator with learned latents saved to %s", self.out)

    def state(self) -> Dict[str, Any]:
        # Every rank holds the same state (the same draws, summed gradients): rank 0's is the run's.
        return {"step": self.step, "config": self.config.to_dict(), "latents": self.latents.detach(),
                "generator": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(), "rng": self.rng.get_state(),
                "torch_rng": torch.get_rng_state(), "pool": self.pool.state()}

    def restore(self, state: Dict[str, Any]) -> None:
        self.step = state["step"]
        with torch.no_grad():
            self.latents.copy_(state["latents"].to(self.device))
        self.net.load_state_dict(state["generator"])
        self.optimizer.load_state_dict(state["optimizer"])
        pool = state["pool"]
        if "ages" in pool:  # written before the pools were one class: ages in SGD steps, not draws
            pool = {"draws": [math.ceil(a / self.config.pool_steps) for a in pool["ages"]], "nets": pool["nets"],
                    "optimizers": pool["optimizers"]}
        self.pool.load(pool)  # builds networks, drawing from torch's generator: before its state returns
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])


def saved_latent_config(out) -> LatentConfig:
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise MissingFileError(f"--resume: {path} does not exist; start the run without --resume")
    try:
        return LatentConfig.from_dict(read_json(path, "latent config"))
    except TypeError as exc:
        raise DamagedFileError(f"latent config {path} does not hold a latent-distillation config ({exc})") from exc


def distill_latents(config: LatentConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Run (or resume) a latent distillation into ``config.out``; the same folder rules (and the same
    torchrun launch) as ``train``."""
    return launch(config.out, LAYOUT, device_type=resolve_device(config.device).type, resume=resume,
                  overwrite=overwrite, inputs=(config.generator,),
                  saved_settings=lambda: saved_latent_config(config.out).to_dict(), settings=config.to_dict(),
                  build=lambda resume: LatentDistillation(config, resume=resume))
