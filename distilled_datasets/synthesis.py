"""Deterministic, chunked synthesis: the image of (class c, sample k) depends only on
(weights, seed, c, k).

Sample k of class c belongs to chunk j = k // chunk_size. A chunk's noise comes from its own
torch.Generator seeded by (seed, c, j). Every forward pass has a composition fixed by the
generator's ``sampling.layout``, so the kernels (and their rounding) never depend on how many
images were asked for, in which order, or in which process:

- "per_class" (the original layout): one pass per chunk, exactly ``chunk_size`` images (times
  ``candidates`` when the generator selects among candidates, see herding.py);
- "class_rows": one channels-last pass per row j, chunk j of every class in class order
  ([num_classes * chunk_size] images). Batched passes cost a fraction of small ones per image,
  and a pass in index order (classes interleave) needs whole rows anyway. The noise of sample k is
  drawn from its own stream (seed, c, k), as chunks of one image draw it, so the chunk size batches
  passes without changing which image a sample is.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import threading
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from .generator import Generator
from .herding import select


def chunk_seed(seed: int, label: int, chunk: int) -> int:
    """A 63-bit seed for one chunk; a hash, so that nearby (seed, label, chunk) are unrelated."""
    digest = hashlib.sha256(f"distilled-datasets:{seed}:{label}:{chunk}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def seeded_noise(generator: Generator, seed: int, label: int, chunk: int) -> torch.Tensor:
    """The seeded noise of one chunk, learned codes ignored: [chunk_size * candidates, noise_dim] float32."""
    sampling = generator.sampling
    first = chunk * sampling.chunk_size
    if sampling.layout == "class_rows":
        # Each sample's noise from its own stream, exactly as chunks of one image draw it: the
        # chunk size then only batches passes, and never changes which image a sample is.
        size = (sampling.candidates, generator.config.noise_dim)
        streams = [torch.Generator(device="cpu").manual_seed(chunk_seed(seed, label, k))
                   for k in range(first, first + sampling.chunk_size)]
        noise = torch.cat([torch.randn(size, generator=rng, dtype=torch.float32) for rng in streams])
    else:
        rng = torch.Generator(device="cpu").manual_seed(chunk_seed(seed, label, chunk))
        size = (sampling.chunk_size * sampling.candidates, generator.config.noise_dim)
        noise = torch.randn(size, generator=rng, dtype=torch.float32)
    return noise * sampling.noise_scale


def chunk_codes(generator: Generator, seed: int, label: int, chunk: int) -> Optional[torch.Tensor]:
    """The learned codes of the chunk's first samples, [n <= chunk_size, *code_shape], under a seed
    that holds a learned set (s < sampling.latent_sets): set s's codes of the class for samples
    k < K. None when the chunk has none."""
    sampling = generator.sampling
    first = chunk * sampling.chunk_size
    if generator.latents is None or not 0 <= seed < sampling.latent_sets or first >= sampling.latents:
        return None
    return generator.latents[seed, label, first:first + sampling.chunk_size]


def chunk_noise(generator: Generator, seed: int, label: int, chunk: int) -> torch.Tensor:
    """Noise of one chunk: [chunk_size * candidates, noise_dim] float32.

    With learned latents (sampling.latents = K), row i of chunk j is sample k = j * chunk_size + i;
    under a seed s that holds a learned set (s < sampling.latent_sets), rows with k < K are set s's
    codes of the class when the codes are noise (sampling.latent_layer "noise"), the rest seeded
    noise; any other seed is seeded noise throughout. Codes in a feature map enter in _generate.
    """
    noise = seeded_noise(generator, seed, label, chunk)
    codes = chunk_codes(generator, seed, label, chunk)
    if codes is not None and generator.sampling.latent_layer == "noise":
        noise[:codes.shape[0]] = codes.float()
    return noise


def _generate(generator: Generator, seed: int, labels: List[int], chunk: int, channels_last: bool) -> torch.Tensor:
    """Images of chunk ``chunk`` of each class in ``labels``, from one forward pass: [B, C, H, W].

    Codes in a feature map (sampling.latent_layer) replace that layer's activations of their rows;
    the other rows are encoded from their noise up to it, so every image costs one pass."""
    noise = torch.cat([chunk_noise(generator, seed, label, chunk) for label in labels])
    per_class = noise.shape[0] // len(labels)
    classes = torch.tensor(labels).repeat_interleave(per_class)
    layer = generator.sampling.latent_layer
    if layer == "noise":
        return generator(noise, classes, channels_last=channels_last)
    learned = torch.zeros(noise.shape[0], dtype=torch.bool)
    features = torch.empty(noise.shape[0], *generator.code_shape)
    for i, label in enumerate(labels):
        codes = chunk_codes(generator, seed, label, chunk)
        if codes is not None:
            rows = slice(i * per_class, i * per_class + codes.shape[0])
            learned[rows], features[rows] = True, codes.float()
    if not learned.all():
        features[~learned] = generator.net.encode(noise[~learned], classes[~learned], layer, channels_last)
    return generator.net.decode(features, classes, layer, channels_last=channels_last)


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 1


@contextlib.contextmanager
def _single_thread():
    # One intra-op thread in every process (DataLoader workers already run with one), so that a
    # chunk is computed by the same kernel schedule in the main process and in workers. The
    # setting is process-wide: Python threads synthesizing at once (``materialize``) share one
    # count of users, and the last one out restores the caller's setting.
    global _threads_users, _threads_before
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)


def inference_copy(generator: Generator) -> Generator:
    """``generator`` itself if it is on the CPU in eval mode, else an eval-mode CPU copy.

    Synthesis never moves or switches the caller's module (e.g. a generator in training on a GPU
    whose samples are previewed), and always uses BatchNorm's running statistics.
    """
    tensors = itertools.chain(generator.parameters(), generator.buffers())
    on_cpu = all(t.device.type == "cpu" for t in tensors)
    if on_cpu and not any(m.training for m in generator.modules()):
        return generator
    return copy.deepcopy(generator).to("cpu").eval()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] float [B, C, H, W] -> uint8 numpy [B, H, W] (one channel) or [B, H, W, C]."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if pixels.shape[1] == 1:
        return pixels[:, 0].numpy()
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


def _kept(generator: Generator, label: int, pixels: np.ndarray) -> np.ndarray:
    """The chunk's images: all of ``pixels``, or the candidates the selector keeps."""
    if generator.selector is None:
        return pixels
    # Candidates are judged as the uint8 images a user would get, in the selector's [-1, 1].
    as_float = torch.from_numpy(pixels).float().div(127.5).sub(1)
    as_float = as_float[:, None] if as_float.dim() == 3 else as_float.permute(0, 3, 1, 2)
    features = generator.selector(as_float)
    kept = select(generator.sampling.selection, features, generator.selector.class_means[label],
                  generator.sampling.chunk_size)
    return pixels[kept.numpy()]


