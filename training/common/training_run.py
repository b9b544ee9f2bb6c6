"""The skeleton every trainer runs in: the run folder, its lock and resume rules, the step loop with
its log and checkpoints, and the ranks of a torchrun launch.

A trainer (``GenerativeDistillation``, ``LatentDistillation``) subclasses ``TrainingRun`` and
supplies what differs: ``train_step`` (one optimisation step, returning the values it logs),
``state`` and ``restore`` (everything a resumed run needs, in one checkpoint), ``save_generator``
and optionally ``after_step`` (sample grids). ``launch`` starts or resumes one in its folder:

- rank 0 alone takes the folder's lock, checks it (a new run refuses a non-empty folder unless
  ``overwrite``; a resumed run must keep its saved settings) and writes there; every rank learns
  the verdict, so an error stops all of them with the same message;
- a resumed run continues from its last checkpoint, and the log is cut back to that step.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from tqdm.auto import tqdm

from distilled_datasets.errors import DistilledDatasetsError, UsageError
from distilled_datasets.files import check_output

from . import checkpoint as ckpt
from .distributed import Distributed
from .run_folder import (RunLock, check_resume, forget_previous_run, prepare_run_folder, recover_previous_runs,
                         restore_previous_run, trim_log)

logger = logging.getLogger(__name__)

LOG_FILE = "log.jsonl"


@dataclass(frozen=True)
class RunLayout:
    """What a kind of run keeps in its folder."""

    config_file: str  # the settings it was started with (what --resume reads)
    checkpoint: str  # its one checkpoint file, relative to the folder
    files: Tuple[str, ...]  # everything it writes there (what --overwrite replaces; nothing else is touched)
    may_change_on_resume: Tuple[str, ...]  # settings a resumed run may change; the rest would change what is learned


class TrainingRun:
    """One run of a trainer: the step counter, the loop, the checkpoints. Subclasses set
    ``layout``, ``out``, ``dist`` and ``step`` and implement the methods below."""

    layout: RunLayout
    out: Path
    dist: Distributed
    step: int = 0

    def train_step(self) -> Dict[str, Any]:
        """One optimisation step; returns the values to log (tensors or numbers, read only when logged)."""
        raise NotImplementedError

    def state(self) -> Dict[str, Any]:
        """Everything a resumed run needs (a collective under torchrun when ranks hold different parts)."""
        raise NotImplementedError

    def restore(self, state: Dict[str, Any]) -> None:
        raise NotImplementedError

    def save_generator(self) -> None:
        raise NotImplementedError

    def after_step(self, end: int) -> None:
        """Rank 0, after every step (sample grids)."""

    # ---- shared -------------------------------------------------------------------------------

    def checkpoint_path(self) -> Path:
        return self.out / self.layout.checkpoint

    def save_checkpoint(self) -> None:
        state = self.state()  # every rank takes part
        if self.dist.is_main:
            ckpt.save_checkpoint(state, self.checkpoint_path())
        self.dist.barrier()

    def refuse_fewer_steps(self, end: int, flag: str, first: int = 0) -> None:
        """After a resume: ``flag`` asks for ``end - first`` steps where the run has done more. Refused
        before anything is written, since the saved recipe would then record fewer steps than were taken."""
        if self.step > end:
            raise UsageError(f"--resume: {self.out} has done {self.step - first} steps, more than {flag} "
                             f"{end - first} asks for; resume with at least as many, or start a new run in another "
                             "--out")

    def resume_from_checkpoint(self) -> None:
        path = self.checkpoint_path()
        state = ckpt.load_checkpoint(path)
        with ckpt.restoring(path):
            self.restore(state)
        logger.info("resumed %s at step %d", self.out, self.step)

    def run_steps(self, end: int, *, checkpoint_every: int, log_every: int, desc: str, first: int = 0,
                  log_fields: Optional[Dict[str, Any]] = None) -> None:
        """Train from ``self.step`` to ``end``, logging every ``log_every`` steps (rank 0; the only
        host sync is reading the logged values then) and checkpointing every ``checkpoint_every``
        steps and at the end. ``first`` is where this part of the run started (for the bar)."""
        main = self.dist.is_main
        log_file = open(self.out / LOG_FILE, "a", encoding="utf-8") if main else None
        # Like every bar here, it hides off a terminal (logs, CI).
        bar = tqdm(total=end - first, initial=min(self.step, end) - first, desc=desc, unit="step",
                   disable=not main or None)
        start, done_at_start = time.time(), self.step
        try:
            while self.step < end:
                values = self.train_step()
                self.step += 1
                bar.update(1)
                if main and (self.step % log_every == 0 or self.step == end):
                    record = {k: round(float(v), 5) for k, v in values.items()}
                    rate = (self.step - done_at_start) / max(time.time() - start, 1e-9)
                    record.update(step=self.step, **(log_fields or {}), steps_per_s=round(rate, 3))
                    log_file.write(json.dumps(record) + "\n")
                    log_file.flush()
                    bar.set_postfix({k: record[k] for k in values})
                    logger.info("%s", record)
                if main:
                    self.after_step(end)
                if self.step % checkpoint_every == 0 or self.step == end:
                    self.save_checkpoint()
        finally:
            bar.close()
            if log_file is not None:
                log_file.close()

    def finish(self) -> Path:
        """Write the generator (rank 0) once every rank is done; returns the run folder."""
        if self.dist.is_main:
            self.save_generator()
        self.dist.barrier()  # nobody leaves before the generator is written
        return self.out


def launch(out, layout: RunLayout, *, device_type: str, resume: bool, overwrite: bool,
           inputs: Iterable[Optional[str]], saved_settings: Callable[[], Dict[str, Any]],
           settings: Dict[str, Any], build: Callable[[bool], TrainingRun]) -> Path:
    """Start (or resume) a run in ``out``; returns the folder once the run has finished.

    ``inputs`` (the data, a source generator or run) are never cleared by ``overwrite``;
    ``saved_settings()`` reads the settings a resumed run was started with, and ``settings`` are
    the ones asked for now; ``build(resume)`` makes the run on every rank (restoring its
    checkpoint when ``resume``).
    """
    out = Path(out)
    dist = Distributed.from_env(device_type)
    with ExitStack() as stack:
        verdict: Any = None
        previous = None  # with --overwrite: the earlier run's files, set aside until this one has started
        if dist.is_main:
            try:
                # Read-only, so before the lock: taking it writes .lock, never into a command's input.
                check_output(out, overwrite=True, want_dir=True, inputs=tuple(inputs), run_folder_ok=True)
                stack.enter_context(RunLock(out))
                recover_previous_runs(out)  # an --overwrite killed before its run started: the earlier run returns
                previous = prepare_run_folder(out, layout.files, resume, overwrite, layout.config_file)
                for folder in {out, (out / layout.checkpoint).parent}:
                    ckpt.remove_stale_temporaries(folder)  # what killed writers left; we hold the lock
                if resume:
                    check_resume(out, saved_settings(), settings, layout.may_change_on_resume)
                    if not (out / layout.checkpoint).is_file():
                        # Stopped before its first checkpoint: the saved run starts again from its beginning.
                        logger.info("%s has no checkpoint yet; the run starts from step 0", out)
                        resume = False
            except DistilledDatasetsError as exc:
                verdict = exc
        verdict = dist.broadcast(verdict if verdict is not None else resume)
        if isinstance(verdict, Exception):
            raise verdict
        try:
            run = build(verdict)  # loads the data and inputs: the step a wrong --data-root or source fails in
        except BaseException:
            restore_previous_run(previous, out)
            raise
        forget_previous_run(previous)
        if dist.is_main:
            trim_log(out / LOG_FILE, run.step)
        return run.run()
