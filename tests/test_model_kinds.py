"""Model kinds as objects: lookup, what each kind answers, no name branching outside models/, the one
classifier-from-checkpoint builder, and the token-id check's read-back (CPU always, CUDA in debug mode)."""
import pathlib
import re

import pytest
import torch

from sentiment_discovery.checkpoint import classifier_payload
from sentiment_discovery.config import ModelConfig
from sentiment_discovery.data.preprocess import default_process_fn
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from sentiment_discovery.errors import UserError
from sentiment_discovery.models import token_check
from sentiment_discovery.models.classifier import build_classifier, classifier_config
from sentiment_discovery.models.kinds import KINDS, feature_width, max_positions, model_kind
from sentiment_discovery.models.language_model import recurrent_config
from sentiment_discovery.models.kinds import build_language_model
from sentiment_discovery.models.loading import classifier_from_checkpoint
from sentiment_discovery.models.token_check import DEBUG_ENV, check_token_ids, values_checked

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sentiment_discovery"
ALLOWED = {PACKAGE / "config.py", PACKAGE / "arguments.py"}  # flag-level choices may name the kinds
NAME_BRANCHING = re.compile(r'[!=]= *"(transformer|hf)"|\bis_hf\(|\bis_transformer\(')
RECURRENT = recurrent_config(model="LSTM", vocab_size=257, emsize=4, nhid=6, nlayers=2)
TRANSFORMER = {"model": "transformer", "vocab_size": 30, "decoder_layers": 2, "decoder_embed_dim": 8,
               "decoder_ffn_embed_dim": 16, "decoder_attention_heads": 2, "max_positions": 40}
HF = {"model": "hf", "hidden_size": 12, "max_positions": 64}


def test_no_branching_on_the_kind_name_outside_models():
    offenders = []
    scripts = sorted(PACKAGE.parent.glob("*.py"))  # the top-level scripts: thin, so no kind names either
    for path in sorted(PACKAGE.rglob("*.py")) + scripts:
        if path in ALLOWED or (PACKAGE / "models") in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if NAME_BRANCHING.search(line):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not offenders, "ask models/kinds.py instead of comparing kind names:\n" + "\n".join(offenders)


def test_lookup_from_config_model_typed_config_and_name():
    lm = build_language_model(RECURRENT)
    assert model_kind(RECURRENT) is model_kind(lm) is model_kind("LSTM") is KINDS["LSTM"]
    assert model_kind(ModelConfig(model="hf")) is KINDS["hf"]
    assert model_kind(ModelConfig()) is KINDS["mLSTM"]
    with pytest.raises(UserError, match="unknown model 'RNN'; choose one of mLSTM, LSTM, GRU, transformer, hf"):
        model_kind({"model": "RNN"})
    with pytest.raises(UserError, match="unknown model 'RNN'"):
        build_language_model({"model": "RNN"})


def test_what_each_kind_answers():
    recurrent, gru, transformer, hf = KINDS["mLSTM"], KINDS["GRU"], KINDS["transformer"], KINDS["hf"]
    assert recurrent.generates and recurrent.recurrent and recurrent.steerable and not recurrent.hidden_is_cell
    assert gru.hidden_is_cell
    assert transformer.generates and not transformer.recurrent and not transformer.steerable
    assert not hf.generates and hf.pooled and hf.pretrained_only and not hf.takes_feature_options
    assert default_process_fn("char") == default_process_fn("sentencepiece") == "process_str"
    assert default_process_fn("hf") == "none"
    assert max_positions(RECURRENT) is None and max_positions(TRANSFORMER) == 40 and max_positions(HF) == 64
    assert transformer.shown_state_key(get_hidden=False) == "h" and recurrent.shown_state_key(False) == "c"
    with pytest.raises(UserError, match="can show only its last layer"):
        transformer.check_shown_layer(0, 2)
    model_config = ModelConfig(model="hf", hf_model="pkg", load="x.pt")
    assert hf.source(model_config) == "pkg" and recurrent.source(model_config) == "x.pt"


