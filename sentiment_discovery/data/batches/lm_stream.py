"""Language-model batches: one independent token stream per row of the global batch.

Training (`endless=True`, the scheme of the original's sharded LM loader, Puri et al. 2018,
arXiv 1808.01371): global row g (of batch_size x world_size rows) reads shard 0, 1, 2, ... one after
another; shard k is `samples_per_shard` documents drawn with replacement by
`np.random.default_rng([seed, g, k])`, encoded and concatenated. A row's stream depends only on
(seed, g, data), so rank r builds just its rows [r*B, (r+1)*B) with no communication, and the ranks'
rows together are exactly what one process with the global batch produces.

Evaluation (`endless=False`): global row g reads documents g, g + G, g + 2G, ... (G global rows) once,
in order, in groups of `samples_per_shard` ("shards"), after one leading pad token so that the first
document token is a target too. A row that runs out is padded with 0; `next_batch()` returns None
once no row has a target left. Every document token is a target exactly once over the pass.

Each batch (B local rows, T = seq_length):
  tokens     (B, T+1) int64  inputs = tokens[:, :-1], targets = tokens[:, 1:]; the next batch starts
                             at the last token of this one, so no target is lost;
  reset_mask (B, T) bool     True at input positions where the recurrent state must be zeroed before
                             the token: persist_state 0 -> first token of every document;
                             1 -> first token of every shard; -1 -> never;
  loss_mask  (B, T) bool     False where the target is padding.

Memory is bounded by the batch, not by the documents: a shard is never built whole. Each row reads its
documents one at a time and encodes them lazily, in pieces, as it consumes them; it holds the text of
its current document (as the reader returned it), a read-ahead of about SEGMENT_TOKENS tokens plus one
piece, and nothing of the documents it has passed. Held tokens are uint16 when the vocabulary fits
(int32 otherwise; int64 for raw id lists), widened to int64 only in the batch itself. How a document
is cut into pieces:
  - character tokenizer: every CHAR_PIECE characters. UTF-8 encodes each character on its own, so
    the pieces' bytes are exactly the whole document's bytes, whatever its length;
  - any other tokenizer (sentencepiece): a document of at most TEXT_PIECE_CHARS characters is encoded
    whole. A longer one is cut into pieces of at most TEXT_PIECE_CHARS characters,
    each cut placed just before the last whitespace of the window (a hard cut if there is none), and
    the pieces are encoded one by one. With sentencepiece's default whitespace pre-splitting and
    whitespace normalisation this usually gives the same pieces as encoding the document whole, but
    not always (a hard cut inside a long run without whitespace starts a new word there; a model
    trained without `split_by_whitespace` may merge across a cut): for documents longer than
    TEXT_PIECE_CHARS the tokens can differ from whole-document encoding.
Tokens, reset masks and positions are otherwise exactly those of building every shard whole.

`state_dict()` holds plain ints: the batch count and, for each local row, (shard, offset), the offset
counted in tokens from the shard's start. A resumed stream yields identical batches: it re-encodes the saved
shard's documents up to the offset and drops those tokens. Rows missing from a loaded state (e.g.
another rank's, when only rank 0 saved) start from the beginning and drop batches x seq_length
tokens; `merge_state_dicts` joins the states of all ranks so that no row needs that.
"""
from collections import deque

import numpy as np
import torch

from ...errors import UserError

STATE_VERSION = 1
PAD_ID = 0
MAX_EMPTY_SHARDS = 1000
PERSIST_CHOICES = (-1, 0, 1)
CHAR_PIECE = 1 << 14          # characters encoded at once by the character tokenizer (<= 4x bytes)
TEXT_PIECE_CHARS = 1 << 16    # longest text another tokenizer encodes in one go
ID_PIECE = 1 << 16            # ids taken at once from a raw id-list document
SEGMENT_TOKENS = 1 << 14      # a row's read-ahead: tokens gathered before they are handed on
WHITESPACE = (" ", "\n", "\t", "\r")


class _Segment:
    """Consecutive tokens of one shard: tokens (n,), resets (n,) bool, and where tokens[0] sits."""

    __slots__ = ("tokens", "resets", "shard", "offset")

    def __init__(self, tokens, resets, shard, offset):
        self.tokens, self.resets, self.shard, self.offset = tokens, resets, shard, offset


