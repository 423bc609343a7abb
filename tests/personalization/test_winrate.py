from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from personalization.bench.simulated import SimulatedConfig
from personalization.bench.winrate import METHODS, WinRateConfig, prompts_read, winrate_run
from personalization.guidance import Style, styles_read
from personalization.lm_encoder import LMEncoderConfig, LMHiddenStateEncoder
from personalization.population import PopulationConfig
from tests.personalization.test_generation import tiny_generator
from tests.personalization.test_lm_encoder import _tiny_lm

TINY_POPULATION = PopulationConfig(ranks=(1,), l2_scales=(1.0,), meta_steps=5, k_range=(1, 2), n_samples=4,
                                   tie_strength=0.0)


def _pool(path: Path, dim: int, prompts: int = 6, per: int = 5) -> Path:
    rng = np.random.default_rng(0)
    texts = ["Sure!", "1. Step one\n2. Step two", "I think it might work, perhaps?", "This is wonderful, I love it.",
             "A long detailed answer " * 10]
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"header": {"format": 1}}) + "\n")
        for p in range(prompts):
            responses = [{"text": texts[s] + f" ({p})", "axis_scores": rng.random(8).tolist(),
                          "embedding": base64.b64encode(rng.standard_normal(dim).astype(np.float32).tobytes()).decode()}
                         for s in range(per)]
            handle.write(json.dumps({"text": f"prompt {p}", "responses": responses}) + "\n")
    return path


def test_winrate_reports_every_method_against_the_default(tmp_path: Path) -> None:
    encoder = LMHiddenStateEncoder(LMEncoderConfig(model_path=str(_tiny_lm(tmp_path / "lm")), device="cpu"))
    pool = _pool(tmp_path / "pool.jsonl.gz", dim=encoder.dim)
    cfg = WinRateConfig(n_users=2, votes=6, n_candidates=3, max_new_tokens=6,
                        styles=(Style("a", "w5 w6", 0.7), Style("b", "jokes tone", 0.5, prefix="w9")),
                        simulated=SimulatedConfig(n_train_users=12, votes_per_train_user=10,
                                                  population=TINY_POPULATION))
    checkpoints: list[dict[str, object]] = []
    report = winrate_run(pool, ["w1 w2 you prefer", "w3 jokes tone"], tiny_generator(), encoder, cfg,
                         log=lambda _: None, checkpoint=checkpoints.append)
    win_rate = report["win_rate"]
    assert isinstance(win_rate, dict) and set(win_rate) == set(METHODS)
    assert all(0.0 <= rate <= 1.0 for rate in win_rate.values())
    assert report["best_method"] in METHODS and report["n_prompts"] == 2
    diagnostics = report["diagnostics_win_rate"]
    assert isinstance(diagnostics, dict)
    for method in ("best-of-n", "styled-best-of-n"):  # the true reward's pick bounds any reranker's
        assert diagnostics[f"{method}, true reward picks"] >= max(win_rate[method], diagnostics[f"{method}, all bases"])
    assert len(report["summaries"]) == 2  # type: ignore[arg-type]
    assert [c["prompts_done"] for c in checkpoints] == [1, 2]  # a stopped run keeps what it finished


def test_unknown_method_and_styled_best_of_n_without_styles_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown methods"):
        WinRateConfig(methods=("telepathy",))
    with pytest.raises(ValueError, match="two styles"):
        WinRateConfig(methods=("styled-best-of-n",))


def test_styles_read_takes_the_demo_library_format() -> None:
    styles = styles_read(Path(__file__).parents[2] / "webapp" / "catalog" / "demo" / "prompts.json")
    assert len(styles) == 8 and {s.name for s in styles} >= {"concise", "detailed"}


def test_prompts_read_takes_the_koala_format_and_a_limit(tmp_path: Path) -> None:
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps([{"id": "0", "prompt": "a"}, {"id": "1", "prompt": "b"}, "c"]))
    assert prompts_read(path) == ["a", "b", "c"]
    assert prompts_read(path, limit=1) == ["a"]
    path.write_text("{}")
    with pytest.raises(ValueError, match="non-empty JSON list"):
        prompts_read(path)
