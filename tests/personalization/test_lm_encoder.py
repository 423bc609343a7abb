from __future__ import annotations

from pathlib import Path

import pytest
import torch

from personalization.lm_encoder import LMEncoderConfig, LMHiddenStateEncoder

WORDS = "hello how are you i am fine thanks what is the weather sunny rain user assistant".split()


def _tiny_lm(directory: Path) -> Path:
    """A 2-layer Llama (SmolLM2's architecture) with a word-level tokenizer, built from a config."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "<s>", "</s>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]",
                                        bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
        "{% if add_generation_prompt %}assistant {% endif %}"
    )
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_lm(tmp_path_factory.mktemp("tiny_lm"))


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_encodings_are_unit_vectors_of_the_hidden_size(tiny_lm: Path, pooling: str) -> None:
    encoder = LMHiddenStateEncoder(LMEncoderConfig(model_path=str(tiny_lm), pooling=pooling, device="cpu"))
    out = encoder.encode(["hello how are you"], ["i am fine thanks"])
    assert out.shape == (1, 16) and encoder.dim == 16
    assert torch.allclose(out.norm(dim=1), torch.ones(1), atol=1e-5)


def test_batching_and_padding_do_not_change_an_encoding(tiny_lm: Path) -> None:
    encoder = LMHiddenStateEncoder(LMEncoderConfig(model_path=str(tiny_lm), batch_size=4, device="cpu"))
    alone = encoder.encode(["what is the weather"], ["sunny"])
    batched = encoder.encode(["what is the weather", "hello"], ["sunny", "i am fine thanks what is the weather"])
    assert torch.allclose(alone[0], batched[0], atol=1e-5)


def test_different_responses_get_different_encodings(tiny_lm: Path) -> None:
    encoder = LMHiddenStateEncoder(LMEncoderConfig(model_path=str(tiny_lm), device="cpu"))
    out = encoder.encode(["what is the weather"] * 2, ["sunny", "rain rain rain"])
    assert not torch.allclose(out[0], out[1])


def test_unknown_pooling_is_rejected(tiny_lm: Path) -> None:
    with pytest.raises(ValueError, match="pooling"):
        LMHiddenStateEncoder(LMEncoderConfig(model_path=str(tiny_lm), pooling="max", device="cpu"))


@pytest.mark.slow
def test_packaged_smollm2_hidden_states_encode_a_pair() -> None:
    encoder = LMHiddenStateEncoder(LMEncoderConfig(device="cpu"))
    out = encoder.encode(["How do I boil an egg?"], ["Boil it for nine minutes."])
    assert out.shape == (1, 576)


@pytest.mark.slow
def test_packaged_minilm_encodes_a_response_longer_than_max_length() -> None:
    from personalization.encoder import EncoderConfig, SentenceEncoder

    encoder = SentenceEncoder(EncoderConfig(device="cpu", max_length=32))
    out = encoder.encode(["Question?"], ["word " * 200])
    assert out.shape == (1, 384)
