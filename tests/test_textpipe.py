"""Text reaches the model as in the original, end to end through the real CLIs:

- transfer.py --load <an original sentiment-discovery checkpoint> on raw, messy CSV rows gives the features
  of an independent reference: the issue's process function written out here + the original's cell
  equations (numpy) over the UTF-8 bytes, read at the last token — with the default and with
  --process-fn process_tweet;
- a tiny LM pretrained with process_tweet records it; transfer and run_classifier apply it without being
  told, --process-fn overrides it, and --write-results carries the input text verbatim."""
import html
import string
import unicodedata

import emoji
import numpy as np
import pandas as pd
import pytest
import torch
from test_convert import lm_state_dict, original_reference, random_layers
from unidecode import unidecode

import pretrain
import run_classifier
import transfer
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from sentiment_discovery.models.loading import load_language_model
from sentiment_discovery.checkpoint import load_checkpoint

MESSY = [
    "<p>A <b>great</b> film!</p>",
    "fish &amp; chips &eacute;t&eacute; &lt;3",
    "cr\u00e8me br\u00fbl\u00e9e \u2014 na\u00efve\tbut\n\nfun",
    "love it \U0001F60D\U0001F44D #happy, #caf\u00e9 @bob",
    "see https://t.co/xY1 and http://a.b/c now",
    "  double  spaces\\nescaped newline  ",
    "\u65e5\u672c\u8a9e only \u00a9",
    "plain words.",
]


# ---------------------------------------------------------------- the reference, written from the issue
def reference_str(text):
    """process_str: tag -> space, unidecode, unescape, whitespace split/join, '\\n ' + t + ' '."""
    out, depth = [], False
    for i, char in enumerate(text):  # '<' up to the nearest '>' is a tag, when a '>' follows
        if not depth and char == "<" and ">" in text[i:]:
            depth = True
            out.append(" ")
        elif depth:
            depth = char != ">"
        else:
            out.append(char)
    words = html.unescape(unidecode("".join(out))).split()
    return "\n " + " ".join(words) + " "


def reference_tweet(text):
    """process_tweet, step by step."""
    words = []
    for word in text.split(" "):
        words.append("xxxx" if word.startswith("https") and len(word) > 5 else word)
    text = " ".join(words)
    text = "".join(" " if c.isspace() else c for c in text.replace("\\n", " "))
    text = text.replace("<br>", " ")
    for entity, char in (("&amp;", "&"), ("&#039;", "'"), ("&gt;", ">"), ("&lt;", "<")):
        text = text.replace(entity, char)
    text = emoji.demojize(text)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if unicodedata.combining(c) == 0)
    text = hashtags_marked(text)
    text = "".join(c for c in text if c in string.printable)
    return " ".join(text.split())


def hashtags_marked(text):
    """'#' + a run of word characters -> the run + '!!'."""
    out, i = [], 0
    while i < len(text):
        end = i + 1
        while text[i] == "#" and end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        out.append(text[i + 1:end] + "!!" if end > i + 1 else text[i])
        i = end
    return "".join(out)


def reference_features(layers, table, texts):
    """The original's mLSTM over each text's bytes (+1: a 257-token original), last layer's c at the last byte."""
    rows = []
    for text in texts:
        tokens = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)[None] + 1  # (1, T)
        _, cells = original_reference("mLSTM", layers, table, tokens)  # (1, T, H)
        rows.append(cells[0, -1])
    return np.stack(rows)  # (N, H)


# ---------------------------------------------------------------- helpers
def write_rows(path, texts, labels=None):
    labels = labels if labels is not None else [i % 2 for i in range(len(texts))]
    pd.DataFrame({"label": labels, "sentence": texts}).to_csv(path, index=False)
    return str(path)


def run_transfer(load, train, valid, test, save_results, *extra):
    return transfer.main(["--load", load, "--data", train, "--valid", valid, "--test", test, "--neurons", "1",
                          "--save-results", save_results, "--batch-size", "3", "--num-workers", "1", *extra])


def train_features(results):
    return np.load(f"{results['results_dir']}/trXt.npy")


@pytest.fixture
def original_checkpoint(tmp_path):
    layer_tensors, layers, table = random_layers("mLSTM", 257, 5, 6, 1, weight_norm=True, seed=11)
    path = tmp_path / "original_lm.pt"
    torch.save(lm_state_dict(layer_tensors, table), path)
    return str(path), layers, table


