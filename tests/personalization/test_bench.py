from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from personalization.bench.__main__ import main
from personalization.bench.hh import HHConfig, hh_run, pseudo_users
from personalization.bench.hh_data import PairSet, rows_read, rows_split
from personalization.bench.refit import refit_timing
from personalization.bench.simulated import SimulatedConfig, pool_read, simulated_run
from personalization.embedding_cache import EmbeddingCache, text_key
from personalization.encoder import PACKAGED_MINILM
from personalization.population import PopulationConfig

TINY_POPULATION = PopulationConfig(ranks=(1, 2), meta_steps=10, k_range=(1, 2), n_samples=8)


def _hh_rows(n: int = 80, seed: int = 0) -> list[dict[str, object]]:
    """Two user types: 'helpful' prefers the longer answer, 'harmless' the one that says 'careful'."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        short, long = f"Answer {i}.", f"Answer {i} " + "with many more details " * int(rng.integers(2, 6))
        careful = rng.random() < 0.5
        a, b = (short + " Be careful.", long) if careful else (short, long + " Be careful.")
        objective = "helpful" if i % 2 else "harmless"
        label = (1 if careful else 0) if objective == "helpful" else (0 if careful else 1)
        rows.append({"prompt": f"Question {i}?", "responses": [a, b], "label": label, "objective": objective})
    return rows


def _pairset(n: int, d: int = 8, seed: int = 0) -> PairSet:
    gen = torch.Generator().manual_seed(seed)
    e1, e2 = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    objective = torch.arange(n) % 2
    sign = torch.where(objective == 0, 1.0, -1.0)
    outcome = torch.where(sign * (e1 - e2)[:, 0] > 0, 1, -1)
    return PairSet(e1, e2, torch.rand(n, 8, generator=gen), torch.rand(n, 8, generator=gen), outcome, objective)


def test_pseudo_users_each_hold_pairs_of_a_single_type() -> None:
    objective = torch.arange(200) % 2
    rows, users = pseudo_users(objective, HHConfig(pseudo_user_size=(10, 20), pseudo_user_passes=2))
    for user in set(users):
        types = {int(objective[rows[i]]) for i, u in enumerate(users) if u == user}
        assert len(types) == 1
    assert len(rows) >= 380  # every pair in (almost) every pass


def test_rows_split_is_deterministic_and_disjoint() -> None:
    rows = _hh_rows(50)
    train, test = rows_split(rows, seed=3)
    again, _ = rows_split(rows, seed=3)
    assert train == again and len(train) == 35 and len(test) == 15
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}


def test_hh_run_reports_every_method_and_personalization_beats_population() -> None:
    report = hh_run(_pairset(400), _pairset(200, seed=1), HHConfig(n_users=8, shots=(1, 10), seed=0,
                                                                    pseudo_user_size=(10, 20), population=TINY_POPULATION),
                    log=lambda _: None)
    accuracy = report["accuracy"]
    assert isinstance(accuracy, dict)
    assert set(accuracy) == {"population", "zero-prior", "meta-prior", "prototypes", "tailor", "oracle"}
    assert accuracy["tailor"]["10"] > accuracy["population"]["10"] + 0.2
    assert accuracy["oracle"]["1"] > 0.9


@pytest.mark.parametrize("bases", ["mixture", "factorization"])
def test_cli_hh_writes_the_json_report_without_loading_a_model(tmp_path: Path, bases: str) -> None:
    rows = _hh_rows(200)
    data = tmp_path / "hh.jsonl.gz"
    with gzip.open(data, "wt") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    cache = EmbeddingCache(tmp_path / "cache", PACKAGED_MINILM)  # pre-filled: the CLI must not need MiniLM
    gen = torch.Generator().manual_seed(0)
    for row in rows_read(data):
        responses = row["responses"]
        assert isinstance(responses, list)
        for response in responses:
            cache.put([text_key(str(row["prompt"]), str(response))], torch.randn(1, 4, generator=gen))
    cache.save()
    out = tmp_path / "report.json"
    main(["hh", "--split-from", str(data), "--users", "4", "--json", str(out), "--cache-dir", str(tmp_path / "cache"),
          "--plot", str(tmp_path / "plot.png"), "--ranks", "1", "--meta-steps", "10", "--encoder", "minilm",
          "--bases", bases])
    report = json.loads(out.read_text())
    assert report["protocol"] == "hh" and report["shots"] == [1, 2, 5, 10, 20]
    assert set(report["ci95"]) == set(report["accuracy"])
    assert (tmp_path / "plot.png").stat().st_size > 0


def _tiny_pool(path: Path, prompts: int = 8, per: int = 6) -> Path:
    rng = np.random.default_rng(0)
    texts = ["Sure!", "1. Step one\n2. Step two", "I think it might work, perhaps?", "This is wonderful, I love it.",
             "Terrible idea, avoid it.", "A long detailed answer " * 10]
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"header": {"format": 1}}) + "\n")
        for p in range(prompts):
            responses = [{"style": str(s), "text": texts[s] + f" ({p})", "axis_scores": rng.random(8).tolist(),
                          "embedding": base64.b64encode(rng.standard_normal(6).astype(np.float32).tobytes()).decode()}
                         for s in range(per)]
            handle.write(json.dumps({"domain": "d", "text": f"prompt {p}", "responses": responses}) + "\n")
    return path


def test_pool_read_decodes_embeddings(tmp_path: Path) -> None:
    pool = pool_read(_tiny_pool(tmp_path / "pool.jsonl.gz"))
    assert pool.embeddings.shape == (48, 6) and pool.axes.shape == (48, 8)
    assert int(pool.prompt_of.max()) == 7


def test_simulated_run_reports_methods_and_active_curves(tmp_path: Path) -> None:
    cfg = SimulatedConfig(n_train_users=20, votes_per_train_user=20, n_test_users=3, shots=(1, 5),
                          active_shots=(1, 3), active_users=2, active_candidates=20, query_pairs=30,
                          population=TINY_POPULATION)
    report = simulated_run(_tiny_pool(tmp_path / "pool.jsonl.gz"), cfg, log=lambda _: None)
    accuracy, active = report["accuracy"], report["active"]
    assert isinstance(accuracy, dict) and isinstance(active, dict)
    assert set(active) == {"random", "uncertainty", "information"}
    assert set(active["information"]) == {"1", "3"}
    assert 0.0 <= accuracy["oracle"]["1"] <= 1.0


def test_refit_timing_writes_its_figures(tmp_path: Path) -> None:
    report = refit_timing(n_votes=20, dims=(4,), repeats=3, out_dir=tmp_path)
    figures = report["figures"]
    assert isinstance(figures, dict) and figures["4"]["fit_ms_median"] > 0
    assert json.loads((tmp_path / "refit.json").read_text())["n_votes"] == 20


@pytest.mark.parametrize("argv", [["hh"], ["hh", "--train", "x.jsonl"]])
def test_cli_hh_without_data_files_exits_with_a_message(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)


def test_population_fit_gives_the_worker_a_profile_and_a_reranking() -> None:
    from personalization.population import Population, population_fit

    pairs = _pairset(300)
    users = [i // 30 for i in range(300)]
    fitted = population_fit(users=users, axes_first=pairs.axes_first, axes_second=pairs.axes_second,
                            emb_first=pairs.emb_first, emb_second=pairs.emb_second, outcomes=pairs.outcome,
                            pool_axes=torch.cat([pairs.axes_first, pairs.axes_second]), config=TINY_POPULATION)
    diffs = fitted.diffs(pairs.axes_first[:5], pairs.emb_first[:5], pairs.axes_second[:5], pairs.emb_second[:5])
    individual, posterior = fitted.user_fit(diffs, pairs.outcome[:5])
    assert individual.n_votes_ == 5 and torch.allclose(posterior.responsibilities.sum(), torch.tensor(1.0).double())
    features = fitted.bank.features(pairs.axes_first[:4], pairs.emb_first[:4])
    assert fitted.score(features, individual, posterior).shape == (4,)
    again = Population.from_state(json.loads(json.dumps(fitted.to_state())))
    assert torch.allclose(again.diffs(pairs.axes_first[:5], pairs.emb_first[:5], pairs.axes_second[:5],
                                      pairs.emb_second[:5]), diffs, atol=1e-5)


def test_cross_fitted_prior_and_prototypes_come_from_the_held_out_users() -> None:
    from personalization.population import VoteRows, population_fit

    bank_pairs, held = _pairset(200), _pairset(120, seed=3)
    meta_users = [f"m{i // 20}" for i in range(120)]
    fitted = population_fit(
        users=[i // 20 for i in range(200)], axes_first=bank_pairs.axes_first, axes_second=bank_pairs.axes_second,
        emb_first=bank_pairs.emb_first, emb_second=bank_pairs.emb_second, outcomes=bank_pairs.outcome,
        pool_axes=bank_pairs.axes_first, config=TINY_POPULATION,
        meta_votes=VoteRows(users=meta_users, axes_first=held.axes_first, axes_second=held.axes_second,
                            emb_first=held.emb_first, emb_second=held.emb_second, outcomes=held.outcome),
    )
    assert fitted.prototypes.member_keys_ == [f"m{i}" for i in range(6)]
    assert fitted.user_weights.shape == (6, fitted.bank.dim)


def test_a_periodic_refit_bumps_the_bank_version_and_keeps_prototype_ids() -> None:
    from personalization.population import population_fit

    pairs = _pairset(300)
    kwargs = dict(users=[i // 30 for i in range(300)], axes_first=pairs.axes_first, axes_second=pairs.axes_second,
                  emb_first=pairs.emb_first, emb_second=pairs.emb_second, outcomes=pairs.outcome,
                  pool_axes=pairs.axes_first, config=TINY_POPULATION)
    first = population_fit(**kwargs)  # type: ignore[arg-type]
    second = population_fit(**kwargs, previous=first)  # type: ignore[arg-type]
    assert second.bank.version == first.bank.version + 1
    assert sorted(second.prototypes.ids_) == sorted(first.prototypes.ids_)
