from __future__ import annotations

import pytest
import torch

from personalization.generation import Generator, SamplingConfig
from personalization.guidance import (
    GuidanceConfig,
    GuidedDecoder,
    Style,
    best_of_n,
    best_of_styles,
    guided_logits,
    rerank,
    styled_candidates,
    styles_read,
)
from tests.personalization.test_generation import MESSAGES, tiny_generator

SUMMARY = "You prefer short answers w40 w41 w42 rather than jokes"
GREEDY = SamplingConfig(max_new_tokens=12, temperature=0.0)
SAMPLED = SamplingConfig(max_new_tokens=12, temperature=1.0, top_p=0.9, seed=11)


@pytest.fixture(scope="module")
def generator() -> Generator:
    return tiny_generator()


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_beta_zero_is_plain_decoding_token_for_token(generator: Generator, sampling: SamplingConfig) -> None:
    plain = list(generator.stream(MESSAGES, sampling))
    guided = list(GuidedDecoder(generator, GuidanceConfig(beta=0.0)).stream(MESSAGES, SUMMARY, sampling))
    assert guided == plain


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_positive_beta_changes_the_chosen_tokens(generator: Generator, sampling: SamplingConfig) -> None:
    plain = "".join(generator.stream(MESSAGES, sampling))
    guided = GuidedDecoder(generator, GuidanceConfig(beta=3.0, top_k=20)).generate(MESSAGES, SUMMARY, sampling)
    assert guided != plain.strip()


def test_beta_one_with_full_top_k_decodes_like_the_summary_in_the_system_prompt(generator: Generator) -> None:
    from personalization.summaries import summary_messages

    vocab = len(generator.tokenizer)
    guided = GuidedDecoder(generator, GuidanceConfig(beta=1.0, top_k=vocab)).generate(MESSAGES, SUMMARY, GREEDY)
    conditioned = "".join(generator.stream(summary_messages(MESSAGES, SUMMARY), GREEDY)).strip()
    assert guided == conditioned


def test_one_batched_forward_equals_two_separate_passes(generator: Generator) -> None:
    batched = GuidedDecoder(generator, GuidanceConfig(beta=2.0, batch_passes=True))
    separate = GuidedDecoder(generator, GuidanceConfig(beta=2.0, batch_passes=False))
    assert batched.generate(MESSAGES, SUMMARY, GREEDY) == separate.generate(MESSAGES, SUMMARY, GREEDY)
    assert batched.generate(MESSAGES, SUMMARY, SAMPLED) == separate.generate(MESSAGES, SUMMARY, SAMPLED)


def test_static_cache_guides_like_the_dynamic_one(generator: Generator) -> None:
    static = GuidedDecoder(tiny_generator(kv_cache="static"), GuidanceConfig(beta=2.0))
    dynamic = GuidedDecoder(generator, GuidanceConfig(beta=2.0))
    assert static.generate(MESSAGES, SUMMARY, SAMPLED) == dynamic.generate(MESSAGES, SUMMARY, SAMPLED)


def test_guided_stream_is_token_by_token_and_seeded(generator: Generator) -> None:
    decoder = GuidedDecoder(generator, GuidanceConfig(beta=2.0))
    deltas = list(decoder.stream(MESSAGES, SUMMARY, SAMPLED))
    assert len(deltas) > 1
    assert list(decoder.stream(MESSAGES, SUMMARY, SAMPLED)) == deltas


def test_guided_logits_rescore_only_the_base_top_k() -> None:
    gen = torch.Generator().manual_seed(0)
    base, personal = torch.randn(3, 50, generator=gen), torch.randn(3, 50, generator=gen)  # (B, V)
    assert torch.equal(guided_logits(base, personal, 0.0, 5), base)
    scores = guided_logits(base, personal, 4.0, 5)
    top = base.topk(5, dim=-1).indices  # (B, k)
    rest = torch.ones_like(base, dtype=torch.bool).scatter(-1, top, False)
    lowest_top = scores.gather(-1, top).min(dim=-1).values  # (B,)
    highest_rest = scores.masked_fill(~rest, -float("inf")).max(dim=-1).values
    assert bool((lowest_top >= highest_rest).all())
    full = guided_logits(base, personal, 1.0, 50)
    assert torch.allclose(full.softmax(-1), personal.softmax(-1), atol=1e-5)


def test_chunk_rerank_keeps_the_continuation_the_user_prefers(generator: Generator) -> None:
    calls: list[tuple[str, list[str]]] = []

    def score_fn(prompt: str, texts: list[str]) -> list[float]:
        calls.append((prompt, texts))
        return [-float(len(t)) for t in texts]  # this user likes short words

    reranked = GuidedDecoder(generator, GuidanceConfig(beta=1.0, chunk_tokens=3, chunk_candidates=4))
    unguided = GuidedDecoder(generator, GuidanceConfig(beta=1.0))
    sampling = SamplingConfig(max_new_tokens=12, temperature=1.0, seed=5)
    deltas = list(reranked.stream(MESSAGES, SUMMARY, sampling, score_fn=score_fn))
    assert calls and all(prompt == MESSAGES[0]["content"] and len(texts) == 4 for prompt, texts in calls)
    assert "".join(deltas).strip() == min(calls[-1][1], key=len).strip()
    lengths = {"reranked": 0, "unguided": 0}
    for seed in range(6):
        sampling = SamplingConfig(max_new_tokens=12, temperature=1.0, seed=seed)
        lengths["reranked"] += len(reranked.generate(MESSAGES, SUMMARY, sampling, score_fn=score_fn))
        lengths["unguided"] += len(unguided.generate(MESSAGES, SUMMARY, sampling))
    assert lengths["reranked"] < lengths["unguided"]


