"""Tests of the decoder-only Transformer LM: causality, KV cache, positions, norms, tying, checkpointing."""
import pytest
import torch

from sentiment_discovery.errors import UserError
from sentiment_discovery.models.transformer import TransformerLM, sinusoidal_table, transformer_config

VOCAB = 40


def tiny_config(**overrides):
    config = {"vocab_size": VOCAB, "decoder_layers": 2, "decoder_embed_dim": 16, "decoder_ffn_embed_dim": 24,
              "decoder_attention_heads": 4, "dropout": 0.0, "attention_dropout": 0.0, "relu_dropout": 0.0,
              "max_positions": 32}
    config.update(overrides)
    return config


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return TransformerLM(tiny_config(**overrides)).eval()


def random_tokens(batch, steps, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB, (batch, steps), generator=generator)


VARIANTS = [
    {"decoder_learned_pos": False, "decoder_normalize_before": False},
    {"decoder_learned_pos": True, "decoder_normalize_before": False},
    {"decoder_learned_pos": False, "decoder_normalize_before": True},
    {"decoder_learned_pos": True, "decoder_normalize_before": True, "share_decoder_input_output_embed": True},
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_changing_a_future_token_leaves_past_outputs_unchanged(variant):
    model = tiny_model(**variant)
    tokens = random_tokens(2, 12)
    changed = tokens.clone()
    changed[:, 7] = (changed[:, 7] % (VOCAB - 1)) + 1  # a different real token at t=7
    with torch.no_grad():
        logits, _ = model(tokens)
        changed_logits, _ = model(changed)
    assert torch.allclose(logits[:, :7], changed_logits[:, :7], atol=1e-6)
    assert not torch.allclose(logits[:, 7:], changed_logits[:, 7:], atol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_kv_cache_step_by_step_equals_full_forward(variant):
    model = tiny_model(**variant)
    tokens = random_tokens(3, 10)
    with torch.no_grad():
        full, full_state = model(tokens)
        state, steps = model.init_state(3), []
        for t in range(tokens.size(1)):
            step_logits, state = model(tokens[:, t:t + 1], state)
            steps.append(step_logits)
        first, chunk_state = model(tokens[:, :4])
        rest, chunk_state = model(tokens[:, 4:], chunk_state)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    assert torch.allclose(torch.cat([first, rest], dim=1), full, atol=1e-5)
    assert len(state) == 2 and state[0][0].shape == (3, 4, 10, 4)  # (B, heads, T_past, d_head)
    for (k_step, v_step), (k_full, v_full) in zip(state, full_state):
        assert torch.allclose(k_step, k_full, atol=1e-5) and torch.allclose(v_step, v_full, atol=1e-5)


@pytest.mark.parametrize("learned", [False, True])
def test_batch_row_equals_the_same_sequence_alone_with_right_padding(learned):
    model = tiny_model(decoder_learned_pos=learned)
    long_row = random_tokens(1, 9, seed=3)[0]
    short_row = random_tokens(1, 5, seed=4)[0]
    batch = torch.zeros(2, 9, dtype=torch.long)
    batch[0], batch[1, :5] = long_row, short_row  # row 1 padded with 0 at the right end
    with torch.no_grad():
        batch_logits, _ = model(batch)
        alone_long, _ = model(long_row[None])
        alone_short, _ = model(short_row[None])
    assert torch.allclose(batch_logits[0], alone_long[0], atol=1e-5)
    assert torch.allclose(batch_logits[1, :5], alone_short[0], atol=1e-5)


def test_positions_matter_and_sinusoids_have_the_expected_form():
    model = tiny_model()
    tokens = torch.full((1, 6), 5)
    with torch.no_grad():
        logits, _ = model(tokens)
    assert not torch.allclose(logits[0, 1], logits[0, 4], atol=1e-4)  # same token, other positions
    table = sinusoidal_table(10, 8)
    assert table.shape == (10, 8)
    assert torch.allclose(table[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert torch.allclose(table[3, 0], torch.sin(torch.tensor(3.0)))
    assert "sinusoids" not in model.state_dict()


def test_learned_positions_are_parameters_and_sinusoidal_are_not():
    learned = tiny_model(decoder_learned_pos=True)
    sinusoidal = tiny_model(decoder_learned_pos=False)
    assert learned.positions.weight.shape == (32, 16)
    assert not any("position" in name for name, _ in sinusoidal.named_parameters())


def test_pre_norm_has_a_final_norm_and_post_norm_does_not():
    pre, post = tiny_model(decoder_normalize_before=True), tiny_model(decoder_normalize_before=False)
    assert isinstance(pre.final_norm, torch.nn.LayerNorm)
    assert isinstance(post.final_norm, torch.nn.Identity)
    tokens = random_tokens(2, 5)
    with torch.no_grad():
        pre_logits, _ = pre(tokens)
        post_logits, _ = post(tokens)
    assert not torch.allclose(pre_logits, post_logits, atol=1e-3)  # same weights (seed), other wiring


def test_trace_returns_the_last_hidden_that_feeds_the_decoder():
    model = tiny_model(decoder_normalize_before=True)
    tokens = random_tokens(2, 7)
    with torch.no_grad():
        states, _ = model.trace(tokens)
        logits, _ = model(tokens)
    (hidden,) = states["h"]
    assert hidden.shape == (2, 7, 16)
    assert torch.allclose(model.decoder(hidden), logits, atol=1e-6)
    assert torch.allclose(hidden.mean(-1), torch.zeros(2, 7), atol=1e-5)  # after the final LayerNorm


def test_tied_output_shares_the_embedding_parameter():
    model = tiny_model(share_decoder_input_output_embed=True)
    assert model.decoder.weight is model.embedding.weight
    names = [name for name, _ in model.named_parameters()]
    assert "decoder.weight" not in names
    logits, _ = model(random_tokens(2, 4))
    logits.sum().backward()
    assert model.embedding.weight.grad is not None
    assert model.embedding.weight.grad[0].abs().sum() > 0  # output side reaches the pad row too
    untied = tiny_model(share_decoder_input_output_embed=False)
    assert untied.decoder.weight is not untied.embedding.weight


def test_activation_checkpointing_gives_the_same_gradients_with_dropout():
    config = {"dropout": 0.2, "attention_dropout": 0.1, "relu_dropout": 0.1, "decoder_normalize_before": True}
    plain = tiny_model(seed=5, **config).train()
    checkpointed = tiny_model(seed=5, chkpt_grad=True, **config).train()
    checkpointed.load_state_dict(plain.state_dict())
    tokens = random_tokens(2, 8)
    torch.manual_seed(11)
    plain(tokens)[0].square().mean().backward()
    torch.manual_seed(11)
    checkpointed(tokens)[0].square().mean().backward()
    for (name, p_plain), p_ckpt in zip(plain.named_parameters(), checkpointed.parameters()):
        assert torch.allclose(p_plain.grad, p_ckpt.grad, atol=1e-6), name


def test_dropout_is_active_in_training_and_off_in_eval():
    model = tiny_model(dropout=0.5)
    tokens = random_tokens(2, 6)
    with torch.no_grad():
        assert torch.equal(model(tokens)[0], model(tokens)[0])
        model.train()
        assert not torch.equal(model(tokens)[0], model(tokens)[0])


def test_reset_mask_is_accepted_and_ignored():
    model = tiny_model()
    tokens = random_tokens(2, 6)
    reset = torch.zeros(2, 6, dtype=torch.bool)
    reset[:, 3] = True
    with torch.no_grad():
        assert torch.equal(model(tokens, reset_mask=reset)[0], model(tokens)[0])


def test_state_helpers():
    model = tiny_model()
    assert model.init_state(4) is None and model.detach_state(None) is None
    _, state = model(random_tokens(1, 3))
    detached = model.detach_state(state)
    assert all(not k.requires_grad and not v.requires_grad for k, v in detached)


def test_max_positions_is_enforced_including_the_cache():
    model = tiny_model(max_positions=8)
    with torch.no_grad():
        _, state = model(random_tokens(1, 6))
        with pytest.raises(UserError, match="max_positions 8"):
            model(random_tokens(1, 3), state)
        with pytest.raises(UserError, match="max_positions"):
            model(random_tokens(1, 9))


def test_rebuilding_from_config_and_state_dict_gives_the_same_outputs():
    model = tiny_model(decoder_learned_pos=True, share_decoder_input_output_embed=True)
    rebuilt = TransformerLM(model.config).eval()
    rebuilt.load_state_dict(model.state_dict())
    tokens = random_tokens(2, 5)
    with torch.no_grad():
        assert torch.equal(model(tokens)[0], rebuilt(tokens)[0])


@pytest.mark.parametrize("bad, message", [
    ({"decoder_attention_heads": 5}, "not divisible"),
    ({"vocab_size": None}, "vocab_size"),
    ({"decoder_layers": 0}, "decoder_layers"),
    ({"dropout": 1.5}, "dropout"),
    ({"decoder_heads": 2}, "unknown transformer config keys"),
    ({"model": "mLSTM"}, "not a transformer"),
])
def test_bad_configs_raise_one_line_user_errors(bad, message):
    with pytest.raises(UserError, match=message):
        transformer_config(tiny_config(**bad))


def test_bad_tokens_raise_user_errors():
    model = tiny_model()
    with pytest.raises(UserError, match=f"token id {VOCAB} is outside the model's vocabulary of {VOCAB}"):
        model(torch.tensor([[1, VOCAB]]))
    with pytest.raises(UserError, match="integer ids"):
        model(torch.ones(1, 3))
    with pytest.raises(UserError, match=r"\(batch, time\) tensor"):
        model(torch.ones(3, dtype=torch.long))
