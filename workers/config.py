"""The ``PERSONALIZATION`` settings dict converted, once, to a typed config at the worker boundary."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from personalization.generation import QUANTIZE_MODES
from personalization.population import BASES


@dataclass(frozen=True)
class WorkerConfig:
    """device: ``auto`` picks CUDA when present. encoder / generator: ``packaged:...`` or a HF path or id.
    prior_precision: Gaussian prior precision on user weights. tie_strength: Davidson ν.
    confident_votes: votes after which a profile is called confident.
    generator_quantize: the generator's weights (``personalization.generation.QUANTIZE_MODES``): ``int4-weight``
    by default, 2-3x faster decoding on CPU than ``none``.
    best_of_style_samples: best-of-N's answers per contrasting style (2: 16 candidates, the benchmark's best; 1 halves
    the job on CPU for a lower win rate).
    bank_bases: how the periodic bank refit learns the latent bases (``personalization.population.BASES``):
    ``factorization`` (low-rank; the default: best-of-N reranking measured 0.76 win rate with it, 0.74 with mixture
    bases) or ``mixture`` (prototype rewards of a mixture of Bradley–Terry models over users; better few-vote
    accuracy where users fall into types, e.g. hh tailor@10 0.600 vs 0.551 on SmolLM2 states).
    torch_threads: intra-op threads per worker process (0: torch's default, one per core); 1 is much faster
    when several model-loading processes share few cores."""

    device: str = "auto"
    encoder: str = "packaged:all-MiniLM-L6-v2"
    generator: str = "packaged:SmolLM2-135M-Instruct"
    generator_quantize: str = "int4-weight"
    best_of_style_samples: int = 2
    model_cache_dir: str = "var/models"
    prior_precision: float = 1.0
    tie_strength: float = 0.5
    confident_votes: int = 20
    bank_bases: str = "factorization"
    torch_threads: int = 0


@lru_cache(maxsize=1)
def worker_config() -> WorkerConfig:
    raw = dict(settings.PERSONALIZATION)
    known = {f.name for f in fields(WorkerConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ImproperlyConfigured(f"unknown PERSONALIZATION keys: {sorted(unknown)}")
    config = WorkerConfig(**raw)
    if config.prior_precision <= 0 or config.tie_strength < 0 or config.confident_votes < 1 or config.torch_threads < 0:
        raise ImproperlyConfigured("PERSONALIZATION: prior_precision > 0, tie_strength >= 0, confident_votes >= 1")
    if config.best_of_style_samples < 1:
        raise ImproperlyConfigured("PERSONALIZATION best_of_style_samples (TAILOR_BEST_OF_STYLE_SAMPLES) must be >= 1")
    if config.generator_quantize not in QUANTIZE_MODES:
        raise ImproperlyConfigured(f"PERSONALIZATION generator_quantize (TAILOR_GENERATOR_QUANTIZE) must be one of "
                                   f"{QUANTIZE_MODES}, not {config.generator_quantize!r}")
    if config.bank_bases not in BASES:
        raise ImproperlyConfigured(f"PERSONALIZATION bank_bases (TAILOR_BANK_BASES) must be one of {BASES}, "
                                   f"not {config.bank_bases!r}")
    return config
