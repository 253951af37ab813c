"""read_dataset's data formats beyond plain tables: plain text, IMDB folders, Amazon reviews (gzip, eager and
lazy through a decompressed sidecar), GoEmotions, SST-5, --binarize-sent; their bad-input errors; and one
tiny finetune (or pretrain, for plain text) per format through the scripts' main()."""
import gzip
import json
import logging
import os

import numpy as np
import pytest

import finetune_classifier
import pretrain
from sentiment_discovery.data.files.gzip_source import SIDECAR_SUFFIX, STAMP_SUFFIX, sidecar_paths
from sentiment_discovery.data.files.lazy import INDEX_SUFFIX, index_paths
from sentiment_discovery.data.formats.readers import read_dataset, resolve_format
from sentiment_discovery.data.formats.sst5 import CLASS_NAMES as SST5_NAMES
from sentiment_discovery.errors import UserError

EMOTIONS = ["joy", "anger", "fear", "surprise"]
TINY_MODEL = ["--model", "mLSTM", "--nhid", "16", "--emsize", "8", "--epochs", "1", "--batch-size", "4",
              "--num-workers", "1", "--seed", "1"]


def json_lines(records):
    return "".join(json.dumps(r) + "\n" for r in records)


def write_gz(path, content):
    with gzip.open(path, "wb") as handle:
        handle.write(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


def reviews(ratings, text="review"):
    return [{"reviewerID": f"A{i}", "reviewText": f"{text} {i} with {r} stars", "overall": float(r)}
            for i, r in enumerate(ratings)]


# ----- format resolution -----
def test_auto_format_by_path(tmp_path, write_file):
    assert resolve_format(str(tmp_path)) == "imdb"
    assert resolve_format(write_file("c.txt", "x\n")) == "text"
    assert resolve_format("corpus.TXT.gz") == "text"
    assert resolve_format("a.json.gz") == "table" and resolve_format("a.csv") == "table"
    assert resolve_format("a.tsv", "goemotions") == "goemotions"
    with pytest.raises(UserError, match="is a folder; only the imdb format"):
        resolve_format(str(tmp_path), "amazon")
    with pytest.raises(UserError, match="unknown data format 'xml'"):
        resolve_format("a.xml", "xml")


# ----- plain text -----
def test_plain_text_one_document_per_line(write_file):
    path = write_file("corpus.txt", "first  doc\n\n\r\nsecond doc\r\nthird\n")
    ds = read_dataset(path, require_labels=False, process_fn="process_str")
    assert list(ds.texts) == ["\n first doc ", "\n second doc ", "\n third "]
    assert ds.labels is None and ds.task is None


def test_plain_text_lazy_matches_eager_and_gzip(write_file, tmp_path):
    lines = [f"document number {i} é" for i in range(30)]
    plain = write_file("c.txt", "\n".join(lines) + "\n")
    packed = write_gz(tmp_path / "c2.txt.gz", "\n".join(lines))
    for path in (plain, packed):
        eager = read_dataset(path, require_labels=False)
        lazy = read_dataset(path, require_labels=False, lazy=True)
        assert not isinstance(lazy.texts, list) and len(lazy) == 30
        assert list(lazy.texts) == list(eager.texts) == lines and lazy.texts[-1] == lines[-1]
    assert os.path.exists(sidecar_paths(packed)[0]) and not os.path.exists(packed + SIDECAR_SUFFIX)


def test_plain_text_has_no_labels(write_file):
    path = write_file("c.txt", "a\nb\n")
    with pytest.raises(UserError, match="c.txt is plain text .* carries no labels"):
        read_dataset(path)
    with pytest.raises(UserError, match="empty.txt is empty"):
        read_dataset(write_file("empty.txt", "\n\n"), require_labels=False)


def test_plain_text_undecodable_bytes_warn_once(write_file, caplog):
    path = write_file("bad.txt", b"caf\xe9 ok\nfine\n\xff\xfe again\n")
    with caplog.at_level(logging.WARNING):
        ds = read_dataset(path, require_labels=False)
    assert ds.texts[0] == "caf\ufffd ok" and len(ds) == 3
    assert [r.message for r in caplog.records if "undecodable" in r.message] == [
        f"{path}: 3 undecodable byte sequence(s) (not UTF-8) were replaced with U+FFFD"]


@pytest.mark.slow
def test_pretrain_on_a_lazy_plain_text_corpus(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the movie was great fun number {i}.\n" for i in range(60)))
    valid = tmp_path / "valid.txt"
    valid.write_text("the movie was great.\nthe plot was fun.\n")
    save = tmp_path / "lm.pt"
    summary = pretrain.main(["--data", str(corpus), "--valid", str(valid), "--lazy", "--split", "10,0,1",
                             "--nhid", "16", "--emsize", "8", "--batch-size", "4", "--seq-length", "16",
                             "--train-iters", "3", "--save", str(save), "--num-workers", "1", "--seed", "1"])
    assert summary["outcome"] == "done" and summary["iterations"] == 3 and save.exists()
    assert os.path.exists(index_paths(str(corpus))[0]) and os.path.exists(index_paths(str(valid))[0])
    assert not any(name.endswith(INDEX_SUFFIX) for name in os.listdir(tmp_path))  # none beside the data


# ----- IMDB folders -----
def write_imdb(root, pos=((3, 9), (0, 7)), neg=((1, 2), (0, 4)), unsup=((0, 0),)):
    """An aclImdb-style split folder: pos/, neg/, unsup/ with <id>_<rating>.txt reviews."""
    for folder, entries in (("pos", pos), ("neg", neg), ("unsup", unsup)):
        if entries is None:
            continue
        (root / folder).mkdir(parents=True, exist_ok=True)
        for review_id, rating in entries:
            (root / folder / f"{review_id}_{rating}.txt").write_text(
                f"{folder} review {review_id}.<br /><br />Rated {rating}.", encoding="utf-8")
    return str(root)


def test_imdb_folder_labels_order_and_line_breaks(tmp_path):
    ds = read_dataset(write_imdb(tmp_path / "train"))
    assert list(ds.texts) == ["neg review 0.\n\nRated 4.", "pos review 0.\n\nRated 7.", "neg review 1.\n\nRated 2.",
                              "pos review 3.\n\nRated 9."]
    assert ds.labels.tolist() == [0.0, 1.0, 0.0, 1.0] and ds.task == "binary"
    cleaned = read_dataset(str(tmp_path / "train"), process_fn="process_str")
    assert cleaned.texts[0] == "\n neg review 0. Rated 4. "


def test_imdb_ratings_and_binarize(tmp_path, caplog):
    root = write_imdb(tmp_path / "train", pos=((0, 10), (1, 7)), neg=((2, 1), (3, 4)))
    ratings = read_dataset(root, label_key="rating")
    assert ratings.labels.tolist() == [10, 7, 1, 4] and ratings.labels.dtype == np.int64
    binary = read_dataset(root, label_key="rating", binarize_sent=5.5)
    assert binary.labels.tolist() == [1.0, 1.0, 0.0, 0.0] and binary.task == "binary"
    assert binary.label_names == ["rating"]
    with pytest.raises(UserError, match="IMDB folder: its labels are --label-key label or rating; got --label-key st"):
        read_dataset(root, label_key="stars")


def test_imdb_unsup_only_without_labels_and_lazy(tmp_path):
    root = write_imdb(tmp_path / "train")
    assert len(read_dataset(root)) == 4
    unlabelled = read_dataset(root, require_labels=False)
    assert len(unlabelled) == 5 and unlabelled.labels is None and "unsup review 0." in unlabelled.texts[2]
    lazy = read_dataset(root, lazy=True, process_fn="process_str")
    assert not isinstance(lazy.texts, list) and list(lazy.texts)[1] == "\n pos review 0. Rated 7. "
    assert lazy.labels.tolist() == [0.0, 1.0, 0.0, 1.0]


def test_imdb_missing_pos_folder_and_bad_file_name(tmp_path):
    root = write_imdb(tmp_path / "train", pos=None)
    with pytest.raises(UserError, match="train is not an IMDB split folder: it has no pos/ folder"):
        read_dataset(root)
    other = write_imdb(tmp_path / "test")
    (tmp_path / "test" / "neg" / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="notes.txt: IMDB review files are named <id>_<rating>.txt"):
        read_dataset(other)
    with pytest.raises(UserError, match="a.csv is not a folder; the imdb format"):
        read_dataset(str(tmp_path / "a.csv"), data_format="imdb")


def test_imdb_as_the_original_projects_json(write_file):
    records = [{"text": "a fine film<br />really", "label": 1}, {"text": "dull", "label": 0}]
    path = write_file("imdb_train.json", json_lines(records))
    ds = read_dataset(path, text_key="text", loose_json=True)
    assert list(ds.texts) == ["a fine film<br />really", "dull"] and ds.labels.tolist() == [1.0, 0.0]


# ----- Amazon reviews -----
def test_amazon_five_classes_from_gzip(tmp_path):
    path = write_gz(tmp_path / "reviews.json.gz", json_lines(reviews([5, 1, 3, 4, 2])))
    ds = read_dataset(path, data_format="amazon")
    assert ds.texts[0] == "review 0 with 5 stars" and ds.task == "multiclass"
    assert ds.labels.tolist() == [4, 0, 2, 3, 1] and ds.class_names[0] == "1 star"
    assert ds.label_names == ["overall"]


def test_amazon_binarize_drops_the_midpoint_with_one_warning(tmp_path, caplog):
    path = write_gz(tmp_path / "reviews.json.gz", json_lines(reviews([5, 3, 1, 3, 4, 2, 3])))
    with caplog.at_level(logging.WARNING):
        ds = read_dataset(path, data_format="amazon", binarize_sent=3.0)
    assert ds.labels.tolist() == [1.0, 0.0, 1.0, 0.0] and ds.task == "binary"
    assert [t.split()[1] for t in ds.texts] == ["0", "2", "4", "5"]
    messages = [r.message for r in caplog.records if "binarize" in r.message]
    assert len(messages) == 1 and "dropped 3 of 7 row(s)" in messages[0] and "2 positive, 2 negative" in messages[0]


def test_amazon_errors(tmp_path, write_file):
    broken = write_gz(tmp_path / "broken.json.gz", json_lines(reviews([5, 1])) + '{"reviewText": "x", \n')
    with pytest.raises(UserError, match="broken.json.gz line 3 is not valid JSON"):
        read_dataset(broken, data_format="amazon")
    half_star = write_file("half.json", json_lines(reviews([4.5, 1])))
    with pytest.raises(UserError, match="'overall' is 4.5 in review 1; without --binarize-sent"):
        read_dataset(half_star, data_format="amazon")
    not_gzip = write_file("fake.json.gz", b"not gzip at all")
    with pytest.raises(UserError, match="fake.json.gz is not a valid gzip file"):
        read_dataset(not_gzip, data_format="amazon")
    with pytest.raises(UserError, match="no review has the text key 'reviewText'"):
        read_dataset(write_file("other.json", json_lines([{"text": "x", "overall": 1}])), data_format="amazon")


def test_amazon_custom_keys_and_undecodable_bytes(tmp_path, caplog):
    content = b'{"summary": "caf\xe9", "overall": 5}\n{"summary": "meh", "overall": 1}\n'
    path = write_gz(tmp_path / "r.json.gz", content)
    with caplog.at_level(logging.WARNING):
        ds = read_dataset(path, data_format="amazon", text_key="summary", binarize_sent=3)
    assert list(ds.texts) == ["caf\ufffd", "meh"] and ds.labels.tolist() == [1.0, 0.0]
    assert any("1 undecodable byte sequence" in r.message for r in caplog.records)


def test_amazon_lazy_sidecar_is_reused_and_rebuilt(tmp_path):
    path = write_gz(tmp_path / "reviews.json.gz", json_lines(reviews([5, 1, 3, 4])))
    eager = read_dataset(path, data_format="amazon")
    lazy = read_dataset(path, data_format="amazon", lazy=True)
    assert not isinstance(lazy.texts, list) and list(lazy.texts) == list(eager.texts)
    assert lazy.labels.tolist() == eager.labels.tolist() and lazy.class_names == eager.class_names
    sidecar = sidecar_paths(path)[0]
    first_mtime = os.stat(sidecar).st_mtime_ns
    assert read_dataset(path, data_format="amazon", lazy=True).texts[3] == "review 3 with 4 stars"
    assert os.stat(sidecar).st_mtime_ns == first_mtime  # reused, not rewritten
    write_gz(path, json_lines(reviews([2, 2], text="changed")))
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a visibly newer .gz
    again = read_dataset(path, data_format="amazon", lazy=True)
    assert list(again.texts) == ["changed 0 with 2 stars", "changed 1 with 2 stars"]
    assert sidecar_paths(path)[0] != sidecar and not os.path.exists(sidecar)  # rebuilt; the old copy deleted
    sidecar = sidecar_paths(path)[0]
    with open(sidecar + STAMP_SUFFIX, encoding="utf-8") as handle:
        assert json.load(handle)["source"]["size"] == os.path.getsize(path)


def test_amazon_lazy_binarize_and_bad_line(tmp_path):
    path = write_gz(tmp_path / "reviews.json.gz", json_lines(reviews([5, 3, 1])))
    ds = read_dataset(path, data_format="amazon", lazy=True, binarize_sent=3.0)
    assert list(ds.texts) == ["review 0 with 5 stars", "review 2 with 1 stars"] and ds.labels.tolist() == [1.0, 0.0]
    broken = write_gz(tmp_path / "broken.json.gz", json_lines(reviews([5])) + "{oops\n")
    with pytest.raises(UserError, match="broken.json.gz non-blank line 2 is not valid JSON"):
        read_dataset(broken, data_format="amazon", lazy=True)
    unlabelled = read_dataset(broken, data_format="amazon", lazy=True, require_labels=False)
    assert unlabelled.labels is None and unlabelled.texts[0] == "review 0 with 5 stars"


def test_gzip_tables_eager_and_lazy(tmp_path):
    tsv = write_gz(tmp_path / "t.tsv.gz", "label\tsentence\n1\thas, commas\n0\tplain\n")
    for lazy in (False, True):
        ds = read_dataset(tsv, lazy=lazy)
        assert list(ds.texts) == ["has, commas", "plain"] and ds.labels.tolist() == [1.0, 0.0]
    jsonl = write_gz(tmp_path / "j.jsonl.gz", json_lines([{"text": "x", "label": 1}, {"text": "y", "label": 0}]))
    assert read_dataset(jsonl, text_key="text", lazy=True).labels.tolist() == [1.0, 0.0]


# ----- GoEmotions -----
def write_goemotions(folder, rows, emotions=EMOTIONS, name="train.tsv"):
    folder.mkdir(parents=True, exist_ok=True)
    if emotions is not None:
        (folder / "emotions.txt").write_text("\n".join(emotions) + "\n")
    path = folder / name
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_goemotions_multi_label(tmp_path):
    path = write_goemotions(tmp_path / "ge", [("so happy", "0", "c1"), ("angry and scared", "1,2", "c2"),
                                               ("wow", "3", "c3")])
    ds = read_dataset(path, data_format="goemotions")
    assert ds.label_names == EMOTIONS and ds.task == "multilabel" and ds.labels.dtype == np.float32
    assert ds.labels.tolist() == [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    assert list(ds.texts) == ["so happy", "angry and scared", "wow"]


def test_goemotions_errors(tmp_path, caplog):
    unknown = write_goemotions(tmp_path / "a", [("fine", "0", "c1"), ("odd", "2,4", "c2")])
    with pytest.raises(UserError, match="train.tsv line 2: unknown emotion id 4; emotions.txt names 4 emotions"):
        read_dataset(unknown, data_format="goemotions")
    missing = write_goemotions(tmp_path / "b", [("fine", "0", "c1")], emotions=None)
    looked = os.path.join(str(tmp_path / "b"), "emotions.txt")
    with pytest.raises(UserError, match=f"needs emotions.txt .*; looked for {looked}"):
        read_dataset(missing, data_format="goemotions")
    columns = write_goemotions(tmp_path / "c", [("fine", "0", "c1"), ("no id column", "0")])
    with pytest.raises(UserError, match="line 2 has 2 tab-separated column\\(s\\); GoEmotions rows have 3"):
        read_dataset(columns, data_format="goemotions")
    empty = write_goemotions(tmp_path / "d", [("fine", "0", "c1"), ("  ", "1", "c2"), ("ok", "1", "c3")])
    with caplog.at_level(logging.WARNING):
        ds = read_dataset(empty, data_format="goemotions")
    assert len(ds) == 2 and any("skipped 1 row(s) with empty text" in r.message for r in caplog.records)


def test_goemotions_files_must_agree_and_cannot_be_binarized(tmp_path):
    first = write_goemotions(tmp_path / "a", [("fine", "0", "c1")])
    second = write_goemotions(tmp_path / "b", [("fine", "0", "c1")], emotions=["calm", "joy"])
    with pytest.raises(UserError, match="disagree on their label names"):
        read_dataset([first, second], data_format="goemotions")
    with pytest.raises(UserError, match="--binarize-sent turns one rating column into binary labels"):
        read_dataset(first, data_format="goemotions", binarize_sent=3.0)


# ----- SST-5 -----
TREES = ["(3 (2 It) (4 (2 's) (3 (2 a) (4 (2 -LRB-) (4 great) (2 -RRB-)) ) ) )",
         "(0 (1 Awful) (2 .))",
         "(2 (2 Meh))"]


def test_sst5_tree_files(write_file):
    ds = read_dataset(write_file("train.txt", "\n".join(TREES) + "\n"), data_format="sst5")
    assert list(ds.texts) == ["It 's a ( great )", "Awful .", "Meh"]
    assert ds.labels.tolist() == [3, 0, 2] and ds.labels.dtype == np.int64 and ds.task == "multiclass"
    assert ds.class_names == ["very negative", "negative", "neutral", "positive", "very positive"]


def test_sst5_csv(write_file):
    ds = read_dataset(write_file("sst5.csv", 'label,sentence\n4,"great, truly"\n1,bad\n'), data_format="sst5")
    assert list(ds.texts) == ["great, truly", "bad"] and ds.labels.tolist() == [4, 1]


@pytest.mark.parametrize("content, message", [
    ("(3 (2 fine))\n(7 (2 odd))\n", "bad.txt line 2: label '7' is outside 0-4"),
    ("(3 (2 fine)\n", "bad.txt line 1 has unbalanced parentheses \\(1 '\\(' not closed\\)"),
    ("(3 (2 fine)))\n", "bad.txt line 1 has text after the tree's closing"),
    ("(3 (2 fine))\n(2 )\n", "bad.txt line 2 has an empty sentence"),
    ("just words\n", "bad.txt line 1 is not a tree"),
])
def test_sst5_tree_errors(write_file, content, message):
    with pytest.raises(UserError, match=message):
        read_dataset(write_file("bad.txt", content), data_format="sst5")


def test_sst5_csv_errors(write_file):
    with pytest.raises(UserError, match="bad.csv line 3: label '7' is outside 0-4"):
        read_dataset(write_file("bad.csv", "label,sentence\n1,ok\n7,odd\n"), data_format="sst5")
    with pytest.raises(UserError, match="empty.csv line 2 has an empty sentence"):
        read_dataset(write_file("empty.csv", "label,sentence\n1, \n"), data_format="sst5")


# ----- tiny finetunes, one per labelled format -----
def write_formats(root):
    """{format: (data flags, the training file)} with train/dev/test files of each labelled format."""
    words = ["good", "bad", "fine", "dull", "great", "awful"]
    goemotions = {split: write_goemotions(root / "ge", [(f"{w} {i}", str(i % 4), f"c{i}") for i, w in
                                                       enumerate(words * 2)], name=f"{split}.tsv")
                  for split in ("train", "dev", "test")}
    (root / "sst").mkdir()
    sst = {}
    for split in ("train", "dev", "test"):
        sst[split] = str(root / "sst" / f"{split}.txt")
        trees = [f"({i % 5} (2 {w}) (2 film))" for i, w in enumerate(words * 2)]
        (root / "sst" / f"{split}.txt").write_text("\n".join(trees) + "\n")
    amazon = write_gz(root / "amazon.json.gz", json_lines(reviews([5, 1, 4, 2, 5, 1, 3, 4, 2, 5, 1, 4])))
    imdb = write_imdb(root / "imdb", pos=[(i, 8) for i in range(6)], neg=[(i, 2) for i in range(6, 12)])
    return {"goemotions": ["--data-format", "goemotions", "--data", goemotions["train"], "--valid", goemotions["dev"],
                           "--test", goemotions["test"]],
            "sst5": ["--data-format", "sst5", "--data", sst["train"], "--valid", sst["dev"], "--test", sst["test"],
                     "--use-softmax"],
            "amazon": ["--data-format", "amazon", "--data", amazon, "--binarize-sent", "--lazy", "--split", "2,1,1"],
            "imdb": ["--data", imdb, "--split", "2,1,1"]}


@pytest.mark.slow
@pytest.mark.parametrize("data_format, task, labels", [
    ("goemotions", "multilabel", EMOTIONS), ("sst5", "multiclass", SST5_NAMES), ("amazon", "binary", ["overall"]),
    ("imdb", "binary", ["label"])])
def test_tiny_finetune_on_each_format(tmp_path, data_format, task, labels):
    flags = write_formats(tmp_path)[data_format]
    summary = finetune_classifier.main([*flags, *TINY_MODEL, "--save", str(tmp_path / "c.pt")])
    assert summary["outcome"] == "done" and summary["task"] == task
    assert summary["labels"] == labels
