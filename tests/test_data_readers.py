"""read_dataset: formats, label kinds, lazy reading, bundled data sets, and every bad-input case."""
import json
import logging

import numpy as np
import pytest

from sentiment_discovery.data.formats.readers import read_dataset
from sentiment_discovery.errors import UserError

PLUTCHIK_8 = ["anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust"]


def loose_json(records):
    return "".join(json.dumps(r) + "\n" for r in records)


# ----- formats -----
def test_csv_binary_labels_are_float(write_file):
    path = write_file("a.csv", 'label,sentence\n0,"bad, really"\n1,good\n')
    ds = read_dataset(path)
    assert list(ds.texts) == ["bad, really", "good"]
    assert ds.labels.dtype == np.float32 and ds.labels.tolist() == [0.0, 1.0]
    assert ds.label_names == ["label"] and ds.task == "binary" and len(ds) == 2


def test_tsv_uses_tabs_and_custom_delimiter(write_file):
    tsv = write_file("a.tsv", "label\tsentence\n1\thas, commas\n0\tplain\n")
    assert list(read_dataset(tsv).texts) == ["has, commas", "plain"]
    piped = write_file("b.csv", "label|sentence\n1|x, y\n")
    assert list(read_dataset(piped, delim="|").texts) == ["x, y"]


def test_json_list_loose_json_and_jsonl(write_file):
    records = [{"text": "one", "y": 1}, {"text": "two", "y": 0}]
    as_list = write_file("list.json", json.dumps(records))
    as_lines = write_file("lines.json", loose_json(records))
    as_jsonl = write_file("lines.jsonl", loose_json(records))
    for path, loose in ((as_list, False), (as_lines, False), (as_lines, True), (as_jsonl, False)):
        ds = read_dataset(path, text_key="text", label_key="y", loose_json=loose)
        assert list(ds.texts) == ["one", "two"] and ds.labels.tolist() == [1.0, 0.0]


def test_multi_label_columns(write_file):
    path = write_file("m.csv", "t,a,b,c\nx,1,0,1\ny,0,0,0\n")
    ds = read_dataset(path, text_key="t", non_binary_cols=["a", "b", "c"])
    assert ds.labels.shape == (2, 3) and ds.labels.dtype == np.float32
    assert ds.labels.tolist() == [[1, 0, 1], [0, 0, 0]] and ds.task == "multilabel"
    assert ds.label_names == ["a", "b", "c"]


def test_multi_class_labels_are_int(write_file):
    path = write_file("k.csv", "label,sentence\n0,a\n2,b\n1,c\n")
    ds = read_dataset(path)
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [0, 2, 1] and ds.task == "multiclass"


def test_several_paths_are_joined_and_labels_inferred_together(write_file):
    first = write_file("1.csv", "label,sentence\n0,a\n1,b\n")
    second = write_file("2.csv", "label,sentence\n2,c\n")
    ds = read_dataset([first, second])
    assert list(ds.texts) == ["a", "b", "c"] and ds.labels.dtype == np.int64
    assert first in ds.source and second in ds.source


def test_class_names_map_label_names(write_file):
    path = write_file("n.csv", "label,text\nneutral,a\npositive,b\nnegative,c\n")
    ds = read_dataset(path, text_key="text", class_names=["negative", "neutral", "positive"])
    assert ds.labels.tolist() == [1, 2, 0] and ds.class_names == ["negative", "neutral", "positive"]
    with pytest.raises(UserError, match="'angry'.*row 1.*class names"):
        read_dataset(write_file("m.csv", "label,text\nangry,a\n"), text_key="text", class_names=["x", "y"])


def test_require_labels_false(write_file):
    unlabelled = write_file("u.csv", "sentence\nhello\n")
    ds = read_dataset(unlabelled, require_labels=False)
    assert ds.labels is None and list(ds.texts) == ["hello"] and ds.task is None
    labelled = write_file("l.csv", "label,sentence\n1,hi\n")
    assert read_dataset(labelled, require_labels=False).labels.tolist() == [1.0]
    empty_labels = write_file("e.csv", "label,sentence\n,hi\n")
    assert read_dataset(empty_labels, require_labels=False).labels is None