def test_reference_functions_agree_with_the_library_on_the_messy_rows():
    from sentiment_discovery.data.preprocess import process_str, process_tweet
    assert [reference_str(t) for t in MESSY] == [process_str(t) for t in MESSY]
    assert [reference_tweet(t) for t in MESSY] == [process_tweet(t) for t in MESSY]


@pytest.mark.parametrize("flags, reference", [((), reference_str),
                                               (("--process-fn", "process_tweet"), reference_tweet)],
                         ids=["default", "process_tweet"])
def test_transfer_of_an_original_checkpoint_matches_the_reference(original_checkpoint, tmp_path, flags, reference):
    load, layers, table = original_checkpoint
    train = write_rows(tmp_path / "train.csv", MESSY)
    results = run_transfer(load, train, train, train, "r", *flags)
    expected = reference_features(layers, table, [reference(text) for text in MESSY])
    np.testing.assert_allclose(train_features(results), expected, atol=1e-4, rtol=0)
    assert results["process_fn"] == ("process_tweet" if flags else "process_str")
    clf = load_checkpoint(f"{results['results_dir']}/classifier.pt", expect_kind="classifier")
    assert clf["process_fn"] == results["process_fn"]


PHRASES = ["<b>great</b> fun &amp; joy", "terrible plot \U0001F621 #bad", "i loved it https://x.co/a",
           "boring\tand long \u2014 meh", "fine cast @bob"]


@pytest.mark.slow
def test_the_pretrained_pipeline_follows_the_model(tmp_path):
    corpus = tmp_path / "corpus.csv"
    pd.DataFrame({"text": [" ".join(PHRASES[(i + j) % 5] for j in range(3)) for i in range(40)]}).to_csv(
        corpus, index=False)
    save = tmp_path / "lm.pt"
    pretrain.main(["--data", str(corpus), "--text-key", "text", "--split", "10,1,0", "--nhid", "16",
                   "--emsize", "8", "--batch-size", "4", "--seq-length", "16", "--train-iters", "2",
                   "--save", str(save), "--num-workers", "1", "--process-fn", "process_tweet"])
    assert load_checkpoint(str(save))["process_fn"] == "process_tweet"
    model, tokenizer, info = load_language_model(save)
    assert info["process_fn"] == "process_tweet" and isinstance(tokenizer, CharTokenizer)

    texts = [PHRASES[i % 5] + ("!" if i % 2 else ".") for i in range(10)]
    data = write_rows(tmp_path / "task.csv", texts)
    results = run_transfer(str(save), data, data, data, "auto", "--write-results", str(tmp_path / "out.csv"))
    assert results["process_fn"] == "process_tweet"

    def features(clean):
        with torch.no_grad():
            rows = []
            for text in texts:
                ids = torch.tensor([tokenizer.encode(clean(text))])
                states, _ = model.trace(ids)
                rows.append(states["c"][-1][0, -1].numpy())
        return np.stack(rows)

    np.testing.assert_allclose(train_features(results), features(reference_tweet), atol=1e-5, rtol=0)
    assert np.abs(train_features(results) - features(reference_str)).max() > 1e-3
    assert pd.read_csv(tmp_path / "out.csv")["sentence"].tolist() == texts  # verbatim input text

    raw = run_transfer(str(save), data, data, data, "raw", "--process-fn", "none")
    np.testing.assert_allclose(train_features(raw), features(lambda t: t), atol=1e-5, rtol=0)

    classifier = f"{results['results_dir']}/classifier.pt"
    written = tmp_path / "clf.csv"
    summary = run_classifier.main(["--load", classifier, "--data", data, "--save-probs", str(tmp_path / "p.npy"),
                                   "--write-results", str(written), "--num-workers", "1"])
    assert summary["process_fn"] == "process_tweet"
    probs = np.load(tmp_path / "p.npy.prob.npy")[:, 0]
    clf = load_checkpoint(classifier)
    weight = clf["model_state"]["head.linear.weight"].double().numpy()[0]
    bias = float(clf["model_state"]["head.linear.bias"][0])
    expected = 1 / (1 + np.exp(-(features(reference_tweet).astype(np.float64) @ weight + bias)))
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    assert pd.read_csv(written)["sentence"].tolist() == texts
    overridden = run_classifier.main(["--load", classifier, "--data", data, "--save-probs",
                                      str(tmp_path / "q.npy"), "--num-workers", "1", "--process-fn", "none"])
    assert overridden["process_fn"] == "none"
    assert not np.allclose(np.load(tmp_path / "q.npy.prob.npy")[:, 0], probs, atol=1e-6)