class _Pending:
    """Pieces of one shard gathered for the next segment, with where in them resets and pads fall."""

    __slots__ = ("pieces", "size", "resets", "pads")

    def __init__(self):
        self.pieces, self.size, self.resets, self.pads = [], 0, [], []

    def add(self, piece):
        self.pieces.append(piece)
        self.size += len(piece)


class _RowCursor:
    """One row's stream: the segments read ahead, how far into the first one the row is, and the
    generator that encodes what comes next (started lazily from `start`)."""

    def __init__(self, row, shard=0, skip=0):
        self.row = row
        self.start = (shard, skip)   # the generator begins `skip` tokens into `shard`
        self.source = None
        self.segments = deque()
        self.head = 0                # tokens of segments[0] already consumed
        self.available = 0           # unconsumed tokens in self.segments
        self.read_to = self.start    # (shard, offset) just past the last segment read
        self.ended = False           # evaluation: the row has no tokens left to read


class LMStream:
    """Per-row document streams cut into (B, T+1) token batches with reset and loss masks."""

    def __init__(self, docs, tokenizer, batch_size, seq_length, persist_state=0,
                 samples_per_shard=100, seed=1234, rank=0, world_size=1, endless=True):
        """docs: a sequence of texts (or of token-id sequences when tokenizer is None)."""
        _check_config(len(docs), batch_size, seq_length, persist_state, samples_per_shard,
                      seed, rank, world_size)
        self.docs = docs
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.persist_state = persist_state
        self.samples_per_shard = samples_per_shard
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.endless = endless
        self.global_rows = batch_size * world_size
        self.batches = 0
        self.token_dtype = _token_dtype(tokenizer)
        self.char_level = getattr(tokenizer, "kind", None) == "char"
        self.pad_piece = bytearray(1) if self.char_level else np.full(1, PAD_ID, self.token_dtype)
        self.cursors = [_RowCursor(rank * batch_size + j) for j in range(batch_size)]

    # ----- documents, pieces and shards -----
    # A piece is a document's raw encoding: UTF-8 bytes for the character tokenizer (shifted to ids
    # when a segment is joined: one numpy pass for many documents), an id array otherwise.
    def _piece_limit(self):
        """Longest document (characters, or ids) encoded as one piece."""
        if self.tokenizer is None:
            return ID_PIECE
        return CHAR_PIECE if self.char_level else TEXT_PIECE_CHARS

    def _encode_piece(self, text):
        if self.tokenizer is None:
            return np.asarray(text, dtype=self.token_dtype)
        if self.char_level:
            return text.encode("utf-8")
        return self.tokenizer.encode_array(text).astype(self.token_dtype, copy=False)

    def _long_doc_pieces(self, doc):
        """Pieces of a document longer than _piece_limit() (see the module docstring for the cuts)."""
        limit = self._piece_limit()
        if self.tokenizer is None or self.char_level:
            cuts = (doc[start:start + limit] for start in range(0, len(doc), limit))
        else:
            cuts = _whitespace_pieces(doc, limit)
        for cut in cuts:
            yield self._encode_piece(cut)

    def _shard_docs(self, row, shard):
        """Document indices of a shard, or None past the end of an evaluation row."""
        n_docs, per_shard = len(self.docs), self.samples_per_shard
        if self.endless:
            return np.random.default_rng([self.seed, row, shard]).integers(0, n_docs, size=per_shard)
        first = row + shard * per_shard * self.global_rows
        if first >= n_docs:
            return None
        return np.arange(first, min(n_docs, first + per_shard * self.global_rows), self.global_rows)

    def _shard_pieces(self, doc_ids, shard):
        """(piece, starts_a_document) for every non-empty piece of a shard, in order."""
        if not self.endless and shard == 0:
            yield self.pad_piece, True   # leading pad: the first document token is a target
        limit = self._piece_limit()
        for doc_index in doc_ids.tolist():
            doc = self.docs[doc_index]
            if len(doc) <= limit:
                piece = self._encode_piece(doc)
                if len(piece):
                    yield piece, True
                continue
            first = True
            for piece in self._long_doc_pieces(doc):
                if len(piece):
                    yield piece, first
                    first = False

    def _segments(self, row, shard, skip):
        """The row's stream as _Segments (at most one shard each, about SEGMENT_TOKENS long), from
        `skip` tokens past the start of `shard` on (skip may run through several shards)."""
        empty_run = 0
        while (doc_ids := self._shard_docs(row, shard)) is not None:
            offset = 0                 # tokens of this shard so far
            pending = _Pending()       # pieces read but not yet handed on
            for piece, doc_start in self._shard_pieces(doc_ids, shard):
                size = len(piece)
                cut = min(max(skip - offset, 0), size)   # tokens of this piece still to drop
                starts_shard, offset = offset == 0, offset + size
                if cut == size:
                    continue
                if cut == 0 and ((self.persist_state == 0 and doc_start)
                                 or (self.persist_state == 1 and starts_shard)):
                    pending.resets.append(pending.size)
                if cut == 0 and piece is self.pad_piece:
                    pending.pads.append(pending.size)
                pending.add(piece[cut:] if cut else piece)
                if pending.size >= SEGMENT_TOKENS:
                    yield self._join(pending, shard, offset)
                    pending = _Pending()
            if pending.size:
                yield self._join(pending, shard, offset)
            skip = max(skip - offset, 0)
            empty_run = empty_run + 1 if offset == 0 else 0
            if empty_run >= MAX_EMPTY_SHARDS:
                raise UserError(f"{MAX_EMPTY_SHARDS} shards in a row have no tokens: are the documents empty?")
            shard += 1

    def _join(self, pending, shard, end_offset):
        """One _Segment of a shard from pending pieces that end at end_offset tokens into it."""
        if self.char_level:
            tokens = np.frombuffer(b"".join(pending.pieces), np.uint8).astype(self.token_dtype)
            tokens += 1                           # id = byte + 1, as CharTokenizer
            tokens[pending.pads] = PAD_ID
        elif len(pending.pieces) == 1:
            tokens = pending.pieces[0]
        else:
            tokens = np.concatenate(pending.pieces)
        resets = np.zeros(tokens.size, bool)
        resets[pending.resets] = True
        return _Segment(tokens, resets, shard, end_offset - tokens.size)

    def _pull(self, cursor):
        """Read one more segment into the cursor; False when the row has ended."""
        if cursor.ended:
            return False
        if cursor.source is None:
            cursor.source = self._segments(cursor.row, *cursor.start)
        segment = next(cursor.source, None)
        if segment is None:
            cursor.ended = True
            return False
        cursor.segments.append(segment)
        cursor.available += segment.tokens.size
        cursor.read_to = (segment.shard, segment.offset + segment.tokens.size)
        return True

    # ----- batches -----
    def _take(self, cursor, n_tokens, tokens_out, resets_out):
        """Copy up to n_tokens tokens (and resets) from the cursor on into the row's (T+1,) tokens and
        (T,) resets; returns how many (fewer at the end of a row)."""
        while cursor.available < n_tokens and self._pull(cursor):
            pass
        have, start = 0, cursor.head
        for segment in cursor.segments:
            if have >= n_tokens:
                break
            stop = min(segment.tokens.size, start + n_tokens - have)
            tokens_out[have:have + stop - start] = segment.tokens[start:stop]
            reset_stop = min(stop, start + resets_out.size - have)
            if reset_stop > start:
                resets_out[have:have + reset_stop - start] = segment.resets[start:reset_stop]
            have += stop - start
            start = 0
        return have

    def _advance(self, cursor, n_tokens):
        """Move the cursor n_tokens on (reading ahead as needed), dropping the segments it has passed."""
        while n_tokens > 0 and (cursor.available or self._pull(cursor)):
            first = cursor.segments[0]
            step = min(n_tokens, first.tokens.size - cursor.head)
            cursor.head += step
            cursor.available -= step
            n_tokens -= step
            if cursor.head == first.tokens.size:
                cursor.segments.popleft()
                cursor.head = 0

    def next_batch(self):
        """The next batch dict (see the module docstring), or None when an evaluation pass is over."""
        B, T = self.batch_size, self.seq_length
        tokens = np.zeros((B, T + 1), np.int64)
        reset_mask = np.zeros((B, T), bool)
        lengths = np.zeros(B, np.int64)
        for j, cursor in enumerate(self.cursors):
            lengths[j] = self._take(cursor, T + 1, tokens[j], reset_mask[j])
        if not self.endless and (lengths <= 1).all():
            return None
        for cursor in self.cursors:
            self._advance(cursor, T)
        self.batches += 1
        loss_mask = np.arange(1, T + 1)[None, :] < lengths[:, None]  # (B, T): target t is tokens[:, t+1]
        return {"tokens": torch.from_numpy(tokens), "reset_mask": torch.from_numpy(reset_mask),
                "loss_mask": torch.from_numpy(loss_mask)}

    # ----- resuming -----
    def _fingerprint(self):
        return {"num_docs": len(self.docs), "seed": self.seed, "samples_per_shard": self.samples_per_shard,
                "seq_length": self.seq_length, "endless": self.endless}

    def _position(self, cursor):
        """(shard, offset) of the cursor's next token, offset in tokens from the shard's start."""
        if not cursor.segments:
            self._pull(cursor)   # settle a pending skip into a (shard, offset < shard size) position
        if cursor.segments:
            first = cursor.segments[0]
            return first.shard, first.offset + cursor.head
        return cursor.read_to   # an ended row: just past its last token

    def state_dict(self) -> dict:
        """Plain ints: batch count and each local row's (shard, offset)."""
        positions = [self._position(c) for c in self.cursors]
        return {"version": STATE_VERSION, **self._fingerprint(), "batches": self.batches,
                "rows": [c.row for c in self.cursors], "shards": [int(p[0]) for p in positions],
                "offsets": [int(p[1]) for p in positions]}

    def load_state_dict(self, state: dict):
        """Continue exactly where `state` left off (rows it lacks are walked forward from the start)."""
        _check_state(state, self._fingerprint())
        saved = {row: (shard, offset) for row, shard, offset
                 in zip(state["rows"], state["shards"], state["offsets"])}
        self.batches = int(state["batches"])
        for j, cursor in enumerate(self.cursors):
            shard, skip = saved.get(cursor.row, (0, self.batches * self.seq_length))
            self.cursors[j] = _RowCursor(cursor.row, int(shard), int(skip))


