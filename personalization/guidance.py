"""Personalised decoding: best-of-N reranking and decoding-time guidance (PAD).

Best-of-N samples N answers and keeps the one the user's reward ranks first (Stiennon et al. 2020, "Learning to
summarize from human feedback", best-of-N against a reward model); ``best_of_styles`` draws its N candidates from
contrasting style instructions instead of one distribution, so the candidates differ where users differ. PAD
steers every token instead: Chen et al. 2024, "PAD: Personalized Alignment of LLMs at Decoding-Time" — the base
model proposes its top-k tokens and each is rescored with a personalised token-level reward, here
``log π(a | x, summary) − log π(a | x)``, the change the user's preference summary makes to the model's own
belief. Both take the user's reward as a plain callable ``score_fn(prompt, texts) -> list[float]`` so this module
never depends on how that reward is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from personalization.generation import Generator, SamplingConfig, TextStream, logits_sample
from personalization.summaries import Summary, summary_messages

ScoreFn = Callable[[str, list[str]], list[float]]
"""A user's reward over candidate answers to one prompt: ``score_fn(prompt, texts) -> one score per text``."""


@dataclass
class Ranked:
    """Best-of-N outcome: every candidate with its score, best first."""

    texts: list[str]
    scores: list[float]

    @property
    def best(self) -> str:
        return self.texts[0]


def rerank(prompt: str, texts: list[str], score_fn: ScoreFn, instructions: tuple[str, ...] = ()) -> Ranked:
    """Order ``texts`` by ``score_fn`` (highest first; ties keep sampling order). Degenerate texts
    (``personalization.degenerate``: empty, skeleton lists, loops, instruction leaks) go after every clean one
    whatever their score, so best-of-N never picks one while a clean candidate exists."""
    from personalization.degenerate import is_degenerate

    scores = [float(s) for s in score_fn(prompt, texts)]
    if len(scores) != len(texts):
        raise ValueError(f"score_fn returned {len(scores)} scores for {len(texts)} texts")
    broken = [is_degenerate(text, prompt=prompt, instructions=instructions) for text in texts]
    order = sorted(range(len(texts)), key=lambda i: (broken[i], -scores[i]))
    return Ranked(texts=[texts[i] for i in order], scores=[scores[i] for i in order])


@dataclass(frozen=True)
class Style:
    """A contrasting style instruction for candidates: system prompt, sampling temperature, answer prefix and its
    own token limit (``None``: the caller's)."""

    name: str
    system: str
    temperature: float = 0.7
    prefix: str = ""
    max_new_tokens: int | None = None


def styles_read(path: str | Path) -> tuple[Style, ...]:
    """Styles from a JSON file with a ``styles`` list of ``{name, system, temperature?, prefix?, max_new_tokens?}``
    (the demo library's ``prompts.json``)."""
    rows = json.loads(Path(path).read_text(encoding="utf-8")).get("styles")
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty 'styles' list")
    try:
        return tuple(Style(name=str(r["name"]), system=str(r["system"]), temperature=float(r.get("temperature", 0.7)),
                           prefix=str(r.get("prefix", "")),
                           max_new_tokens=int(r["max_new_tokens"]) if r.get("max_new_tokens") else None)
                     for r in rows)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: every style needs a name and a system prompt ({exc})") from exc


def styled_candidates(
    generator: Generator, messages: list[dict[str, str]], styles: tuple[Style, ...], max_new_tokens: int,
    top_p: float = 0.9, seed: int = 0, samples: int = 1,
) -> list[str]:
    """``samples`` answers per style, style by style in ``styles`` order: the style's system prompt before
    ``messages``, its temperature and prefix, at most ``min(style limit, max_new_tokens)`` tokens (never longer
    than the answer it competes with). Styles sharing a temperature and limit are sampled in one batch; sample k
    uses seed ``seed + 1000 k``."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, not {samples}")
    answers: dict[tuple[int, int], str] = {}
    groups: dict[tuple[float, int], list[int]] = {}
    for i, st in enumerate(styles):
        limit = min(st.max_new_tokens or max_new_tokens, max_new_tokens)
        groups.setdefault((st.temperature, limit), []).append(i)
    for k in range(samples):
        for (temperature, limit), members in sorted(groups.items()):
            texts = generator.generate(
                [[{"role": "system", "content": styles[i].system}, *messages] for i in members],
                SamplingConfig(max_new_tokens=limit, temperature=temperature, top_p=top_p, seed=seed + 1000 * k),
                prefixes=[styles[i].prefix for i in members])
            answers.update({(i, k): text for i, text in zip(members, texts, strict=True)})
    return [answers[(i, k)] for i in range(len(styles)) for k in range(samples)]


def best_of_styles(
    generator: Generator, messages: list[dict[str, str]], styles: tuple[Style, ...], max_new_tokens: int,
    score_fn: ScoreFn, top_p: float = 0.9, seed: int = 0, samples: int = 1,
) -> Ranked:
    """Best-of-N over ``samples`` answers per contrasting style (``styled_candidates``; N = samples × styles),
    ranked by the user's reward."""
    texts = styled_candidates(generator, messages, styles, max_new_tokens, top_p, seed, samples)
    return rerank(_last_user_text(messages), texts, score_fn, tuple(style.system for style in styles))


