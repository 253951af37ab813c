"""LMStream: shard contents, overlap, determinism, resume, rank slicing, reset masks, eval pass."""
import itertools

import numpy as np
import pytest
import torch

from sentiment_discovery.data.batches.lm_stream import LMStream, merge_state_dicts
from sentiment_discovery.data.formats.readers import read_dataset
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from sentiment_discovery.errors import UserError

# 30 documents of 1..9 tokens; doc d holds the ids 100*d + 1, 100*d + 2, ... so any token names its doc
DOCS = [list(range(100 * d + 1, 100 * d + 2 + d % 9)) for d in range(30)]


def expected_row(docs, seed, row, per_shard, n_tokens):
    """The spec, written out plainly: tokens, doc-start flags and shard-start flags of a row."""
    tokens, doc_starts, shard_starts, shard = [], [], [], 0
    while len(tokens) < n_tokens:
        picks = np.random.default_rng([seed, row, shard]).integers(0, len(docs), size=per_shard)
        first_of_shard = True
        for d in picks:
            for k, token in enumerate(docs[d]):
                tokens.append(token)
                doc_starts.append(k == 0)
                shard_starts.append(first_of_shard)
                first_of_shard = False
        shard += 1
    return np.array(tokens[:n_tokens]), np.array(doc_starts[:n_tokens]), np.array(shard_starts[:n_tokens])


def collect(stream, n_batches):
    return [stream.next_batch() for _ in range(n_batches)]


def row_inputs(batches, j, key="tokens"):
    """Row j's input positions over consecutive batches, joined."""
    if key == "tokens":
        return torch.cat([b["tokens"][j, :-1] for b in batches]).numpy()
    return torch.cat([b[key][j] for b in batches]).numpy()


def make(**kwargs):
    config = {"docs": DOCS, "tokenizer": None, "batch_size": 3, "seq_length": 7, "samples_per_shard": 4, "seed": 5}
    config.update(kwargs)
    return LMStream(**config)


def test_batch_shapes_and_overlap():
    batches = collect(make(), 3)
    for batch in batches:
        assert batch["tokens"].shape == (3, 8) and batch["tokens"].dtype == torch.int64
        assert batch["reset_mask"].shape == (3, 7) and batch["reset_mask"].dtype == torch.bool
        assert batch["loss_mask"].shape == (3, 7) and bool(batch["loss_mask"].all())
    for before, after in itertools.pairwise(batches):
        assert torch.equal(before["tokens"][:, -1], after["tokens"][:, 0])


@pytest.mark.parametrize("persist_state", [0, 1, -1])
def test_rows_follow_the_spec_with_reset_masks(persist_state):
    stream = make(persist_state=persist_state, batch_size=2, rank=1, world_size=2)
    batches = collect(stream, 12)  # 84 tokens a row: several shards
    for j, global_row in enumerate((2, 3)):
        tokens, doc_starts, shard_starts = expected_row(DOCS, 5, global_row, 4, 84)
        assert np.array_equal(row_inputs(batches, j), tokens)
        expected_reset = {0: doc_starts, 1: shard_starts, -1: np.zeros(84, bool)}[persist_state]
        assert np.array_equal(row_inputs(batches, j, "reset_mask"), expected_reset)


def test_determinism_and_seed():
    first, second = collect(make(), 5), collect(make(), 5)
    assert all(torch.equal(a["tokens"], b["tokens"]) for a, b in zip(first, second))
    other = collect(make(seed=6), 5)
    assert not all(torch.equal(a["tokens"], b["tokens"]) for a, b in zip(first, other))


def test_union_of_ranks_equals_one_process():
    single = collect(make(batch_size=4), 6)
    ranks = [collect(make(batch_size=2, rank=r, world_size=2), 6) for r in range(2)]
    for n in range(6):
        joined = torch.cat([ranks[0][n]["tokens"], ranks[1][n]["tokens"]])
        assert torch.equal(joined, single[n]["tokens"])
        assert torch.equal(torch.cat([ranks[0][n]["reset_mask"], ranks[1][n]["reset_mask"]]),
                           single[n]["reset_mask"])


