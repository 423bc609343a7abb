"""The ``winrate`` protocol: personalized answers vs the default answer, judged by simulated users' *true* reward.

Simulated users are the ``simulated`` protocol's (PersonalLLM, Zollo et al. 2024): Dirichlet(α) mixtures of
independent judges the model never sees. Each test user votes on ``votes`` pool pairs (Bradley–Terry on the true
reward); Tailor fits them exactly as the worker does (the meta-learned prior's MAP + Laplace fit, the prototype
posterior) and writes the grounded summary (POPI). Then, for every evaluation prompt, the default answer is compared
with each way of personalizing it:

- ``summary``: the summary in the system prompt (POPI), same sampling seed as the default;
- ``best-of-n``: N samples reranked by the user's reward with dual-granularity test-time scaling (P-GenRM), on the
  named-axes part of the reward (``BaseRewardBank.named_features``: the latent bases do not transfer to new text);
- ``pad``: decoding-time guidance (PAD) with the summary, same seed as the default;
- ``summary+best-of-n``: N summary-conditioned samples reranked by the user's reward (what the compare page's
  best-of-N does);
- ``styled-best-of-n``: one answer per contrasting style instruction (``guidance.best_of_styles``, what the
  compare page's best-of-N does), reranked the same way; each style keeps its temperature, capped at the
  default's token budget so no answer wins on length it was allowed and the default was not.

For the reranking methods the report also gives, as diagnostics, the win rate when the full reward (latent bases
included) ranks the same candidates, and when the user's true reward does (the candidates' ceiling).

A method wins on a prompt when its answer's true reward beats the default's (a tie counts one half). The default and
the base candidates are shared by every user, so their differences come from personalization only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from personalization.axes import axes_score
from personalization.bench.simulated import (
    SimulatedConfig,
    _pairs,
    _votes,
    judges_apply,
    judges_standardised,
    pool_read,
    training_population,
    user_mixtures,
)
from personalization.bench.stats import mean_ci95
from personalization.embedding_cache import PairEncoder
from personalization.encoder import EncoderConfig, SentenceEncoder
from personalization.generation import Generator, GeneratorConfig, SamplingConfig
from personalization.guidance import (
    GuidanceConfig,
    GuidedDecoder,
    ScoreFn,
    Style,
    rerank,
    styled_candidates,
)
from personalization.population import Population
from personalization.prototypes import PrototypePosterior
from personalization.summaries import summary_from_weights, summary_messages
from personalization.user_model import UserRewardModel

METHODS = ("summary", "best-of-n", "pad", "summary+best-of-n", "styled-best-of-n")


@dataclass
class WinRateConfig:
    """Protocol settings.

    n_users: simulated test users; votes: pool votes each gives before generation; n_candidates: N of best-of-N;
    styles, samples_per_style: styled best-of-N's candidates (N = samples_per_style × styles);
    max_new_tokens / temperature / top_p: sampling of every answer; beta_pad, top_k_pad: PAD's β and k;
    methods: which personalization methods to run; simulated: the users' distribution and the population fit.
    """

    n_users: int = 4
    votes: int = 20
    n_candidates: int = 8
    max_new_tokens: int = 96
    temperature: float = 0.7
    top_p: float = 0.9
    beta_pad: float = 1.5
    top_k_pad: int = 20
    methods: tuple[str, ...] = METHODS
    styles: tuple[Style, ...] = ()
    samples_per_style: int = 2
    seed: int = 0
    simulated: SimulatedConfig = field(default_factory=SimulatedConfig)

    def __post_init__(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}: choose from {METHODS}")
        if "styled-best-of-n" in self.methods and len(self.styles) < 2:
            raise ValueError("styled-best-of-n needs at least two styles")
        if (self.n_users < 1 or self.votes < 1 or self.n_candidates < 2 or self.max_new_tokens < 1
                or self.samples_per_style < 1):
            raise ValueError("winrate needs n_users >= 1, votes >= 1, n_candidates >= 2, max_new_tokens >= 1 and "
                             "samples_per_style >= 1")


@dataclass
class SimulatedUser:
    """A test user: the true judge mixture (hidden from the model) and what Tailor learned from their votes."""

    mix: torch.Tensor  # (J,)
    individual: UserRewardModel
    posterior: PrototypePosterior
    summary: str

    def scorer(self, population: Population, feats: torch.Tensor) -> ScoreFn:
        """The user's reward over candidates ``feats`` (N, K) as a best-of-N score function, with
        dual-granularity test-time scaling (P-GenRM)."""

        def score(prompt: str, texts: list[str]) -> list[float]:
            samples = torch.Generator().manual_seed(0)
            return population.score(feats, self.individual, self.posterior, samples).tolist()

        return score


def prompts_read(path: str | Path, limit: int | None = None) -> list[str]:
    """Evaluation prompts from a JSON list of ``{"id", "prompt"}`` (the Koala format) or of strings."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty JSON list of prompts")
    prompts = [row["prompt"] if isinstance(row, dict) else str(row) for row in rows]
    return prompts[:limit] if limit else prompts