def best_of_n(
    generator: Generator,
    messages: list[dict[str, str]],
    n: int,
    sampling: SamplingConfig,
    score_fn: ScoreFn,
) -> Ranked:
    """Sample ``n`` answers in one batch and rank them by the user's reward (best-of-N, Stiennon et al. 2020)."""
    texts = generator.generate_candidates(messages, n, sampling)
    return rerank(_last_user_text(messages), texts, score_fn)


@dataclass
class GuidanceConfig:
    """Decoding-time guidance (PAD) settings.

    beta: weight of the personalised token reward; 0 is plain decoding, 1 decodes as if the summary were in the
        system prompt, above 1 amplifies the summary's effect.
    top_k: how many of the base model's most likely tokens get rescored at each step; the rest keep their base
        score shifted by the lowest reward in the top-k, so they never overtake a rescored token.
    chunk_tokens: m; every m tokens, ``chunk_candidates`` sampled continuations are ranked by the user's reward
        and the best one is kept (0 turns chunk reranking off). Needs a ``score_fn`` and sampling.
    chunk_candidates: rows decoded side by side for chunk reranking.
    batch_passes: run the base and the summary-conditioned pass as one forward of twice the rows (faster than
        two forwards on CPU and GPU for small models); ``False`` runs two forwards.
    """

    beta: float = 1.5
    top_k: int = 20
    chunk_tokens: int = 0
    chunk_candidates: int = 4
    batch_passes: bool = True

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.chunk_tokens < 0 or self.chunk_candidates < 1:
            raise ValueError("GuidanceConfig needs top_k >= 1, chunk_tokens >= 0 and chunk_candidates >= 1")


def guided_logits(base: torch.Tensor, personal: torch.Tensor, beta: float, top_k: int) -> torch.Tensor:
    """PAD scores: base log-probs plus ``beta · [log π(a | x, s) − log π(a | x)]`` on the base top-k tokens.

    Chen et al. 2024 (PAD), token-level personalised reward restricted to the base model's top-k candidates.
    """
    # base, personal: (B, V) logits → (B, V) scores; beta == 0 returns base unchanged, bit for bit
    if beta == 0:
        return base
    base_lp = base.log_softmax(dim=-1)  # (B, V)
    reward = personal.log_softmax(dim=-1) - base_lp  # (B, V)
    top = base_lp.topk(min(top_k, base_lp.shape[-1]), dim=-1).indices  # (B, k)
    top_reward = reward.gather(-1, top)  # (B, k)
    floor = top_reward.min(dim=-1, keepdim=True).values  # (B, 1)
    shift = floor.expand_as(base_lp).clone()  # (B, V): unscored tokens get the most pessimistic reward
    shift.scatter_(-1, top, top_reward)
    return base_lp + beta * shift


