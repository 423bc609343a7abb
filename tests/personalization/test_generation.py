from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from personalization.generation import (
    Generator,
    GeneratorConfig,
    Int4WeightLinear,
    Int8WeightLinear,
    SamplingConfig,
    TextStream,
    logits_sample,
)

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = [f"w{i}" for i in range(120)] + "system user assistant you prefer short answers jokes tone".split()
MESSAGES = [{"role": "user", "content": "w1 w2 w3 you prefer"}]


def tiny_tokenizer() -> Any:
    """A word-level ChatML tokenizer built offline."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(specials + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"], model_input_names=["input_ids", "attention_mask"],
    )
    tokenizer.chat_template = CHATML
    return tokenizer


def tiny_model(tokenizer: Any, seed: int = 0) -> Any:
    """A 2-layer Llama with peaky random weights (so different contexts pick different tokens)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.3,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config).eval()


def tiny_generator(**config: Any) -> Generator:
    tokenizer = tiny_tokenizer()
    return Generator.from_model(tiny_model(tokenizer), tokenizer, GeneratorConfig(device="cpu", **config))


@pytest.fixture(scope="module")
def generator() -> Generator:
    return tiny_generator()


GREEDY = SamplingConfig(max_new_tokens=12, temperature=0.0)
SAMPLED = SamplingConfig(max_new_tokens=12, temperature=1.0, top_p=0.9, seed=7)


def test_greedy_stream_matches_model_generate(generator: Generator) -> None:
    streamed = "".join(generator.stream(MESSAGES, GREEDY))
    assert streamed.strip() == generator.generate([MESSAGES], GREEDY)[0]
    assert len(streamed.split()) >= 3


def test_stream_yields_the_same_text_as_non_streaming_generation_with_the_same_seed(generator: Generator) -> None:
    deltas = list(generator.stream(MESSAGES, SAMPLED))
    assert len(deltas) > 1  # token by token, not one blob
    whole = generator.generate_candidates(MESSAGES, 1, SAMPLED, trim_unfinished=False)[0]
    assert "".join(deltas).strip() == whole
    assert list(generator.stream(MESSAGES, SAMPLED)) == deltas


def test_a_different_seed_gives_a_different_sample(generator: Generator) -> None:
    texts = {"".join(generator.stream(MESSAGES, SamplingConfig(max_new_tokens=12, temperature=1.0, seed=s)))
             for s in range(4)}
    assert len(texts) > 1


def test_candidates_are_n_distinct_samples_from_one_prefill(generator: Generator) -> None:
    candidates = generator.generate_candidates(MESSAGES, 5, SAMPLED)
    assert len(candidates) == 5
    assert len(set(candidates)) > 1
    assert generator.generate_candidates(MESSAGES, 5, SAMPLED) == candidates


def test_stop_string_ends_the_stream_and_is_never_shown(generator: Generator) -> None:
    words = "".join(generator.stream(MESSAGES, GREEDY)).split()
    stop = words[3]
    cut = words.index(stop)
    sampling = SamplingConfig(max_new_tokens=12, temperature=0.0, stop=[stop])
    deltas = list(generator.stream(MESSAGES, sampling))
    assert "".join(deltas).split() == words[:cut]
    assert all(stop not in d for d in deltas)


def test_prefix_starts_the_answer(generator: Generator) -> None:
    deltas = list(generator.stream(MESSAGES, GREEDY, prefix="w9"))
    assert deltas[0] == "w9"
    assert generator.generate_candidates(MESSAGES, 1, GREEDY, prefix="w9")[0].startswith("w9")


def test_static_kv_cache_decodes_like_the_dynamic_one() -> None:
    static = tiny_generator(kv_cache="static")
    dynamic = tiny_generator()
    assert list(static.stream(MESSAGES, SAMPLED)) == list(dynamic.stream(MESSAGES, SAMPLED))
    assert static.generate_candidates(MESSAGES, 3, SAMPLED) == dynamic.generate_candidates(MESSAGES, 3, SAMPLED)


def test_int8_quantisation_option_still_generates() -> None:
    quantised = tiny_generator(quantize="int8")
    assert isinstance(quantised.model.model.layers[0].mlp.up_proj, torch.ao.nn.quantized.dynamic.Linear)
    assert len("".join(quantised.stream(MESSAGES, GREEDY)).split()) >= 1


def test_int4_weight_layer_reproduces_weights_on_a_q4_1_grid() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(128, 48, bias=True)
    # put the weight on a Q4_1 grid (per group of 32: scale · q + min, q in 0..15) as the packaged GGUF's are
    q = torch.randint(0, 16, (48, 4, 32)).float()
    q[..., 0], q[..., 1] = 0, 15  # every group spans the whole grid, so its min and scale are recovered exactly
    scale, low = torch.rand(48, 4, 1) * 0.02 + 0.001, torch.randn(48, 4, 1) * 0.1
    with torch.no_grad():
        linear.weight.copy_((q * scale + low).reshape(48, 128))
    quantised = Int4WeightLinear(linear)
    x = torch.randn(3, 5, 128)
    with torch.no_grad():
        expected = linear(x)
    # only bfloat16 rounding of activations, scales and minimums remains
    assert quantised(x).shape == (3, 5, 48)
    assert torch.allclose(quantised(x), expected, atol=0.02 * float(expected.abs().max()))


def test_int8_weight_layer_is_close_to_the_float_layer() -> None:
    torch.manual_seed(1)
    linear = torch.nn.Linear(96, 40, bias=False)
    x = torch.randn(4, 96)
    with torch.no_grad():
        expected = linear(x)
    assert torch.allclose(Int8WeightLinear(linear)(x), expected, atol=0.02 * float(expected.abs().max()))