def test_feature_width_per_kind():
    assert feature_width(RECURRENT) == 6
    assert feature_width(RECURRENT, all_layers=True, concat_max=True) == 6 * 2 * 2
    assert feature_width(TRANSFORMER, all_layers=True, concat_min=True) == 8 * 2  # last layer only
    assert feature_width(HF, get_hidden=True) == 12


def test_transformer_kind_builds_and_is_steered_by_nothing():
    model = build_language_model(TRANSFORMER)
    assert model_kind(model).build(TRANSFORMER).config == model.config


def classifier_checkpoint():
    torch.manual_seed(0)
    model = build_classifier(classifier_config(RECURRENT, n_outputs=2, concat_mean=True))
    return model, classifier_payload(model.config, model.state_dict(), CharTokenizer(), ["a", "b"], [0.5, 0.5],
                                     "process_str", "finetune")


def test_classifier_from_checkpoint_rebuilds_the_same_classifier():
    model, ckpt = classifier_checkpoint()
    rebuilt, tokenizer, process_fn = classifier_from_checkpoint(ckpt, "clf.pt")
    tokens = torch.tensor([tokenizer.encode("quite good")])
    lengths = torch.tensor([tokens.shape[1]])
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(tokens, lengths), model(tokens, lengths))
    assert process_fn == "process_str"
    assert classifier_from_checkpoint(dict(ckpt, process_fn="process_tweet"), "clf.pt")[2] == "process_tweet"


def test_classifier_from_checkpoint_names_misfitting_weights():
    _, ckpt = classifier_checkpoint()
    wrong = dict(ckpt, classifier_config=dict(ckpt["classifier_config"], encoder=dict(RECURRENT, nhid=7)))
    with pytest.raises(UserError, match=r"^clf.pt: the stored weights do not fit its classifier config \("):
        classifier_from_checkpoint(wrong, "clf.pt")


# ---------------------------------------------------------------- the token-id check


def test_cpu_ids_are_always_checked_with_todays_message(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    lm = build_language_model(RECURRENT)
    with pytest.raises(UserError, match="^token id 257 is outside the model's vocabulary of 257$"):
        lm(torch.tensor([[1, 257]]))
    with pytest.raises(UserError, match="^token id -1 is outside the model's vocabulary of 30$"):
        check_token_ids(torch.tensor([[3, -1]]), 30)
    with pytest.raises(UserError, match="token id 31 is outside"):
        check_token_ids(torch.tensor([[31, 2]], dtype=torch.int32), 30)
    check_token_ids(torch.tensor([[0, 29]]), 30)
    check_token_ids(torch.zeros(2, 0, dtype=torch.long), 30)


def test_accelerator_ids_are_read_back_only_in_debug_mode(monkeypatch):
    """A meta tensor stands in for a device tensor: its values cannot be read, as reading a CUDA one
    would cost a synchronisation."""
    reads = []
    monkeypatch.setattr(token_check, "check_id_range", lambda tokens, vocab: reads.append(tokens.device.type))
    device_tokens = torch.empty(2, 3, dtype=torch.long, device="meta")
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert not values_checked(device_tokens) and values_checked(torch.zeros(1, 1, dtype=torch.long))
    check_token_ids(device_tokens, 10)
    assert reads == []
    with pytest.raises(UserError, match="tokens must be integer ids"):  # shape and dtype: always
        check_token_ids(torch.empty(2, 3, device="meta"), 10)
    for off in ("0", "false", ""):
        monkeypatch.setenv(DEBUG_ENV, off)
        check_token_ids(device_tokens, 10)
    assert reads == []
    monkeypatch.setenv(DEBUG_ENV, "1")
    check_token_ids(device_tokens, 10)
    assert reads == ["meta"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_does_not_synchronise_unless_debugging(monkeypatch):
    lm = build_language_model(RECURRENT).cuda()
    tokens = torch.tensor([[5, 6, 7]], device="cuda")
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host-device synchronisation raises
    try:
        check_token_ids(tokens, 257)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(UserError, match="^token id 300 is outside the model's vocabulary of 257$"):
        lm(torch.tensor([[5, 300]], device="cuda"))
    check_token_ids(tokens, 257)