class GuidedDecoder:
    """Decoding-time guidance (PAD, Chen et al. 2024) on a ``Generator``, with optional chunk-level reranking.

    Two KV-cached passes share one step loop: the chat as is, and the chat with the user's summary as system
    prompt. With ``beta == 0`` only the base pass runs and decoding equals ``Generator.stream`` token for token.
    """

    def __init__(self, generator: Generator, config: GuidanceConfig | None = None) -> None:
        self.generator = generator
        self.config = config or GuidanceConfig()

    @torch.inference_mode()
    def sample_ids(
        self,
        messages: list[dict[str, str]],
        summary: Summary | str,
        sampling: SamplingConfig,
        rows: int = 1,
        chunk_hook: Callable[[], torch.Tensor | None] | None = None,
    ) -> Iterator[torch.Tensor]:
        """Yield the next guided token of each of ``rows`` rows (finished rows yield the pad id).

        ``chunk_hook``, called every ``chunk_tokens`` steps, may return row indices ``(rows,)`` to keep
        (e.g. all rows copied from the best one).
        """
        cfg, gen = self.config, self.generator
        base_ids = gen.prompt_ids(messages)
        guided = cfg.beta != 0
        personal_ids = gen.prompt_ids(summary_messages(messages, summary)) if guided else []
        static = gen.config.kv_cache == "static"
        sessions = [gen.session(sampling.max_new_tokens)]
        if guided and cfg.batch_passes:
            prompts = [base_ids, personal_ids]
            logits = sessions[0].prefill([p for p in prompts for _ in range(rows)] if static else prompts)
        else:
            logits = sessions[0].prefill([base_ids] * (rows if static else 1))
            if guided:
                sessions.append(gen.session(sampling.max_new_tokens))
                logits = torch.cat([logits, sessions[1].prefill([personal_ids] * (rows if static else 1))])
        if not static:
            for session in sessions:
                session.expand(rows)
            logits = logits.repeat_interleave(rows, dim=0)  # (passes·rows, V)
        rng = gen.rng(sampling.seed)
        eos = torch.tensor(gen.eos_token_ids, device=gen.device)
        unfinished = torch.ones(rows, dtype=torch.bool, device=gen.device)
        pad = sessions[0].pad_token_id
        for step in range(sampling.max_new_tokens):
            scores = guided_logits(logits[:rows], logits[rows:], cfg.beta, cfg.top_k) if guided else logits
            tokens = torch.where(unfinished, logits_sample(scores, sampling, rng), pad)  # (rows,)
            yield tokens
            unfinished &= ~torch.isin(tokens, eos)
            if step == sampling.max_new_tokens - 1:
                return
            if chunk_hook is not None and cfg.chunk_tokens > 0 and (step + 1) % cfg.chunk_tokens == 0:
                keep = chunk_hook()
                if keep is not None:
                    keep = keep.to(gen.device)
                    for session in sessions:
                        session.select(torch.cat([keep, keep + rows]) if len(session.positions) > rows else keep)
                    unfinished = unfinished.index_select(0, keep)
                    tokens = tokens.index_select(0, keep)
            if not bool(unfinished.any()):
                return
            if len(sessions) == 1:
                logits = sessions[0].step(tokens.repeat(2) if guided else tokens)
            else:
                logits = torch.cat([sessions[0].step(tokens), sessions[1].step(tokens)])

    def stream(
        self,
        messages: list[dict[str, str]],
        summary: Summary | str,
        sampling: SamplingConfig,
        score_fn: ScoreFn | None = None,
    ) -> Iterator[str]:
        """Yield the guided answer as text deltas.

        Token by token without reranking; with ``chunk_tokens > 0`` and a ``score_fn``, ``chunk_candidates``
        rows are sampled and the text arrives chunk by chunk, each chunk the user's favourite continuation.
        """
        cfg, gen = self.config, self.generator
        rerank_on = score_fn is not None and cfg.chunk_tokens > 0 and sampling.temperature > 0
        rows = cfg.chunk_candidates if rerank_on else 1
        texts = [TextStream(gen.tokenizer, sampling.stop) for _ in range(rows)]
        ended = [False] * rows
        prompt = _last_user_text(messages)
        eos = set(gen.eos_token_ids)
        reranked = False

        def pick_best() -> torch.Tensor:
            nonlocal reranked
            assert score_fn is not None
            scores = score_fn(prompt, [t.text for t in texts])
            best = max(range(rows), key=lambda i: float(scores[i]))
            for i in range(rows):
                if i != best:
                    texts[i] = texts[best].copy()
                    ended[i] = ended[best]
            reranked = True
            return torch.full((rows,), best, dtype=torch.long)

        for tokens in self.sample_ids(
            messages, summary, sampling, rows=rows, chunk_hook=pick_best if rerank_on else None
        ):
            if reranked:  # every row is now a copy of the user's favourite: its text so far is final
                reranked = False
                delta = texts[0].flush_safe()
                for t in texts[1:]:
                    t.sent = texts[0].sent
                if delta:
                    yield delta
            for row, token in enumerate(tokens.tolist()):
                if ended[row] or texts[row].stopped:
                    continue
                if token in eos:
                    ended[row] = True
                    continue
                if rerank_on:
                    texts[row].hold(token)  # shown only once a rerank has chosen this row
                else:
                    delta = texts[row].push(token)
                    if delta:
                        yield delta
            if all(e or t.stopped for e, t in zip(ended, texts, strict=True)):
                break
        if rerank_on and rows > 1:
            pick_best()
        tail = texts[0].finish()
        if tail:
            yield tail

    def generate(
        self,
        messages: list[dict[str, str]],
        summary: Summary | str,
        sampling: SamplingConfig,
        score_fn: ScoreFn | None = None,
    ) -> str:
        """The guided answer in one piece (``"".join(stream(...))``, stripped)."""
        return "".join(self.stream(messages, summary, sampling, score_fn)).strip()


def _last_user_text(messages: list[dict[str, str]]) -> str:
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
