"""Global-local generative distillation: stage 1 (conditional GAN), stage 2 (the cGAN loss plus
lambda_global * logit matching + lambda_local * feature matching through a random model pool).

A run directory holds the generator in the runtime's format (config.json, model.safetensors,
README.md, samples.png: loadable with ``DistilledMNIST(repo_id=run_dir)``), train_config.json,
checkpoints/last.safetensors (tensors and JSON state in one file), samples/ (grids during training) and log.jsonl.
"""

from __future__ import annotations

import copy
import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from distilled_datasets import Generator, GeneratorConfig
from distilled_datasets.errors import MissingFileError, UsageError
from distilled_datasets.preview import generator_grid, save_grid
from distilled_datasets.repository import save_repository

from ..common import checkpoint as ckpt
from ..common.augment import DSA
from ..common.config_flags import flag_name
from ..common.distributed import Distributed, use_global_batch_norm
from ..common.image_folder import register_image_folder
from ..common.network_pool import NetworkPool
from ..common.provenance import resolve_device
from ..common.real_data import (default_data_root, describe_real_data, generator_to_normalized, get_dataset_info,
                                load_tensors)
from ..common.model_zoo import build_model
from ..common.training_run import RunLayout, TrainingRun, launch
from .run_config import IMAGE_FOLDER, MAY_CHANGE_ON_RESUME, RunConfig, load_config, save_config
from .stage1_gan import Discriminator, discriminator_loss, generator_loss
from .stage2_matching import feature_layers, matching_losses

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoints/last.safetensors"
CONFIG_FILE = "train_config.json"
LAYOUT = RunLayout(config_file=CONFIG_FILE, checkpoint=CHECKPOINT,
                   files=(CONFIG_FILE, "checkpoints", "samples", "log.jsonl", "config.json", "model.safetensors",
                          "README.md", "samples.png"),
                   may_change_on_resume=MAY_CHANGE_ON_RESUME)


def dataset_spec(config: RunConfig):
    """The facts of the run's dataset: a registered one, or the user's image folder at data_root."""
    if config.dataset == IMAGE_FOLDER:
        return register_image_folder(config.data_root, config.image_size, config.channels)
    return get_dataset_info(config.dataset)


def build_run_generator(config: RunConfig, spec) -> Generator:
    """A fresh generator of the run's architecture, with the dataset's facts as metadata."""
    kwargs = {"width": config.width} if config.width else {}
    gen_config = GeneratorConfig(architecture=config.architecture, noise_dim=config.noise_dim,
                                 num_classes=spec.num_classes, channels=spec.channels,
                                 image_size=spec.image_size, arch_kwargs=kwargs)
    meta = {"dataset": spec.name, "classes": list(spec.classes),
            "normalization": {"mean": list(spec.mean), "std": list(spec.std)}}
    return Generator(gen_config, metadata=meta)