def test_state_round_trip_resumes_identically():
    stream = make()
    collect(stream, 4)
    state = stream.state_dict()
    assert all(isinstance(v, (int, bool)) or all(isinstance(x, int) for x in v) for v in state.values())
    expected = collect(stream, 6)
    resumed = make()
    resumed.load_state_dict(state)
    assert all(torch.equal(a["tokens"], b["tokens"]) and torch.equal(a["reset_mask"], b["reset_mask"])
               for a, b in zip(expected, collect(resumed, 6)))


def test_rows_missing_from_a_state_are_recomputed():
    rank0, rank1 = make(batch_size=2, rank=0, world_size=2), make(batch_size=2, rank=1, world_size=2)
    collect(rank0, 5), collect(rank1, 5)
    expected = collect(rank1, 3)
    from_rank0 = make(batch_size=2, rank=1, world_size=2)
    from_rank0.load_state_dict(rank0.state_dict())  # only rows 0, 1 saved: rows 2, 3 walk forward
    assert all(torch.equal(a["tokens"], b["tokens"]) for a, b in zip(expected, collect(from_rank0, 3)))
    other_rank1 = make(batch_size=2, rank=1, world_size=2)
    collect(other_rank1, 5)
    merged = merge_state_dicts([rank0.state_dict(), other_rank1.state_dict()])
    assert merged["rows"] == [0, 1, 2, 3] and merged["batches"] == 5
    from_merged = make(batch_size=2, rank=1, world_size=2)
    from_merged.load_state_dict(merged)
    assert all(torch.equal(a["tokens"], b["tokens"]) for a, b in zip(expected, collect(from_merged, 3)))
    with pytest.raises(UserError, match="different batches"):
        merge_state_dicts([rank0.state_dict(), make(batch_size=2, rank=1, world_size=2).state_dict()])


def test_loading_a_state_of_other_data_or_settings_is_an_error():
    state = make().state_dict()
    with pytest.raises(UserError, match="saved with num_docs=30, this stream has 29"):
        make(docs=DOCS[:29]).load_state_dict(state)
    with pytest.raises(UserError, match="saved with seed=5"):
        make(seed=1).load_state_dict(state)
    with pytest.raises(UserError, match="not a language-model stream state"):
        make().load_state_dict({"batches": 3})


@pytest.mark.parametrize("batch_size,world_size", [(2, 1), (3, 2), (20, 2)])
def test_eval_pass_targets_every_token_once(batch_size, world_size):
    global_rows = batch_size * world_size
    streams = [make(batch_size=batch_size, rank=r, world_size=world_size, endless=False, samples_per_shard=2)
               for r in range(world_size)]
    for stream in streams:
        batches = list(iter(stream.next_batch, None))
        assert stream.next_batch() is None
        for j, cursor in enumerate(stream.cursors):
            targets = torch.cat([b["tokens"][j, 1:][b["loss_mask"][j]] for b in batches]).tolist()
            row_docs = range(cursor.row, len(DOCS), global_rows)
            assert targets == [t for d in row_docs for t in DOCS[d]]
            padded = torch.cat([b["tokens"][j, 1:][~b["loss_mask"][j]] for b in batches])
            assert bool((padded == 0).all())


def test_eval_reset_mask_and_resume():
    stream = make(batch_size=1, endless=False, persist_state=0, seq_length=4)
    batches = list(iter(stream.next_batch, None))
    inputs, resets = row_inputs(batches, 0), row_inputs(batches, 0, "reset_mask")
    real = np.concatenate([[0], np.concatenate([DOCS[d] for d in range(30)])])  # leading pad
    assert np.array_equal(inputs[:real.size], real)
    assert np.array_equal(np.flatnonzero(resets[:real.size]), np.flatnonzero((real % 100 == 1) | (real == 0)))
    resumed = make(batch_size=1, endless=False, persist_state=0, seq_length=4)
    partial = make(batch_size=1, endless=False, persist_state=0, seq_length=4)
    collect(partial, 10)
    resumed.load_state_dict({**partial.state_dict(), "rows": [], "shards": [], "offsets": []})
    assert all(torch.equal(a["tokens"], b["tokens"]) for a, b in zip(batches[10:], iter(resumed.next_batch, None)))