def winrate_run(
    pool_path: str | Path,
    prompts: list[str],
    generator: Generator,
    encoder: PairEncoder,
    cfg: WinRateConfig,
    log: Callable[[str], None] = print,
    checkpoint: Callable[[dict[str, object]], None] | None = None,
) -> dict[str, object]:
    """Fit the population on simulated training users, then measure each method's win rate over the default.

    ``checkpoint`` receives the report so far after every prompt (a long run stopped early keeps its figures).
    """
    sim = cfg.simulated
    pool = pool_read(pool_path)
    gen = torch.Generator().manual_seed(cfg.seed)
    judges = judges_standardised(pool.texts)
    dirichlet = user_mixtures(sim.alpha)
    fitted, _, _ = training_population(pool, judges.z, dirichlet, sim, gen, log)
    bank = fitted.bank
    phi = bank.features(pool.axes, pool.embeddings).double()  # (R, K)
    all_prompts = torch.arange(int(pool.prompt_of.max()) + 1)

    users: list[SimulatedUser] = []
    for _ in range(cfg.n_users):
        mix = dirichlet.sample()  # (J,)
        pairs = _pairs(pool.prompt_of, all_prompts, cfg.votes, gen)
        outcomes = _votes(sim.beta * judges.z @ mix, pairs, gen)
        individual, posterior = fitted.user_fit(phi[pairs[:, 0]] - phi[pairs[:, 1]], outcomes)
        stds = individual.covariance_.diagonal().clamp(min=0).sqrt()
        summary = summary_from_weights(bank.names_, individual.weights_.tolist(), stds.tolist())
        users.append(SimulatedUser(mix=mix, individual=individual, posterior=posterior, summary=summary.text))
    log(f"{cfg.n_users} simulated users fitted on {cfg.votes} votes each; summaries: "
        + " | ".join(u.summary for u in users))

    def axes_of(prompt: str, texts: list[str]) -> torch.Tensor:
        return torch.tensor([axes_score(prompt, t) for t in texts], dtype=torch.float32)  # (N, A)

    def features(prompt: str, texts: list[str]) -> torch.Tensor:
        """(N, K) what reranking sees: the named axes of fresh text (``named_features``)."""
        return bank.named_features(axes_of(prompt, texts)).double()

    def rerank_inputs(prompt: str, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Shared by every user: what reranking sees (N, K), every basis for the diagnostic (N, K), and the judges'
        scores (N, J) that each user's true reward mixes."""
        scores = axes_of(prompt, texts)
        every_basis = bank.features(scores, encoder.encode([prompt] * len(texts), texts)).double()
        return bank.named_features(scores).double(), every_basis, judges_apply(judges, texts)

    def true_reward(mix: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return sim.beta * judges_apply(judges, texts) @ mix  # (N,)

    def sampling(seed: int) -> SamplingConfig:
        return SamplingConfig(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                              seed=seed)

    decoder = GuidedDecoder(generator, GuidanceConfig(beta=cfg.beta_pad, top_k=cfg.top_k_pad))
    wins: dict[str, list[float]] = {m: [] for m in cfg.methods}
    gains: dict[str, list[float]] = {m: [] for m in cfg.methods}
    diagnostics: dict[str, list[float]] = {}  # "<method>, all bases" / "<method>, true reward picks"

    def win(delta: float) -> float:
        return 1.0 if delta > 1e-9 else 0.5 if abs(delta) <= 1e-9 else 0.0

    def rerank_diagnostics(method: str, user: SimulatedUser, judged: torch.Tensor, every_basis: torch.Tensor,
                           default_reward: torch.Tensor) -> None:
        rewards = sim.beta * judged @ user.mix  # (N,)
        by_all = int(fitted.score(every_basis, user.individual, user.posterior, torch.Generator().manual_seed(0))
                     .argmax())
        diagnostics.setdefault(f"{method}, all bases", []).append(win(float(rewards[by_all] - default_reward)))
        diagnostics.setdefault(f"{method}, true reward picks", []).append(
            win(float(rewards.max() - default_reward)))
    examples: list[dict[str, object]] = []

    def report() -> dict[str, object]:
        return {
            "protocol": "winrate", "n_prompts": len(prompts),
            "prompts_done": len(wins[cfg.methods[0]]) // cfg.n_users, "n_users": cfg.n_users, "votes": cfg.votes,
            "n_candidates": cfg.n_candidates, "samples_per_style": cfg.samples_per_style,
            "n_styled_candidates": cfg.samples_per_style * len(cfg.styles), "max_new_tokens": cfg.max_new_tokens,
            "alpha": sim.alpha,
            "beta": sim.beta, "seed": cfg.seed, "judges_never_seen_by_the_model": True,
            "win_rate": {m: mean_ci95(v)[0] for m, v in wins.items()},
            "ci95": {m: mean_ci95(v)[1] for m, v in wins.items()},
            "mean_true_reward_gain": {m: mean_ci95(v)[0] for m, v in gains.items()},
            "best_method": max(wins, key=lambda m: mean_ci95(wins[m])[0]),
            "diagnostics_win_rate": {k: mean_ci95(v)[0] for k, v in diagnostics.items()},
            "summaries": [u.summary for u in users],
            "examples": examples,
        }

    for p, prompt in enumerate(tqdm(prompts, desc="prompts", unit="prompt")):
        messages = [{"role": "user", "content": prompt}]
        # candidate 0 is the default answer; the others are best-of-N's pool (shared by every user)
        base = generator.generate_candidates(messages, cfg.n_candidates + 1, sampling(p))
        default, candidates = base[0], base[1:]
        plain = rerank_inputs(prompt, candidates) if "best-of-n" in cfg.methods else None
        default_judged = judges_apply(judges, [default])[0]  # (J,)
        conditioned = [summary_messages(messages, u.summary) for u in users]
        summary_answers = (generator.generate(conditioned, sampling(p)) if "summary" in cfg.methods
                           else [""] * len(users))
        styled: list[str] = []
        if "styled-best-of-n" in cfg.methods:
            styled = styled_candidates(generator, messages, cfg.styles, cfg.max_new_tokens, cfg.top_p, seed=p,
                                       samples=cfg.samples_per_style)
            styled_features, styled_all, styled_judged = rerank_inputs(prompt, styled)
        for u, user in enumerate(users):
            answers: dict[str, str] = {}
            if "summary" in cfg.methods:
                answers["summary"] = summary_answers[u]
            default_reward = sim.beta * default_judged @ user.mix
            if plain is not None:
                answers["best-of-n"] = rerank(prompt, candidates, user.scorer(fitted, plain[0])).best
                rerank_diagnostics("best-of-n", user, plain[2], plain[1], default_reward)
            if styled:
                answers["styled-best-of-n"] = rerank(prompt, styled, user.scorer(fitted, styled_features)).best
                rerank_diagnostics("styled-best-of-n", user, styled_judged, styled_all, default_reward)
            if "pad" in cfg.methods:
                answers["pad"] = decoder.generate(messages, user.summary, sampling(p))
            if "summary+best-of-n" in cfg.methods:
                texts = generator.generate_candidates(conditioned[u], cfg.n_candidates, sampling(p + 10_000))
                answers["summary+best-of-n"] = rerank(prompt, texts, user.scorer(fitted, features(prompt, texts))).best
            methods = list(answers)
            rewards = true_reward(user.mix, [default, *answers.values()])  # (1 + M,)
            for m, method in enumerate(methods, start=1):
                delta = float(rewards[m] - rewards[0])
                wins[method].append(win(delta))
                gains[method].append(delta)
            if p < 2:
                examples.append({"prompt": prompt, "user": u, "user_summary": user.summary, "default": default,
                                 **answers})
        if checkpoint is not None:
            checkpoint(report())
    return report()


def winrate_main(pool: str, prompts_path: str, limit: int | None, device: str, cache_dir: str,
                 cfg: WinRateConfig,
                 checkpoint: Callable[[dict[str, object]], None] | None = None) -> dict[str, object]:
    """Load the packaged models (or the configured ones) and run the protocol."""
    generator = Generator(GeneratorConfig(cache_dir=cache_dir, device=device, quantize="int4-weight"))  # as workers
    encoder = SentenceEncoder(EncoderConfig(device=device))
    return winrate_run(pool, prompts_read(prompts_path, limit), generator, encoder, cfg, checkpoint=checkpoint)