def _one_chunk(generator: Generator, seed: int, label: int, chunk: int) -> np.ndarray:
    return _kept(generator, label, to_uint8(_generate(generator, seed, [label], chunk, channels_last=False)))


def _one_row(generator: Generator, seed: int, chunk: int) -> List[np.ndarray]:
    """Chunk ``chunk`` of every class, from one pass: a list indexed by class."""
    classes = generator.config.num_classes
    pixels = to_uint8(_generate(generator, seed, list(range(classes)), chunk, channels_last=True))
    per_class = pixels.shape[0] // classes
    return [_kept(generator, label, pixels[label * per_class:(label + 1) * per_class]) for label in range(classes)]


def row_keys(layout: str, num_classes: int, keys: Sequence[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """``keys`` and, for the "class_rows" layout, every other chunk of their rows (made by the
    same passes anyway), in row order."""
    if layout != "class_rows":
        return list(keys)
    rows = sorted({chunk for _, chunk in keys})
    return [(label, chunk) for chunk in rows for label in range(num_classes)]


@torch.inference_mode()
def synthesize_chunks(generator: Generator, seed: int, keys: Sequence[Tuple[int, int]]) -> List[np.ndarray]:
    """uint8 images of the chunks ``keys`` ((label, chunk) pairs), each [chunk_size, H, W] or
    [chunk_size, H, W, C]; one call amortises the per-call set-up over many small chunks."""
    generator = inference_copy(generator)
    # The conversion runs on one thread too: tiny element-wise ops on several threads mostly
    # wait on each other (tens of ms per chunk on a busy machine instead of microseconds).
    with _single_thread():
        if generator.sampling.layout != "class_rows":
            return [_one_chunk(generator, seed, label, chunk) for label, chunk in keys]
        rows = {chunk: _one_row(generator, seed, chunk) for chunk in dict.fromkeys(chunk for _, chunk in keys)}
        return [rows[chunk][label] for label, chunk in keys]


def synthesize_chunk(generator: Generator, seed: int, label: int, chunk: int) -> np.ndarray:
    """uint8 images of one chunk: [chunk_size, H, W] or [chunk_size, H, W, C]."""
    return synthesize_chunks(generator, seed, [(label, chunk)])[0]