@pytest.mark.parametrize("kwargs,message", [
    ({"batch_size": 0}, "--batch-size must be a positive integer"),
    ({"seq_length": 2.5}, "--seq-length must be a positive integer"),
    ({"persist_state": 2}, "--persist-state must be one of"),
    ({"rank": 2, "world_size": 2}, "rank 2 is outside world size 2"),
    ({"seed": -1}, "--seed must be a non-negative integer"),
    ({"docs": []}, "has no documents"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(UserError, match=message):
        make(**kwargs)


def test_all_empty_documents_is_an_error():
    with pytest.raises(UserError, match="shards in a row have no tokens"):
        make(docs=[[], []], samples_per_shard=1).next_batch()


def test_lazy_bundled_corpus_with_char_tokenizer(data_dir):
    ds = read_dataset(str(data_dir / "lm_corpus" / "opinions.json"), text_key="text", lazy=True,
                      require_labels=False)
    stream = LMStream(ds.texts, CharTokenizer(), batch_size=4, seq_length=64, samples_per_shard=3)
    batch = stream.next_batch()
    first_docs = np.random.default_rng([1234, 0, 0]).integers(0, len(ds), size=3)
    expected = "".join(ds.texts[int(d)] for d in first_docs).encode("utf-8")[:65]
    assert bytes((batch["tokens"][0] - 1).tolist()) == expected


# ----- parity with the stream as it was before lazy encoding (tests/lm_stream_reference.py) -----
def mixed_texts(n=40, seed=3):
    """Texts of 0..300 characters with multi-byte UTF-8 (2, 3 and 4 bytes), so small pieces cut inside
    a character's bytes would show."""
    rng = np.random.default_rng(seed)
    alphabet = list("abcdef ghij\n\x00") + ["é", "ü", "€", "中", "😀"]
    return ["".join(rng.choice(alphabet, size=int(rng.integers(0, 300)))) if d % 7 else "" for d in range(n)]


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces and read-ahead far smaller than a document, so every cut and join path runs."""
    from sentiment_discovery.data.batches import lm_stream
    monkeypatch.setattr(lm_stream, "CHAR_PIECE", 5)
    monkeypatch.setattr(lm_stream, "ID_PIECE", 3)
    monkeypatch.setattr(lm_stream, "TEXT_PIECE_CHARS", 40)
    monkeypatch.setattr(lm_stream, "SEGMENT_TOKENS", 11)


def assert_same_batches(stream, reference, n_batches, states=True):
    for _ in range(n_batches):
        got, want = stream.next_batch(), reference.next_batch()
        if want is None:
            assert got is None
            return
        for key in ("tokens", "reset_mask", "loss_mask"):
            assert torch.equal(got[key], want[key]), key
        if states:
            assert stream.state_dict() == reference.state_dict()


@pytest.mark.parametrize("pieces", ["default", "small"])
@pytest.mark.parametrize("persist_state", [0, 1, -1])
@pytest.mark.parametrize("endless", [True, False])
def test_same_batches_and_positions_as_the_reference(pieces, persist_state, endless, request):
    from tests.lm_stream_reference import ReferenceLMStream
    if pieces == "small":
        request.getfixturevalue("small_pieces")
    config = dict(docs=mixed_texts(), tokenizer=CharTokenizer(), batch_size=3, seq_length=9,
                  persist_state=persist_state, samples_per_shard=4, seed=11, rank=1, world_size=2,
                  endless=endless)
    assert_same_batches(LMStream(**config), ReferenceLMStream(**config), 200, states=endless)
    ids = dict(config, docs=DOCS, tokenizer=None)
    assert_same_batches(LMStream(**ids), ReferenceLMStream(**ids), 60, states=endless)


@pytest.mark.parametrize("pieces", ["default", "small"])
def test_positions_resume_across_the_old_and_new_stream(pieces, request):
    """The saved position keeps its format: a state from either stream resumes the other exactly."""
    from tests.lm_stream_reference import ReferenceLMStream
    if pieces == "small":
        request.getfixturevalue("small_pieces")
    config = dict(docs=mixed_texts(), tokenizer=CharTokenizer(), batch_size=2, seq_length=13,
                  samples_per_shard=3, seed=2)
    old, new = ReferenceLMStream(**config), LMStream(**config)
    collect(old, 17), collect(new, 17)
    assert old.state_dict() == new.state_dict()
    from_old, from_new = LMStream(**config), ReferenceLMStream(**config)
    from_old.load_state_dict(old.state_dict())
    from_new.load_state_dict(new.state_dict())
    assert_same_batches(from_old, old, 25)
    assert_same_batches(from_new, new, 25)
    walked = LMStream(**config)  # rows missing from a state walk forward from the start
    walked.load_state_dict({**old.state_dict(), "rows": [], "shards": [], "offsets": []})
    assert walked.state_dict() == old.state_dict()
    assert_same_batches(walked, old, 10)


@pytest.fixture(scope="module")
def sentencepiece(data_dir_module):
    from sentiment_discovery.data.tokenizers.builtin import SentencePieceTokenizer
    return SentencePieceTokenizer(str(data_dir_module / "tokenizers" / "imdb_sst_ama_32k_tokenizer.model"))


@pytest.fixture(scope="module")
def data_dir_module():
    from tests.conftest import REPO_ROOT
    return REPO_ROOT / "data"


def corpus_texts(data_dir, n=60):
    ds = read_dataset(str(data_dir / "lm_corpus" / "opinions.json"), text_key="text", lazy=True,
                      require_labels=False)
    return [ds.texts[i] for i in range(n)]


def test_sentencepiece_documents_that_fit_a_piece_match_the_reference(sentencepiece, data_dir_module):
    from tests.lm_stream_reference import ReferenceLMStream
    config = dict(docs=corpus_texts(data_dir_module), tokenizer=sentencepiece, batch_size=2, seq_length=32,
                  samples_per_shard=5, seed=4)
    assert_same_batches(LMStream(**config), ReferenceLMStream(**config), 40)


def test_sentencepiece_long_documents_cut_at_whitespace(sentencepiece, data_dir_module, small_pieces):
    """Documents longer than TEXT_PIECE_CHARS (40 here) are encoded piece by piece, cut before
    whitespace: on ordinary text that gives the whole-document tokens (the bundled model splits at
    whitespace); a run with no whitespace is cut hard, and only there do the tokens differ."""
    from sentiment_discovery.data.batches.lm_stream import _whitespace_pieces
    from tests.lm_stream_reference import ReferenceLMStream
    texts = corpus_texts(data_dir_module)
    assert max(len(t) for t in texts) > 200
    config = dict(docs=texts, tokenizer=sentencepiece, batch_size=2, seq_length=32, samples_per_shard=5, seed=4)
    assert_same_batches(LMStream(**config), ReferenceLMStream(**config), 40)
    for text in texts + ["x" * 100 + " end", "", " " * 90]:
        pieces = list(_whitespace_pieces(text, 40))
        assert "".join(pieces) == text and all(len(p) <= 40 for p in pieces)
        for before, after in itertools.pairwise(pieces):  # cut before whitespace, else a hard cut
            assert after[0].isspace() or not any(c.isspace() for c in before[1:])
    long_word = "x" * 100 + " end"
    stream = LMStream([long_word], sentencepiece, batch_size=1, seq_length=64, samples_per_shard=1)
    ids = stream.next_batch()["tokens"][0]
    pieces = [sentencepiece.encode_array(p) for p in ("x" * 40, "x" * 40, "x" * 20 + " end")]
    assert ids[:sum(p.size for p in pieces)].tolist() == np.concatenate(pieces).tolist()


def test_held_tokens_use_a_narrow_dtype(sentencepiece):
    from sentiment_discovery.data.batches.lm_stream import _token_dtype
    assert _token_dtype(CharTokenizer()) == np.uint16 and _token_dtype(sentencepiece) == np.uint16
    assert _token_dtype(None) == np.int64
    stream = LMStream(["héllo world"] * 3, CharTokenizer(), batch_size=1, seq_length=4)
    stream.next_batch()
    assert stream.cursors[0].segments[0].tokens.dtype == np.uint16


@pytest.mark.parametrize("endless", [True, False])
def test_a_nul_character_is_a_token_not_padding(endless):
    from tests.lm_stream_reference import ReferenceLMStream
    config = dict(docs=["\x00", "a\x00", "\x00\x00b"], tokenizer=CharTokenizer(), batch_size=2, seq_length=5,
                  samples_per_shard=2, endless=endless)
    assert_same_batches(LMStream(**config), ReferenceLMStream(**config), 6, states=endless)