def test_mixing_labelled_and_unlabelled_files_is_an_error(write_file):
    labelled = write_file("l.csv", "label,sentence\n1,hi\n")
    unlabelled = write_file("u.csv", "sentence\nhello\n")
    with pytest.raises(UserError, match="some files have labels and some do not.*u.csv"):
        read_dataset([labelled, unlabelled], require_labels=False)


def test_process_fn_is_applied(write_file):
    path = write_file("t.csv", "label,sentence\n1,\"@bob  loves   https://x.co/a &amp; #fun 😍\"\n")
    text = read_dataset(path, process_fn="process_tweet").texts[0]
    assert text == "@bob loves xxxx & fun!! :smiling_face_with_heart-eyes:"
    assert read_dataset(path, process_fn="process_str").texts[0] == "\n @bob loves https://x.co/a & #fun "
    with pytest.raises(UserError, match="unknown process function 'shout'.*process_str"):
        read_dataset(path, process_fn="shout")


def test_undecodable_bytes_are_replaced_counted_and_warned_once(write_file, caplog):
    path = write_file("bad.csv", b"label,sentence\n1,caf\xe9 \xff\n0,fine\n1,na\xefve\n")
    with caplog.at_level(logging.WARNING):
        ds = read_dataset(path)
    assert ds.texts[0] == "caf\ufffd \ufffd" and ds.texts[2] == "na\ufffdve"
    warnings = [r for r in caplog.records if "undecodable" in r.getMessage()]
    assert len(warnings) == 1 and "3 undecodable" in warnings[0].getMessage()


def test_byte_order_mark_is_dropped(write_file):
    path = write_file("bom.csv", "\ufefflabel,sentence\n1,hi\n".encode("utf-8"))
    assert read_dataset(path).labels.tolist() == [1.0]


def test_subset_keeps_labels_aligned(write_file):
    ds = read_dataset(write_file("a.csv", "label,sentence\n0,a\n1,b\n0,c\n"))
    part = ds.subset([2, 1])
    assert list(part.texts) == ["c", "b"] and part.labels.tolist() == [0.0, 1.0]


# ----- empty texts -----
def test_empty_texts_are_skipped_with_one_warning(write_file, caplog):
    path = write_file("e.csv", 'label,sentence\n1,a\n0,""\n1,"   "\n0,b\n')
    with caplog.at_level(logging.WARNING):
        ds = read_dataset(path)
    assert list(ds.texts) == ["a", "b"] and ds.labels.tolist() == [1.0, 0.0]
    assert [r.getMessage() for r in caplog.records if "empty text" in r.getMessage()] == [
        f"{path}: skipped 2 row(s) with empty text"]


def test_keep_empty_keeps_row_positions(write_file):
    path = write_file("e.csv", 'label,sentence\n1,a\n0,""\n1,b\n')
    ds = read_dataset(path, keep_empty=True)
    assert list(ds.texts) == ["a", "", "b"] and ds.labels.tolist() == [1.0, 0.0, 1.0]


def test_all_texts_empty_is_an_error(write_file):
    with pytest.raises(UserError, match="no rows with non-empty text in column 'sentence'"):
        read_dataset(write_file("e.csv", 'label,sentence\n1,""\n'))


# ----- bad input -----
def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="file not found: .*nope.csv"):
        read_dataset(str(tmp_path / "nope.csv"))
    with pytest.raises(UserError, match="file not found"):
        read_dataset(str(tmp_path / "nope.jsonl"), lazy=True)


def test_missing_columns_list_the_existing_ones(write_file):
    path = write_file("a.csv", "score,review\n1,ok\n")
    with pytest.raises(UserError, match="no text column 'sentence'; its columns are: 'score', 'review'"):
        read_dataset(path)
    with pytest.raises(UserError, match="no label column 'label'; its columns are: 'score', 'review'"):
        read_dataset(path, text_key="review")
    with pytest.raises(UserError, match="no label column 'joy'"):
        read_dataset(path, text_key="review", non_binary_cols=["score", "joy"], require_labels=False)
    json_path = write_file("a.jsonl", loose_json([{"body": "x"}]))
    with pytest.raises(UserError, match="no text column 'text'; its columns are: 'body'"):
        read_dataset(json_path, text_key="text", require_labels=False)


