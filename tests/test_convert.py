"""Importers: OpenAI's .npy mLSTM and the original sentiment-discovery's checkpoints, each checked against a
straightforward numpy implementation of the source's own equations on files built here with random weights."""
import argparse
import os

import numpy as np
import pytest
import torch

from sentiment_discovery.convert import import_openai, import_original
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from sentiment_discovery.errors import UserError
from sentiment_discovery.models.loading import load_language_model

TEXTS = ["héllo, wörld!", "a great movie"]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def byte_batch(texts):
    """Equal-length byte arrays (truncated to the shortest) -> (B, T) int."""
    rows = [np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64) for text in texts]
    steps = min(len(row) for row in rows)
    return np.stack([row[:steps] for row in rows])


# ---------------------------------------------------------------- OpenAI --------------------------------------
def random_openai_arrays(emsize=6, hidden=8, seed=0):
    rng = np.random.default_rng(seed)

    def gain(n):
        return rng.uniform(0.5, 1.5, n)

    return {"embedding": rng.normal(size=(256, emsize)), "wx": rng.normal(size=(emsize, 4 * hidden)),
            "wh": rng.normal(size=(hidden, 4 * hidden)), "wmx": rng.normal(size=(emsize, hidden)),
            "wmh": rng.normal(size=(hidden, hidden)), "b": rng.normal(scale=0.3, size=4 * hidden),
            "gx": gain(4 * hidden), "gh": gain(4 * hidden), "gmx": gain(hidden), "gmh": gain(hidden),
            "out_w": rng.normal(size=(hidden, 256)), "out_b": rng.normal(scale=0.3, size=256)}


def write_openai(directory, arrays, split_wh):
    order = ["embedding", "wx", "wh", "wmx", "wmh", "b", "gx", "gh", "gmx", "gmh", "out_w", "out_b"]
    files = [arrays[name].astype(np.float32) for name in order]
    if split_wh:
        files[2:3] = np.split(files[2], 4, axis=1)  # four (H, H) parts along the output axis
    os.makedirs(directory, exist_ok=True)
    for index, array in enumerate(files):
        np.save(os.path.join(directory, f"{index}.npy"), array)
    return directory