def test_int4_weight_option_quantises_layers_and_head_and_still_generates() -> None:
    tokenizer = tiny_tokenizer()
    reference = tiny_model(tokenizer)
    quantised = tiny_generator(quantize="int4-weight")
    layer = quantised.model.model.layers[0]
    assert isinstance(layer.mlp.down_proj, Int4WeightLinear)  # in_features 64: two groups of 32
    assert isinstance(layer.self_attn.q_proj, torch.nn.Linear)  # in_features 32 does not fill the kernel's tiles
    assert isinstance(quantised.model.lm_head, Int8WeightLinear)
    ids = torch.tensor([quantised.prompt_ids(MESSAGES)])
    with torch.inference_mode():
        expected, got = reference(input_ids=ids).logits, quantised.model(input_ids=ids).logits
    # random (off-grid) weights lose precision in 4 bits, but the logits keep their shape
    assert float((got - expected).norm() / expected.norm()) < 0.2
    assert len("".join(quantised.stream(MESSAGES, GREEDY)).split()) >= 1


def test_bad_config_values_fail_loudly() -> None:
    with pytest.raises(ValueError, match="kv_cache"):
        GeneratorConfig(kv_cache="paged")
    with pytest.raises(ValueError, match="quantize"):
        GeneratorConfig(quantize="int4")


def test_any_causal_lm_directory_loads_by_config(tmp_path: Path, generator: Generator) -> None:
    generator.model.save_pretrained(tmp_path)
    generator.tokenizer.save_pretrained(tmp_path)
    loaded = Generator(GeneratorConfig(model_path=str(tmp_path), device="cpu"))
    assert list(loaded.stream(MESSAGES, GREEDY)) == list(generator.stream(MESSAGES, GREEDY))


def test_top_p_sampling_never_picks_outside_the_nucleus() -> None:
    logits = torch.tensor([[4.0, 3.9, 0.0, -1.0, -5.0]])  # (1, V)
    rng = torch.Generator().manual_seed(0)
    picks = {int(logits_sample(logits, SamplingConfig(temperature=1.0, top_p=0.8), rng)) for _ in range(50)}
    assert picks == {0, 1}
    assert int(logits_sample(logits, SamplingConfig(temperature=0.0), rng)) == 0


def test_text_stream_holds_back_a_possible_stop_string(generator: Generator) -> None:
    tok = generator.tokenizer
    stream = TextStream(tok, stop=["w5 w6"])
    assert stream.push(tok.convert_tokens_to_ids("w4")) == "w4"
    assert stream.push(tok.convert_tokens_to_ids("w5")) == " "  # "w5" might open the stop string
    assert stream.push(tok.convert_tokens_to_ids("w6")) == ""
    assert stream.stopped and stream.text == "w4"


@pytest.mark.slow
def test_packaged_smollm2_generates_streams_and_guides() -> None:
    from personalization.guidance import GuidanceConfig, GuidedDecoder

    generator = Generator(GeneratorConfig(device="cpu"))
    messages = [{"role": "user", "content": "Give me one tip for sleeping better."}]
    sampling = SamplingConfig(max_new_tokens=8, temperature=0.0)
    streamed = "".join(generator.stream(messages, sampling)).strip()
    assert streamed
    assert generator.generate_candidates(messages, 1, sampling, trim_unfinished=False)[0] == streamed
    assert generator.generate([messages], sampling)[0]
    guided = GuidedDecoder(generator, GuidanceConfig(beta=2.0, top_k=10))
    assert guided.generate(messages, "You prefer a playful, humorous touch.", sampling)
    plain = GuidedDecoder(generator, GuidanceConfig(beta=0.0))
    assert plain.generate(messages, "You prefer a playful, humorous touch.", sampling) == streamed
    # int4 weights restore the GGUF's own Q4_1 grid: the greedy answer's start is unchanged
    quantised = Generator.from_model(generator.model, generator.tokenizer,
                                     GeneratorConfig(device="cpu", quantize="int4-weight"))
    assert "".join(quantised.stream(messages, sampling)).strip() == streamed


@pytest.mark.slow
def test_packaged_tokenizer_special_tokens_are_the_gguf_files() -> None:
    """transformers' GGUF conversion said end-of-text was ``<|im_start|>`` and prepended it to every text; the
    materialised copy (what generation, the LM encoder and any export load) follows the file's own metadata."""
    from transformers import AutoTokenizer

    from personalization.generation import (
        _SMOLLM2_GGUF,
        gguf_special_tokens,
        packaged_smollm2_dir,
        packaged_smollm2_local,
    )

    special = gguf_special_tokens(packaged_smollm2_dir() / _SMOLLM2_GGUF)
    assert (special.bos_id, special.eos_id, special.pad_id, special.add_bos) == (1, 2, 2, False)
    tokenizer = AutoTokenizer.from_pretrained(packaged_smollm2_local())
    assert (tokenizer.eos_token, tokenizer.eos_token_id) == ("<|im_end|>", 2)
    assert tokenizer.pad_token_id == 2
    assert tokenizer("hello")["input_ids"][0] != 1  # no turn-start token glued to plain text
    generator = Generator(GeneratorConfig(device="cpu"))
    assert {1, 2} <= set(generator.eos_token_ids)
    assert generator.model.generation_config.eos_token_id == 2
    ids = generator.prompt_ids([{"role": "user", "content": "hi"}])
    assert ids.count(1) == 3  # system, user, assistant: one turn start each, no extra BOS