@pytest.mark.parametrize("name,content", [("e.csv", ""), ("e.json", "  \n"), ("e.jsonl", "")])
def test_empty_file(write_file, name, content):
    with pytest.raises(UserError, match="is empty"):
        read_dataset(write_file(name, content))


def test_empty_file_lazy(write_file):
    with pytest.raises(UserError, match="is empty"):
        read_dataset(write_file("e.jsonl", "\n\n"), lazy=True)


def test_header_only_file(write_file):
    path = write_file("h.csv", "label,sentence\n")
    with pytest.raises(UserError, match="has a header \\(label, sentence\\) but no rows"):
        read_dataset(path)
    with pytest.raises(UserError, match="has a header but no rows"):
        read_dataset(path, lazy=True)


@pytest.mark.parametrize("cell", ["", "nan", "NaN"])
def test_missing_or_nan_label(write_file, cell):
    path = write_file("n.csv", f"label,sentence\n1,a\n{cell},b\n")
    with pytest.raises(UserError, match="label 'label' is missing or NaN in row 2"):
        read_dataset(path)


def test_json_null_label(write_file):
    path = write_file("n.jsonl", loose_json([{"text": "a", "label": None}]))
    with pytest.raises(UserError, match="missing or NaN in row 1"):
        read_dataset(path, text_key="text")


def test_labels_mixing_numbers_and_words(write_file):
    path = write_file("s.csv", "label,sentence\n1,a\npos,b\n")
    message = r"mixes numbers \('1' in row 1\) and words \('pos' in row 2\).*--class-names"
    with pytest.raises(UserError, match=message):
        read_dataset(path)


@pytest.mark.parametrize("cells,message", [
    ("0\n-1", "is -1 in row 2; class labels must be integers >= 0"),
    ("0\n1.5", "is 1.5 in row 2; class labels must be integers >= 0"),
])
def test_class_label_out_of_range(write_file, cells, message):
    rows = "".join(f"{c},t\n" for c in cells.split("\n"))
    with pytest.raises(UserError, match=message):
        read_dataset(write_file("c.csv", "label,sentence\n" + rows))


def test_multi_label_values_must_be_binary(write_file):
    path = write_file("m.csv", "t,a,b\nx,1,0\ny,0,2\n")
    with pytest.raises(UserError, match="label 'b' is 2 in row 2; multi-label labels must be 0 or 1"):
        read_dataset(path, text_key="t", non_binary_cols=["a", "b"])


def test_json_that_is_neither_list_nor_loose(write_file):
    with pytest.raises(UserError,
                       match="bad.json line 1 is not valid JSON.*JSON list of objects or one JSON object per line"):
        read_dataset(write_file("bad.json", '{"text": "a",\n "label": 1}\n'), text_key="text")
    with pytest.raises(UserError, match="starts with '\\[' but is not a valid JSON list"):
        read_dataset(write_file("bad2.json", '[{"text": "a"},'), text_key="text")
    with pytest.raises(UserError, match="item 1 of the JSON list is a int, not an object"):
        read_dataset(write_file("bad3.json", '[{"text": "a"}, 3]'), text_key="text")
    with pytest.raises(UserError, match="holds no records"):
        read_dataset(write_file("bad4.json", "[]"), text_key="text")


def test_ragged_csv_row(write_file):
    path = write_file("r.csv", "label,sentence\n1,a\n0,b,extra\n")
    with pytest.raises(UserError, match="r.csv is not a valid delimited file.*Expected 2 fields in line 3, saw 3"):
        read_dataset(path)


def test_unknown_extension(write_file):
    with pytest.raises(UserError, match="cannot tell the format of .*data.dat"):
        read_dataset(write_file("data.dat", "hello\n"))


