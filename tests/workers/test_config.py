from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from workers.config import worker_config


@pytest.fixture(autouse=True)
def _fresh_config():
    worker_config.cache_clear()
    yield
    worker_config.cache_clear()


def test_the_generator_decodes_with_int4_weights_and_best_of_n_draws_two_answers_per_style(settings) -> None:
    assert worker_config().generator_quantize == "int4-weight"
    assert worker_config().best_of_style_samples == 2


def test_the_bank_refit_learns_factorization_bases_by_default(settings) -> None:
    assert worker_config().bank_bases == "factorization"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("generator_quantize", "int3", "TAILOR_GENERATOR_QUANTIZE"),
    ("prior_precision", 0.0, "prior_precision"),
    ("best_of_style_samples", 0, "TAILOR_BEST_OF_STYLE_SAMPLES"),
    ("bank_bases", "svd", "TAILOR_BANK_BASES"),
    ("gpu_layers", 4, "unknown PERSONALIZATION keys"),
])
def test_bad_worker_settings_fail_loudly(settings, key: str, value: object, message: str) -> None:
    with override_settings(PERSONALIZATION={**settings.PERSONALIZATION, key: value}), \
            pytest.raises(ImproperlyConfigured, match=message):
        worker_config()