def _whitespace_pieces(text, max_chars):
    """text cut into pieces of at most max_chars characters, each cut just before the window's last
    whitespace (or at max_chars where the window has none); a text that fits is one piece."""
    start, n = 0, len(text)
    while n - start > max_chars:
        limit = start + max_chars
        cut = max(text.rfind(space, start + 1, limit + 1) for space in WHITESPACE)
        cut = cut if cut > start else limit
        yield text[start:cut]
        start = cut
    if start < n or n == 0:
        yield text[start:]


def _token_dtype(tokenizer):
    """The narrowest dtype that holds the tokenizer's ids (int64 for raw id lists)."""
    vocab = getattr(tokenizer, "vocab_size", None)
    if tokenizer is None or vocab is None:
        return np.int64
    return np.uint16 if vocab <= 1 << 16 else np.int32


def merge_state_dicts(states) -> dict:
    """One state holding the rows of several ranks' `state_dict()`s (all at the same batch)."""
    states = list(states)
    if not states:
        raise ValueError("no stream states to merge")
    first = states[0]
    merged = {key: value for key, value in first.items() if key not in ("rows", "shards", "offsets")}
    merged.update(rows=[], shards=[], offsets=[])
    for state in states:
        if state["batches"] != first["batches"]:
            raise UserError(f"stream states are at different batches ({state['batches']} vs {first['batches']})")
        for key in ("rows", "shards", "offsets"):
            merged[key].extend(state[key])
    return merged


def _check_config(n_docs, batch_size, seq_length, persist_state, samples_per_shard, seed, rank, world_size):
    if n_docs == 0:
        raise UserError("the language-model data has no documents")
    for name, value in (("--batch-size", batch_size), ("--seq-length", seq_length),
                        ("--samples-per-shard", samples_per_shard), ("the number of processes", world_size)):
        if int(value) != value or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value}")
    if persist_state not in PERSIST_CHOICES:
        raise UserError(f"--persist-state must be one of {PERSIST_CHOICES}, got {persist_state}")
    if int(seed) != seed or seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {seed}")
    if not 0 <= rank < world_size:
        raise UserError(f"rank {rank} is outside world size {world_size}")


def _check_state(state, fingerprint):
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise UserError("not a language-model stream state (missing or unknown version)")
    for key, expected in fingerprint.items():
        if state.get(key) != expected:
            raise UserError(f"stream state was saved with {key}={state.get(key)!r}, this stream has "
                            f"{expected!r}; resume with the same data and settings")