# ----- lazy -----
def test_lazy_loose_json_matches_eager(write_file):
    records = [{"text": f"doc {i}", "label": i % 2} for i in range(20)]
    path = write_file("l.jsonl", loose_json(records[:10]) + "\n" + loose_json(records[10:]))
    eager = read_dataset(path, text_key="text", process_fn="process_str")
    lazy = read_dataset(path, text_key="text", lazy=True, process_fn="process_str")
    assert not isinstance(lazy.texts, list) and len(lazy) == 20
    assert [lazy.texts[i] for i in range(20)] == list(eager.texts)
    assert lazy.texts[-1] == "\n doc 19 " and np.array_equal(lazy.labels, eager.labels)
    assert list(lazy.subset([3, 0]).texts) == ["\n doc 3 ", "\n doc 0 "]


def test_lazy_csv_and_quoted_newline_error(write_file):
    path = write_file("l.csv", 'label,sentence\n1,"a, b"\n0,c\n')
    ds = read_dataset(path, lazy=True)
    assert list(ds.texts) == ["a, b", "c"] and ds.labels.tolist() == [1.0, 0.0]
    broken = write_file("q.csv", 'sentence\n"two\nlines"\n')
    texts = read_dataset(broken, lazy=True, require_labels=False).texts
    with pytest.raises(UserError, match="line 2 is not a complete CSV record.*quoted newline"):
        texts[0]
    short_row = write_file("s.csv", "label,sentence\n1\n")
    with pytest.raises(UserError, match="line 2 has 1 fields, the header has 2"):
        read_dataset(short_row, lazy=True)


def test_lazy_json_list_is_an_error(write_file):
    path = write_file("list.json", json.dumps([{"text": "a"}]))
    with pytest.raises(UserError, match="lazy reading needs one JSON object per line.*JSON list"):
        read_dataset(path, text_key="text", lazy=True, require_labels=False)


def test_lazy_bad_line_is_named_when_read(write_file):
    path = write_file("b.jsonl", '{"text": "ok"}\nnot json\n')
    ds = read_dataset(path, text_key="text", lazy=True, require_labels=False)
    assert ds.texts[0] == "ok"
    with pytest.raises(UserError, match="non-blank line 2 is not valid JSON"):
        ds.texts[1]


def test_lazy_undecodable_warns_once(write_file, caplog):
    path = write_file("u.jsonl", b'{"text": "a\xff"}\n{"text": "b\xfe"}\n')
    ds = read_dataset(path, text_key="text", lazy=True, require_labels=False)
    with caplog.at_level(logging.WARNING):
        assert [ds.texts[0], ds.texts[1]] == ["a\ufffd", "b\ufffd"]
    assert len([r for r in caplog.records if "undecodable" in r.getMessage()]) == 1


# ----- bundled data -----
def test_bundled_binary_sst_test(data_dir):
    ds = read_dataset(str(data_dir / "binary_sst" / "test.csv"))
    assert len(ds) == 1821 and ds.task == "binary"
    assert ds.texts[0] == "No movement, no yuks, not much of anything." and ds.labels[0] == 0


def test_bundled_semeval_val_plutchik(data_dir):
    ds = read_dataset(str(data_dir / "semeval" / "val.csv"), text_key="Tweet", non_binary_cols=PLUTCHIK_8,
                      process_fn="process_tweet")
    assert ds.labels.shape == (886, 8) and ds.task == "multilabel"
    assert ds.labels[0].tolist() == [1, 0, 1, 0, 0, 0, 0, 0]  # anger, disgust
    assert ds.texts[0].startswith("@") and "Oh, hidden revenge" in ds.texts[0] and "@user" not in ds.texts[0]


def test_bundled_semeval_test_has_no_labels(data_dir):
    ds = read_dataset(str(data_dir / "semeval" / "test.csv"), text_key="Tweet",
                      non_binary_cols=PLUTCHIK_8, require_labels=False)
    assert ds.labels is None and len(ds) == 3259


def test_bundled_lm_corpus_lazily(data_dir):
    path = str(data_dir / "lm_corpus" / "opinions.json")
    ds = read_dataset(path, text_key="text", lazy=True, require_labels=False)
    assert len(ds) == 46504 and ds.labels is None
    with open(path, encoding="utf-8") as handle:
        first = json.loads(handle.readline())["text"]
    assert ds.texts[0] == first and isinstance(ds.texts[46503], str) and ds.texts[-1] == ds.texts[46503]
