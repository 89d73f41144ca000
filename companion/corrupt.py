"""Input corruptions for denoising autoencoders (Vincent et al. 2008).

Each corruption takes a batch ``x`` of any shape with values in [0, 1] and
returns a corrupted copy; the original is never modified. ``level`` means:

- ``gaussian``: the standard deviation of additive noise (the result is
  clipped back to [0, 1] unless ``clip=False``);
- ``masking``: the fraction of inputs set to 0, chosen independently;
- ``salt_and_pepper``: the fraction of inputs set to 0 or 1 (each with
  probability one half).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

KINDS = ("gaussian", "masking", "salt_and_pepper")


def gaussian_noise(x: torch.Tensor, std: float, clip: bool = True, generator=None) -> torch.Tensor:
    """``x + std * eps`` with ``eps ~ N(0, 1)``, clipped to [0, 1] if ``clip``."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    out = x + std * noise
    return out.clamp(0.0, 1.0) if clip else out


def masking_noise(x: torch.Tensor, fraction: float, generator=None) -> torch.Tensor:
    """Set each input to 0 with probability ``fraction``."""
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= fraction
    return x * keep.to(x.dtype)


def salt_and_pepper(x: torch.Tensor, fraction: float, generator=None) -> torch.Tensor:
    """Set each input, with probability ``fraction``, to 0 or 1 at random."""
    u = torch.rand(x.shape, generator=generator, device=x.device)
    hit = u < fraction
    salt = u < fraction / 2  # half of the hit inputs become 1
    out = torch.where(hit, torch.zeros_like(x), x)
    return torch.where(salt, torch.ones_like(x), out)


@dataclass(frozen=True)
class Corruption:
    """A named corruption with its level; call it on a batch.

    Examples
    --------
    >>> noisy = Corruption("masking", 0.3)(x)   # doctest: +SKIP
    """

    kind: str
    level: float
    clip: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"corruption kind={self.kind!r}: use one of {KINDS}.")
        level = float(self.level)
        if self.kind == "gaussian":
            if level < 0:
                raise ValueError(f"gaussian noise needs a standard deviation >= 0, got {level}.")
        elif not 0.0 <= level <= 1.0:
            raise ValueError(f"{self.kind} needs a fraction in [0, 1], got {level}.")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.kind == "gaussian":
            return gaussian_noise(x, self.level, clip=self.clip, generator=generator)
        if self.kind == "masking":
            return masking_noise(x, self.level, generator=generator)
        return salt_and_pepper(x, self.level, generator=generator)

    def __str__(self) -> str:
        unit = "std" if self.kind == "gaussian" else "fraction"
        return f"{self.kind.replace('_', ' ')} ({unit} {self.level:g})"

    def as_config(self) -> dict:
        return {"kind": self.kind, "level": float(self.level), "clip": self.clip}


def as_corruption(spec) -> Corruption | None:
    """Accept None, a :class:`Corruption`, a ``(kind, level)`` pair or a config dict."""
    if spec is None or isinstance(spec, Corruption):
        return spec
    if isinstance(spec, dict):
        return Corruption(**spec)
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return Corruption(spec[0], spec[1])
    raise TypeError(f"corruption={spec!r}: give a Corruption, a (kind, level) pair or None.")