def test_best_of_n_ranks_candidates_by_the_users_reward(generator: Generator) -> None:
    def score_fn(prompt: str, texts: list[str]) -> list[float]:
        return [float(t.count("w1")) - 0.01 * len(t) for t in texts]

    from personalization.degenerate import is_degenerate

    ranked = best_of_n(generator, MESSAGES, 6, SAMPLED, score_fn)
    assert len(ranked.texts) == 6
    broken = [is_degenerate(t, prompt=MESSAGES[-1]["content"]) for t in ranked.texts]
    assert broken == sorted(broken)  # clean candidates first (the tiny LM writes few real words)
    for flag in (False, True):
        group = [score for score, b in zip(ranked.scores, broken, strict=True) if b == flag]
        assert group == sorted(group, reverse=True)
    clean = [t for t, b in zip(ranked.texts, broken, strict=True) if not b] or ranked.texts
    assert ranked.best == max(clean, key=lambda t: score_fn("", [t])[0])


STYLES = (Style("a", "w5 w6", 0.7), Style("b", "jokes tone", 0.5, prefix="w9"),
          Style("c", "w40 w41", 0.7, max_new_tokens=2), Style("d", "short answers", 0.0))


def test_styled_candidates_give_one_answer_per_style_in_order(generator: Generator) -> None:
    texts = styled_candidates(generator, MESSAGES, STYLES, max_new_tokens=6, seed=3)
    assert len(texts) == 4
    assert texts[1].startswith("w9")  # the style's prefix opens its answer
    assert len(generator.tokenizer(texts[2], add_special_tokens=False)["input_ids"]) <= 2  # its own, lower limit
    for i, style in enumerate(STYLES):  # each answer is that style's system prompt, sampled as that style asks
        alone = styled_candidates(generator, MESSAGES, (style,), max_new_tokens=6, seed=3)
        assert alone == [texts[i]]
    assert styled_candidates(generator, MESSAGES, STYLES, max_new_tokens=6, seed=3) == texts  # seeded


def test_styled_candidates_draw_several_seeded_samples_per_style(generator: Generator) -> None:
    one = styled_candidates(generator, MESSAGES, STYLES, max_new_tokens=6, seed=3)
    two = styled_candidates(generator, MESSAGES, STYLES, max_new_tokens=6, seed=3, samples=2)
    assert len(two) == 8
    assert two[0::2] == one  # sample 0 of each style is the single-sample answer; sample 1 is a new draw
    assert two[1] != two[0]  # style "a" samples at temperature 0.7
    with pytest.raises(ValueError, match="samples"):
        styled_candidates(generator, MESSAGES, STYLES, max_new_tokens=6, samples=0)


def test_best_of_styles_ranks_the_styled_answers_by_the_users_reward(generator: Generator) -> None:
    def score_fn(prompt: str, texts: list[str]) -> list[float]:
        return [float(t.startswith("w9")) for t in texts]

    ranked = best_of_styles(generator, MESSAGES, STYLES, 6, score_fn, seed=3)
    assert sorted(ranked.texts) == sorted(styled_candidates(generator, MESSAGES, STYLES, 6, seed=3))
    assert ranked.best.startswith("w9")


def test_styles_read_refuses_a_file_without_usable_styles(tmp_path) -> None:
    path = tmp_path / "styles.json"
    path.write_text('{"styles": []}')
    with pytest.raises(ValueError, match="non-empty 'styles' list"):
        styles_read(path)
    path.write_text('{"styles": [{"name": "x"}]}')
    with pytest.raises(ValueError, match="system prompt"):
        styles_read(path)


def test_rerank_rejects_a_reward_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="2 texts"):
        rerank("p", ["a", "b"], lambda prompt, texts: [1.0])


def test_rerank_never_puts_a_degenerate_candidate_first() -> None:
    """Best-of-N picked near-empty answers because the reward liked short ones: a clean candidate always wins."""
    good = ("Keep the cat indoors in a quiet room with its bed, food and litter tray for the first days, then let "
            "it explore the rest of the house.")
    texts = ["keep them indoors until they're ready to be transported", good, "1. 1.1\n2. 2.1\n3. 3.1\n4. 4.1"]
    shortest_wins = rerank("How do I settle a new cat?", texts, lambda prompt, ts: [-len(t) for t in ts])
    assert shortest_wins.best == good
    assert shortest_wins.scores[0] == -len(good)
    summary = "You prefer short, to-the-point answers without hedging."
    leak = "You prefer short, to-the-point answers without hedging: keep the cat inside for a week with its tray."
    assert rerank("How do I settle a new cat?", [leak, good], lambda prompt, ts: [1.0, 0.0],
                  instructions=(summary,)).best == good
    everything_broken = rerank("p", ["", "1. 2. 3."], lambda prompt, ts: [0.0, 1.0])
    assert everything_broken.best == "1. 2. 3."  # nothing clean: the reward decides among what there is