def snapshot_generator(run_dir, out) -> Path:
    """Write the generator of ``run_dir``'s last checkpoint as a generator folder at ``out`` (a run
    that is still training, or one that stopped before its end), without touching the run."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / CONFIG_FILE)
    state = ckpt.load_checkpoint(run_dir / CHECKPOINT)
    generator = build_run_generator(config, dataset_spec(config))
    generator.load_state_dict(state["generator"])
    generator.metadata["training"] = {"method": "global-local generative distillation", "stage": state.get("stage"),
                                      "seed": config.seed, "steps_done": state["step"], "snapshot_of": str(run_dir),
                                      "data": describe_real_data(config.dataset, config.data_root),
                                      "stage1": config.to_dict()["stage1"]}
    save_repository(generator.eval(), out)
    return Path(out)


# The settings that shape the generator and the critic: named when an --init-from run's networks differ.
STAGE2_GAN_SETTINGS = ("gan_loss", "n_critic", "aux_weight", "beta1", "beta2")  # --stage1-* flags stage 2 uses
NETWORK_SETTINGS = ("architecture", "noise_dim", "width", "stage1.d_width", "stage1.gan_loss", "stage1.projection")


def _get(config: RunConfig, path: str) -> Any:
    section, _, name = path.rpartition(".")
    return getattr(getattr(config, section) if section else config, name)


class GenerativeDistillation(TrainingRun):
    """Owns the models, optimizers and random streams of one run; ``run()`` trains to the end."""

    layout = LAYOUT

    def __init__(self, config: RunConfig, resume: bool = False):
        config.validate()
        if config.data_root is None:  # recorded as resolved, so the saved config says where the data was
            config.data_root = default_data_root()
        self.config = config
        self.out = Path(config.out)
        device = resolve_device(config.device)
        # torchrun: one process per GPU (or CPU share); every rank runs this same code.
        self.dist = Distributed.from_env(device.type)
        config.world_size = self.dist.world_size
        self.device = self.dist.device(device)
        self.cuda = self.device.type == "cuda"
        # Each rank takes its slice of every global batch (checked to split evenly).
        self.dist.share(config.stage1.batch_size, "stage-1 batch size")
        self.dist.share(config.stage2.batch_size, "stage-2 batch size")
        self.spec = dataset_spec(config)
        s2 = config.stage2
        shape = (self.spec.channels, self.spec.num_classes, self.spec.image_size)
        with torch.random.fork_rng(devices=[]):  # a check before any work; the run's random stream is untouched
            feature_layers(s2.pool, s2.feature_layers, shape)
        torch.manual_seed(config.seed)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        # Real training set as one normalised tensor on the device: [N, C, H, W], labels [N].
        self.images, self.labels = load_tensors(self.spec.name, config.data_root, train=True,
                                                download=config.download, device=self.device)
        self.generator = build_run_generator(config, self.spec).to(self.device)
        self.discriminator = self._build_discriminator(config).to(self.device)
        if self.cuda:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        if self.dist.active:  # BatchNorm over the global batch, as in one process
            use_global_batch_norm(self.generator)
        # The modules the steps call: DDP averages their gradients over the ranks. Saving and
        # loading use the plain modules (the same parameters).
        self.g_step, self.d_step = self.dist.wrap(self.generator), self.dist.wrap(self.discriminator)
        self.dsa = DSA.for_dataset(self.spec.name)
        # Built where it always was: the models it builds draw from the seeded stream, as recorded runs did.
        self.pool_layers = feature_layers(s2.pool, s2.feature_layers, shape)
        self.pool = NetworkPool(s2.pool, self._pool_model, online_steps=s2.online_steps, online_lr=s2.online_lr,
                                life=s2.reinit_every)
        # Two random streams: one on the data device (batches, noise), one on the CPU (choices
        # that steer Python control flow: pool draws, DSA seeds), so no host sync is needed.
        # Seeded alike on every rank: all ranks draw the same global batch and take their slices.
        self.rng = torch.Generator(device=self.device).manual_seed(config.seed)
        self.cpu_rng = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0
        self.stage = "1" if config.stage in ("1", "both") else "2"
        self._make_optimizers()
        self.init_from_recipe: Optional[Dict[str, Any]] = None
        if resume:
            self.resume_from_checkpoint()  # brings back init_from_recipe as this run first read it
            self._check_resumed_steps()
        elif config.init_from:
            self._init_from(config.init_from)
        if config.init_from and self.init_from_recipe is None:
            # What the run this one started from had done when it started (kept in the checkpoints, so a
            # resumed run still reports that, however the source run went on since): shown in every recipe.
            self.init_from_recipe = self._init_from_recipe(config.init_from)

    # ---- setup ------------------------------------------------------------------------------

    def _build_discriminator(self, config: RunConfig) -> Discriminator:
        s1 = config.stage1
        return Discriminator(self.spec.channels, self.spec.num_classes, self.spec.image_size, width=s1.d_width,
                             spectral=s1.gan_loss == "hinge", projection=s1.projection)

    def _pool_model(self, name: str) -> torch.nn.Module:
        model = build_model(name, self.spec.channels, self.spec.num_classes, self.spec.image_size).to(self.device)
        return model.to(memory_format=torch.channels_last) if self.cuda else model

    def _check_resumed_steps(self) -> None:
        """The step counts a resume may change are those still ahead: stage 1's only while stage 1 runs
        (after it, its end is where stage 2's steps are counted from), and none below what is done."""
        saved = load_config(self.out / CONFIG_FILE)
        if self.config.stage == "both" and self.stage == "2" and self.config.stage1.steps != saved.stage1.steps:
            raise UsageError(f"--resume: stage 1 of {self.out} ended after {saved.stage1.steps} steps and stage 2 "
                             f"has begun, so --stage1-steps stays {saved.stage1.steps}; more training goes to "
                             "--stage2-steps")
        first, end = self._stage_steps()
        self.refuse_fewer_steps(end, f"--stage{self.stage}-steps", first)

    def _make_optimizers(self) -> None:
        s = self.config.stage1 if self.stage == "1" else self.config.stage2
        betas = (self.config.stage1.beta1, self.config.stage1.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=s.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=s.lr_d, betas=betas)

    def _init_from(self, run_dir: str) -> None:
        """Start stage 2 from another run's last checkpoint (generator and critic weights). It continues
        that run's generator: another dataset or architecture is refused by name, not loaded (another
        shape would fail in load_state_dict, another dataset of the same shape silently)."""
        config_path, path = Path(run_dir) / CONFIG_FILE, Path(run_dir) / CHECKPOINT
        if not config_path.is_file():
            raise MissingFileError(f"--init-from {run_dir}: {config_path} does not exist; --init-from takes the "
                                   "run directory of a stage-1 run (distilled-datasets train --stage 1 --out RUN)")
        source = load_config(config_path)
        state = ckpt.load_checkpoint(path)
        if source.dataset != self.config.dataset:
            raise UsageError(f"--init-from {run_dir} was trained on --dataset {source.dataset}, not "
                             f"{self.config.dataset}: stage 2 continues its generator, so pass the same dataset")
        self._refuse_other_data(state, f"--init-from {run_dir}")
        with torch.random.fork_rng(devices=[]), torch.device("meta"):  # shapes only: no memory, the stream untouched
            theirs = (build_run_generator(source, self.spec), self._build_discriminator(source))

        def shapes(*modules) -> list:
            return [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in modules]

        if shapes(*theirs) != shapes(self.generator, self.discriminator):
            named = [f"{flag_name(name)} {_get(source, name)!r} there, {_get(self.config, name)!r} here"
                     for name in NETWORK_SETTINGS if _get(source, name) != _get(self.config, name)]
            raise UsageError(f"--init-from {run_dir} holds networks of another shape ({'; '.join(named)}): stage 2 "
                             "continues its generator and critic, so pass the settings it was trained with")
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        logger.info("stage 2 starts from %s (its step %d)", run_dir, state["step"])

    # ---- batches ------------------------------------------------------------------------------

    def _real_batch(self, size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """This rank's slice of a global batch of ``size`` real images and labels."""
        index = torch.randint(self.labels.shape[0], (size,), device=self.device, generator=self.rng)
        index = index[self.dist.share(size)]
        return self.images[index], self.labels[index]

    def _fake(self, labels: torch.Tensor, size: int) -> torch.Tensor:
        """Images for this rank's ``labels``, from its slice of a global noise batch of ``size``."""
        noise = torch.randn(size, self.config.noise_dim, device=self.device, generator=self.rng)
        return generator_to_normalized(self.g_step(noise[self.dist.share(size)], labels), self.spec.name)

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else nullcontext()

    def _seed(self) -> int:
        return int(torch.randint(2**31 - 1, (1,), generator=self.cpu_rng))

    # ---- one step ---------------------------------------------------------------------------

    def critic_step(self, batch: int) -> torch.Tensor:
        s1 = self.config.stage1
        real, labels = self._real_batch(batch)
        with self._autocast():
            with torch.no_grad():
                fake = self._fake(labels, batch)
            d_loss = discriminator_loss(s1.gan_loss, self.d_step, real, fake, labels, s1.aux_weight)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return d_loss.detach()

    def generator_terms(self, batch: int) -> Tuple[Dict[str, torch.Tensor], Optional[str]]:
        """The generator's unweighted loss terms on one real batch: {"gan"} in stage 1, plus
        {"global", "local"} in stage 2 (through a pool model prepared first, whose name is returned)."""
        s1, s2 = self.config.stage1, self.config.stage2
        real, labels = self._real_batch(batch)
        name = None
        if self.stage == "2":
            # Prepare the pool model first: its online training must not see generator graphs.
            slot, model = self.pool.draw(self.cpu_rng, lambda: self._real_batch(batch))
            name = self.pool.architectures[slot]
        with self._autocast():
            fake = self._fake(labels, batch)
            terms = {"gan": generator_loss(s1.gan_loss, self.d_step, fake, labels, s1.aux_weight)}
            if name is not None:
                with NetworkPool.frozen(model):
                    terms["global"], terms["local"] = matching_losses(
                        model, self.pool_layers[name], fake, real, augment=self.dsa if s2.dsa else None,
                        seed=self._seed(), mode=s2.match, labels=labels, num_classes=self.spec.num_classes)
        return terms, name

    def weighted_total(self, terms: Dict[str, torch.Tensor]) -> torch.Tensor:
        """cGAN loss (x gan_weight in stage 2) + lambda_global * global + lambda_local * local."""
        if "global" not in terms:
            return terms["gan"]
        s2 = self.config.stage2
        return s2.gan_weight * terms["gan"] + s2.lambda_global * terms["global"] + s2.lambda_local * terms["local"]

    def train_step(self) -> Dict[str, torch.Tensor]:
        s1, s2 = self.config.stage1, self.config.stage2
        stage2 = self.stage == "2"
        batch = s2.batch_size if stage2 else s1.batch_size
        logs = {}
        if not (stage2 and s2.gan_weight == 0):  # matching alone: the critic is not used
            for _ in range(s1.n_critic):
                logs["d_loss"] = self.critic_step(batch)
        terms, _ = self.generator_terms(batch)
        self.opt_g.zero_grad(set_to_none=True)
        # The critic's parameters get gradients from the generator loss too; zeroed before its step.
        self.weighted_total(terms).backward()
        self.opt_g.step()
        logs["g_loss"] = terms["gan"].detach()
        if stage2:
            logs.update(global_loss=terms["global"].detach(), local_loss=terms["local"].detach())
        return logs

    # ---- loop -------------------------------------------------------------------------------

    def _stage_steps(self) -> Tuple[int, int]:
        """(first step, end step) of the current stage on the run's global step counter."""
        c = self.config
        s1 = c.stage1.steps if c.stage in ("1", "both") else 0
        return (0, s1) if self.stage == "1" else (s1, s1 + c.stage2.steps)

    def run(self) -> Path:
        if self.dist.is_main:  # rank 0 alone writes
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(self.config, self.out / CONFIG_FILE)
        stages = ["1", "2"] if self.config.stage == "both" else [self.config.stage]
        for stage in stages[stages.index(self.stage):]:
            if stage != self.stage:
                self.stage = stage
                self._make_optimizers()
            first, end = self._stage_steps()
            self.generator.train()
            self.discriminator.train()
            self.run_steps(end, checkpoint_every=self.config.checkpoint_every, log_every=self.config.log_every,
                           desc=f"stage {self.stage}", first=first, log_fields={"stage": self.stage})
        return self.finish()

    def after_step(self, end: int) -> None:
        if self.step % self.config.sample_every == 0 or self.step == end:
            self.save_samples()

    # ---- outputs ------------------------------------------------------------------------------

    def _cpu_generator(self) -> Generator:
        gen = copy.deepcopy(self.generator).to("cpu", memory_format=torch.contiguous_format).eval()
        gen.metadata["training"] = self.recipe()
        return gen

    def recipe(self) -> Dict[str, Any]:
        c = self.config
        recipe = {"method": "global-local generative distillation", "stage": c.stage, "seed": c.seed,
                  "steps_done": self.step, "data": describe_real_data(self.spec.name, c.data_root)}
        if c.stage != "2":
            recipe["stage1"] = c.to_dict()["stage1"]
        if c.stage in ("2", "both"):
            recipe["stage2"] = c.to_dict()["stage2"]
            recipe["stage2"]["feature_layers"] = dict(self.pool_layers)
            # Stage 2's cGAN term and Adam run with the --stage1-* GAN settings of this run: recorded here,
            # since a stage-2-only run's "stage1" is the run it started from.
            recipe["stage2"]["gan_settings"] = {k: getattr(c.stage1, k) for k in STAGE2_GAN_SETTINGS}
        if c.init_from:
            # Stage 2 alone: stage 1 is what the run it started from did, not this run's flags.
            recipe["init_from"] = {"run": c.init_from, **self.init_from_recipe}
        return recipe

    @staticmethod
    def _init_from_recipe(run_dir: str) -> Dict[str, Any]:
        source = Path(run_dir)
        found: Dict[str, Any] = {}
        if (source / "train_config.json").is_file():
            found["stage1"] = load_config(source / "train_config.json").to_dict()["stage1"]
        try:
            found["steps_done"] = ckpt.load_checkpoint(source / CHECKPOINT)["step"]  # of every stage it ran
            if (source / "train_config.json").is_file():
                source_config = load_config(source / "train_config.json")
                found["stage"] = source_config.stage
                if source_config.stage != "2":
                    found["stage1_steps_done"] = min(found["steps_done"], source_config.stage1.steps)
        except FileNotFoundError:
            pass  # recorded as far as it is known
        return found

    def save_samples(self) -> None:
        folder = self.out / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        save_grid(generator_grid(self._cpu_generator()), folder / f"stage{self.stage}_step{self.step:07d}.png")

    def save_generator(self) -> None:
        save_repository(self._cpu_generator(), self.out)
        logger.info("generator saved to %s", self.out)

    def state(self) -> Dict[str, Any]:
        state = {
            "step": self.step, "stage": self.stage, "data_facts": self._data_facts(),
            "generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(), "cpu_rng": self.cpu_rng.get_state(), "torch_rng": torch.get_rng_state(),
            # Pool models are trained on each rank's share: every rank's are kept (rank order).
            "pool_by_rank": self.dist.gather(_to_cpu(self.pool.state())),
        }
        if self.init_from_recipe is not None:
            state["init_from_recipe"] = self.init_from_recipe
        if self.cuda:
            state["cuda_rng"] = torch.cuda.get_rng_state()
        return state

    def _data_facts(self) -> Dict[str, Any]:
        return {"classes": list(self.spec.classes), "channels": self.spec.channels,
                "image_size": self.spec.image_size}

    def _refuse_other_data(self, state: Dict[str, Any], what: str) -> None:
        """A checkpoint trained on other data than --data-root holds (an image folder is its own dataset)."""
        saved = state.get("data_facts")  # absent from checkpoints written before it was recorded
        if saved is not None and saved != self._data_facts():
            raise UsageError(f"{what}: --data-root {self.config.data_root} holds other data than that run was "
                             f"trained on ({saved}, here {self._data_facts()}): pass its own data")

    def restore(self, state: Dict[str, Any]) -> None:
        self._refuse_other_data(state, "--resume")
        self.step, self.stage = state["step"], state["stage"]
        # Absent from checkpoints written before it was kept: then it is read from the source run again.
        self.init_from_recipe = state.get("init_from_recipe")
        if self.init_from_recipe is not None and not isinstance(self.init_from_recipe, dict):
            raise ckpt.CheckpointError(f"--resume: the checkpoint's init_from_recipe is a "
                                       f"{type(self.init_from_recipe).__name__}, not a mapping: it is damaged")
        self._make_optimizers()
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        by_rank = state["pool_by_rank"]
        pool = by_rank[self.dist.rank % len(by_rank)]
        if "pool_uses" in state:  # written before the pools were one class
            pool = _stage2_pool_state(pool, state["pool_uses"], self.pool.architectures,
                                      self.config.stage2.reinit_every)
        self.pool.load(pool)  # builds networks, drawing from torch's generator: before its state is restored
        self.rng.set_state(state["rng"])
        self.cpu_rng.set_state(state["cpu_rng"])
        torch.set_rng_state(state["torch_rng"])  # last: nothing after it may draw
        if self.cuda and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"])


def _to_cpu(value):
    """A state as CPU tensors (gathered across ranks as picklable objects)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def _stage2_pool_state(models: Dict[str, Any], uses: Dict[str, int], names, reinit_every: int) -> Dict[str, Any]:
    """An older checkpoint's stage-2 pool ({name: {model, opt}} and total draws per name) as
    NetworkPool.state(): a model drawn ``uses`` times was last built at a multiple of reinit_every."""
    draws = [0 if not uses.get(n) else (uses[n] % reinit_every or reinit_every) for n in names]
    return {"draws": draws, "nets": [models[n]["model"] if n in models else None for n in names],
            "optimizers": [models[n]["opt"] if n in models else None for n in names]}


def saved_config(out) -> RunConfig:
    """The config a run in ``out`` was started with (for --resume)."""
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise MissingFileError(f"--resume: {path} does not exist; start the run without --resume")
    return load_config(path)


def train(config: RunConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Train (or resume) a run; returns the run directory.

    A new run refuses a non-empty ``config.out`` unless ``overwrite``. A resumed run continues
    exactly the run that was started: ``config`` may differ from the saved one only in
    MAY_CHANGE_ON_RESUME (more steps, logging, device, data location); anything else is refused
    with the settings named. Under torchrun, rank 0 checks and writes the folder (which must be
    shared by all nodes), and every rank learns its verdict (training_run.launch).
    """
    config.validate()  # before the folder is touched: it also fills in the default out (runs/DATASET)
    return launch(config.out, LAYOUT, device_type=resolve_device(config.device).type, resume=resume,
                  overwrite=overwrite, inputs=(config.init_from, config.data_root),
                  saved_settings=lambda: saved_config(config.out).to_dict(), settings=config.to_dict(),
                  build=lambda resume: GenerativeDistillation(config, resume=resume))