def openai_reference_logits(arrays, byte_rows):
    """OpenAI's published mLSTM: weight norm along the input axis, gates (i, f, o, u)."""
    a = {name: value.astype(np.float32).astype(np.float64) for name, value in arrays.items()}

    def normed(v, g):
        return v / np.linalg.norm(v, axis=0, keepdims=True) * g

    wx, wh = normed(a["wx"], a["gx"]), normed(a["wh"], a["gh"])
    wmx, wmh = normed(a["wmx"], a["gmx"]), normed(a["wmh"], a["gmh"])
    hidden = wmh.shape[0]
    h = np.zeros((byte_rows.shape[0], hidden))
    c = np.zeros_like(h)
    logits = []
    for t in range(byte_rows.shape[1]):
        x = a["embedding"][byte_rows[:, t]]
        m = (x @ wmx) * (h @ wmh)
        z = x @ wx + m @ wh + a["b"]
        i, f, o, u = np.split(z, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(u)
        h = sigmoid(o) * np.tanh(c)
        logits.append(h @ a["out_w"] + a["out_b"])
    return np.stack(logits, axis=1)  # (B, T, 256)


@pytest.mark.parametrize("split_wh", [False, True])
def test_openai_import_reproduces_openai_equations(tmp_path, split_wh):
    arrays = random_openai_arrays()
    directory = write_openai(str(tmp_path / "openai"), arrays, split_wh)
    model, info = import_openai(directory)
    assert (info["model"], info["emsize"], info["nhid"], info["nlayers"]) == ("mLSTM", 6, 8, 1)
    rows = byte_batch(TEXTS)
    expected = openai_reference_logits(arrays, rows)
    tokens = torch.from_numpy(rows + 1)  # byte b -> token b + 1
    with torch.no_grad():
        logits, _ = model(tokens)
    np.testing.assert_allclose(logits[..., 1:].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert (logits[..., 0] < -1e3).all()  # the pad token is never predicted
    assert torch.equal(model.embedding.weight[0], torch.zeros(6))


def test_openai_import_also_matches_with_gradients_on(tmp_path):
    arrays = random_openai_arrays(seed=1)
    model, _ = import_openai(write_openai(str(tmp_path / "o"), arrays, split_wh=True))
    rows = byte_batch(TEXTS)
    logits, _ = model(torch.from_numpy(rows + 1))  # the training path (grad enabled)
    np.testing.assert_allclose(logits[..., 1:].detach().numpy(), openai_reference_logits(arrays, rows),
                               rtol=1e-5, atol=1e-5)


def test_load_language_model_accepts_an_openai_directory(tmp_path):
    directory = write_openai(str(tmp_path / "openai"), random_openai_arrays(), split_wh=True)
    model, tokenizer, info = load_language_model(directory)
    assert isinstance(tokenizer, CharTokenizer)
    assert info["source"] == "openai" and info["model_config"]["model"] == "mLSTM"
    assert not model.training


def test_bad_openai_directories(tmp_path):
    arrays = random_openai_arrays()
    with pytest.raises(UserError, match="does not exist"):
        import_openai(str(tmp_path / "missing"))
    partial = write_openai(str(tmp_path / "partial"), arrays, split_wh=False)
    os.remove(os.path.join(partial, "11.npy"))
    with pytest.raises(UserError, match="holds 11 numbered .npy files"):
        import_openai(partial)
    bad_shape = dict(arrays, wmx=arrays["wmx"][:, :5])
    with pytest.raises(UserError, match=r"wmx has shape \(6, 5\), expected \(6, 8\)"):
        import_openai(write_openai(str(tmp_path / "shape"), bad_shape, split_wh=False))
    corrupt = write_openai(str(tmp_path / "corrupt"), arrays, split_wh=False)
    with open(os.path.join(corrupt, "3.npy"), "wb") as handle:
        handle.write(b"not numpy at all")
    with pytest.raises(UserError, match=r"3.npy is not a readable numpy .npy file"):
        import_openai(corrupt)
    with pytest.raises(UserError, match="not an OpenAI mLSTM release"):
        load_language_model(str(tmp_path))


# ---------------------------------------------------------------- original ------------------------------------
def random_layers(cell_type, vocab, emsize, hidden, nlayers, weight_norm, seed):
    """The original's per-layer tensors, (out, in) layout; weight norm as g (out, 1) and v (out, in)."""
    rng = np.random.default_rng(seed)
    gates = (3 if cell_type == "GRU" else 4) * hidden
    tensors, effective = {}, []
    for index in range(nlayers):
        inputs = emsize if index == 0 else hidden
        shapes = {"w_ih": (gates, inputs), "w_hh": (gates, hidden)}
        if cell_type == "mLSTM":
            shapes.update(w_mih=(hidden, inputs), w_mhh=(hidden, hidden))
        layer = {}
        for name, shape in shapes.items():
            v = rng.normal(size=shape)
            if weight_norm:
                g = rng.uniform(0.5, 1.5, size=(shape[0], 1))
                tensors[f"rnns.{index}.{name}_g"], tensors[f"rnns.{index}.{name}_v"] = g, v
                layer[name] = g * v / np.linalg.norm(v, axis=1, keepdims=True)
            else:
                v = v / np.sqrt(shape[1])
                tensors[f"rnns.{index}.{name}"] = v
                layer[name] = v
        for name in ("b_ih", "b_hh"):
            layer[name] = rng.normal(scale=0.3, size=gates)
            tensors[f"rnns.{index}.{name}"] = layer[name]
        effective.append(layer)
    table = {"embedding": rng.normal(size=(vocab, emsize)), "decoder_w": rng.normal(size=(vocab, hidden)),
             "decoder_b": rng.normal(scale=0.3, size=vocab)}
    as_torch = {key: torch.tensor(value, dtype=torch.float32) for key, value in tensors.items()}
    effective = [{k: v.astype(np.float32).astype(np.float64) for k, v in layer.items()} for layer in effective]
    table = {k: v.astype(np.float32).astype(np.float64) for k, v in table.items()}
    if weight_norm:  # the reference uses g, v exactly as stored (float32)
        for index, layer in enumerate(effective):
            for name in list(layer):
                if f"rnns.{index}.{name}_g" in as_torch:
                    g = as_torch[f"rnns.{index}.{name}_g"].double().numpy()
                    v = as_torch[f"rnns.{index}.{name}_v"].double().numpy()
                    layer[name] = g * v / np.linalg.norm(v, axis=1, keepdims=True)
    return as_torch, effective, table


def original_reference(cell_type, layers, table, tokens):
    """The original's stacked cells (torch.nn equations; the mLSTM as convert/openai.py writes it): per-step
    logits, last h, c."""
    batch, steps = tokens.shape
    hidden = layers[0]["w_hh"].shape[1]
    hs = [np.zeros((batch, hidden)) for _ in layers]
    cs = [np.zeros((batch, hidden)) for _ in layers]
    logits, last_cells = [], []
    for t in range(steps):
        x = table["embedding"][tokens[:, t]]
        for index, w in enumerate(layers):
            h, c = hs[index], cs[index]
            if cell_type == "GRU":
                gi, gh = x @ w["w_ih"].T + w["b_ih"], h @ w["w_hh"].T + w["b_hh"]
                r = sigmoid(gi[:, :hidden] + gh[:, :hidden])
                z = sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
                n = np.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
                h = c = (1 - z) * n + z * h
            else:
                m = (x @ w["w_mih"].T) * (h @ w["w_mhh"].T) if cell_type == "mLSTM" else h
                gates = x @ w["w_ih"].T + w["b_ih"] + m @ w["w_hh"].T + w["b_hh"]
                i, f, g, o = np.split(gates, 4, axis=1)
                c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
                h = sigmoid(o) * np.tanh(c)
            hs[index], cs[index] = h, c
            x = h
        logits.append(x @ table["decoder_w"].T + table["decoder_b"])
        last_cells.append(cs[-1])
    return np.stack(logits, axis=1), np.stack(last_cells, axis=1)


def tensor(array):
    return torch.tensor(array, dtype=torch.float32)


def lm_state_dict(layer_tensors, table):
    """The original RNNModel.state_dict(): {"encoder": {"encoder": {...}, "rnn": {...}}, "decoder": {...}}."""
    return {"encoder": {"encoder": {"weight": tensor(table["embedding"])}, "rnn": layer_tensors},
            "decoder": {"weight": tensor(table["decoder_w"]), "bias": tensor(table["decoder_b"])}}


def check_against_reference(model, cell_type, layers, table, token_rows, shift):
    expected_logits, expected_cells = original_reference(cell_type, layers, table, token_rows)
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(token_rows + shift))
        states, _ = model.trace(torch.from_numpy(token_rows + shift))
    ours = logits[..., shift:].numpy()
    np.testing.assert_allclose(ours, expected_logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states["c"][-1].numpy(), expected_cells, rtol=1e-5, atol=1e-5)


def test_original_mlstm_lm_with_weight_norm_nested_state_dict(tmp_path):
    layer_tensors, layers, table = random_layers("mLSTM", 257, 5, 7, 2, weight_norm=True, seed=2)
    torch.save(lm_state_dict(layer_tensors, table), tmp_path / "lm.pt")
    model, info = import_original(tmp_path / "lm.pt")
    assert (info["model"], info["nlayers"], info["nhid"], info["kind"]) == ("mLSTM", 2, 7, "lm")
    assert info["weight_norm"] is True
    tokens = byte_batch(TEXTS) + 1  # a 257-token original: ids are used as they are
    check_against_reference(model, "mLSTM", layers, table, tokens, shift=0)


def test_original_lstm_classifier_file_with_args_and_256_byte_vocab(tmp_path):
    layer_tensors, layers, table = random_layers("LSTM", 256, 4, 6, 1, weight_norm=False, seed=3)
    lm = lm_state_dict(layer_tensors, table)
    featurizer_sd = {"encoder": lm["encoder"], "decoder": lm["decoder"]}  # RNNFeaturizer with aux LM
    classifier_sd = {"weight": torch.randn(1, 6), "bias": torch.zeros(1), "neurons": None, "thresholds": [0.5]}
    args = argparse.Namespace(model="LSTM", lr=1e-3, thresholds=np.array([0.5, 0.3]), nhid=np.int64(6))
    torch.save({"sd": {"encoder": featurizer_sd, "classifier": classifier_sd}, "args": args}, tmp_path / "clf.clf")
    model, info = import_original(tmp_path / "clf.clf")
    assert (info["model"], info["kind"], info["has_decoder"]) == ("LSTM", "classifier", True)
    assert info["original_args"]["model"] == "LSTM" and type(info["original_args"]["nhid"]) is int
    check_against_reference(model, "LSTM", layers, table, byte_batch(TEXTS), shift=1)  # bytes shifted by one


def test_original_gru_with_flat_keys_without_leading_encoder(tmp_path):
    layer_tensors, layers, table = random_layers("GRU", 257, 4, 5, 2, weight_norm=False, seed=4)
    flat = {f"rnn.{key.replace('rnns.', 'layers.')}": value for key, value in layer_tensors.items()}
    flat.update({"encoder.weight": tensor(table["embedding"]), "decoder.weight": tensor(table["decoder_w"]),
                 "decoder.bias": tensor(table["decoder_b"])})
    torch.save(flat, tmp_path / "gru.pt")
    model, info = import_original(tmp_path / "gru.pt")
    assert (info["model"], info["nlayers"]) == ("GRU", 2)
    check_against_reference(model, "GRU", layers, table, byte_batch(TEXTS) + 1, shift=0)


def test_original_classifier_without_lm_head_gives_features_only(tmp_path):
    layer_tensors, layers, table = random_layers("mLSTM", 257, 4, 6, 1, weight_norm=True, seed=5)
    featurizer_sd = {"encoder": lm_state_dict(layer_tensors, table)["encoder"]}
    torch.save({"encoder": featurizer_sd, "classifier": {"weight": torch.randn(1, 6), "bias": torch.zeros(1)}},
               tmp_path / "clf.pt")
    model, _, info = load_language_model(tmp_path / "clf.pt")  # plain data: goes through the first reader
    assert info["source"] == "original" and info["has_decoder"] is False and info["kind"] == "classifier"
    tokens = byte_batch(TEXTS) + 1
    _, expected_cells = original_reference("mLSTM", layers, table, tokens)
    with torch.no_grad():
        states, _ = model.trace(torch.from_numpy(tokens))
    np.testing.assert_allclose(states["c"][-1].numpy(), expected_cells, rtol=1e-5, atol=1e-5)


def test_load_language_model_accepts_an_original_file_with_a_namespace(tmp_path):
    layer_tensors, _, table = random_layers("mLSTM", 257, 4, 6, 1, weight_norm=True, seed=6)
    torch.save({"sd": lm_state_dict(layer_tensors, table), "args": argparse.Namespace(nhid=6)}, tmp_path / "m.pt")
    model, tokenizer, info = load_language_model(tmp_path / "m.pt")
    assert info["source"] == "original" and isinstance(tokenizer, CharTokenizer)
    assert model.config["nhid"] == 6 and not model.training


class ForeignThing:
    """A class no checkpoint reader should ever instantiate."""

    def __reduce__(self):
        return (os.system, ("echo should never run",))


def test_bad_original_files_raise_one_line_errors(tmp_path):
    torch.save({"sd": {"x": torch.ones(2)}, "args": ForeignThing()}, tmp_path / "code.pt")
    with pytest.raises(UserError, match="holds Python objects of type .*system"):
        import_original(tmp_path / "code.pt")
    torch.save({"decoder.embed_tokens.weight": torch.ones(3, 2),
                "decoder.layers.0.self_attn.in_proj_weight": torch.ones(6, 2)}, tmp_path / "tf.pt")
    with pytest.raises(UserError, match="Transformer checkpoint .*only recurrent original checkpoints"):
        import_original(tmp_path / "tf.pt")
    torch.save({"fc.weight": torch.ones(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match=r"no recurrent layer weights \(keys: fc.weight\)"):
        load_language_model(tmp_path / "other.pt")
    layer_tensors, _, table = random_layers("mLSTM", 300, 4, 6, 1, weight_norm=False, seed=7)
    torch.save(lm_state_dict(layer_tensors, table), tmp_path / "sp.pt")
    with pytest.raises(UserError, match="300-token embedding; only character-level"):
        import_original(tmp_path / "sp.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(UserError, match="not a readable PyTorch file") as caught:
        load_language_model(tmp_path / "junk.pt")
    assert "\n" not in str(caught.value)
    with pytest.raises(UserError, match="does not exist"):
        load_language_model(tmp_path / "absent.pt")
