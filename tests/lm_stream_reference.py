"""Reference for the parity tests: `LMStream` as it was before lazy encoding (commit 843f55a).

It builds each shard of a row whole (every document encoded as int64 and concatenated), so its memory
grows with batch x samples_per_shard x document length; kept here only to prove that the bounded
stream in sentiment_discovery/data/batches/lm_stream.py yields the same batches and positions on normal data.
"""
import numpy as np
import torch

from sentiment_discovery.errors import UserError

STATE_VERSION = 1
MAX_EMPTY_SHARDS = 1000
PERSIST_CHOICES = (-1, 0, 1)


class _RowCursor:
    """Where one row's stream is: shard number, offset in it, and the shards loaded from there on."""

    def __init__(self, row):
        self.row = row
        self.shard = 0
        self.offset = 0
        self.loaded = []   # [(tokens (n,) int64, resets (n,) bool)] for shards self.shard, +1, ...
        self.ended = False  # evaluation: no shard after the loaded ones


class ReferenceLMStream:
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
        self.cursors = [_RowCursor(rank * batch_size + j) for j in range(batch_size)]

    # ----- documents and shards -----
    def _encode(self, doc_index):
        doc = self.docs[int(doc_index)]
        if self.tokenizer is None:
            return np.asarray(doc, dtype=np.int64)
        if hasattr(self.tokenizer, "encode_array"):
            return self.tokenizer.encode_array(doc)
        return np.asarray(self.tokenizer.encode(doc), dtype=np.int64)

    def _shard_docs(self, row, shard):
        """Document indices of a shard, or None past the end of an evaluation row."""
        n_docs, per_shard = len(self.docs), self.samples_per_shard
        if self.endless:
            return np.random.default_rng([self.seed, row, shard]).integers(0, n_docs, size=per_shard)
        first = row + shard * per_shard * self.global_rows
        if first >= n_docs:
            return None
        return np.arange(first, min(n_docs, first + per_shard * self.global_rows), self.global_rows)

    def _build_shard(self, row, shard):
        """(tokens (n,) int64, resets (n,) bool) of a shard, or None past the end (evaluation)."""
        doc_ids = self._shard_docs(row, shard)
        if doc_ids is None:
            return None
        encoded = [tokens for tokens in (self._encode(i) for i in doc_ids) if tokens.size]
        if not self.endless and shard == 0:
            encoded.insert(0, np.zeros(1, np.int64))  # leading pad: the first document token is a target
        if not encoded:
            return np.empty(0, np.int64), np.empty(0, bool)
        tokens = np.concatenate(encoded)
        resets = np.zeros(tokens.size, bool)
        if self.persist_state == 0:
            starts = np.cumsum([0] + [t.size for t in encoded[:-1]])
            resets[starts] = True
        elif self.persist_state == 1:
            resets[0] = True
        return tokens, resets

    def _load_next_shard(self, cursor):
        """Append the next non-empty shard to cursor.loaded; False when the row has ended."""
        shard = cursor.shard + len(cursor.loaded)
        for _ in range(MAX_EMPTY_SHARDS):
            built = self._build_shard(cursor.row, shard)
            if built is None:
                cursor.ended = True
                return False
            cursor.loaded.append(built)
            if built[0].size:
                return True
            shard += 1
        raise UserError(f"{MAX_EMPTY_SHARDS} shards in a row have no tokens: are the documents empty?")

    # ----- batches -----
    def _take(self, cursor, n_tokens):
        """Up to n_tokens tokens and resets from the cursor on (fewer at the end of a row)."""
        tokens, resets = [], []
        have, shard_i, start = 0, 0, cursor.offset
        while have < n_tokens:
            if shard_i == len(cursor.loaded) and (cursor.ended or not self._load_next_shard(cursor)):
                break
            shard_tokens, shard_resets = cursor.loaded[shard_i]
            stop = min(shard_tokens.size, start + n_tokens - have)
            tokens.append(shard_tokens[start:stop])
            resets.append(shard_resets[start:stop])
            have += stop - start
            shard_i, start = shard_i + 1, 0
        if len(tokens) == 1:
            return tokens[0], resets[0]
        if not tokens:
            return np.empty(0, np.int64), np.empty(0, bool)
        return np.concatenate(tokens), np.concatenate(resets)

    def _advance(self, cursor, n_tokens):
        """Move the cursor n_tokens on, dropping the shards it has passed."""
        cursor.offset += n_tokens
        while cursor.loaded and cursor.offset >= cursor.loaded[0][0].size:
            cursor.offset -= cursor.loaded[0][0].size
            cursor.loaded.pop(0)
            cursor.shard += 1

    def next_batch(self):
        """The next batch dict (see the module docstring), or None when an evaluation pass is over."""
        B, T = self.batch_size, self.seq_length
        tokens = np.zeros((B, T + 1), np.int64)
        reset_mask = np.zeros((B, T), bool)
        lengths = np.zeros(B, np.int64)
        for j, cursor in enumerate(self.cursors):
            row_tokens, row_resets = self._take(cursor, T + 1)
            n = row_tokens.size
            tokens[j, :n] = row_tokens
            reset_mask[j, :min(n, T)] = row_resets[:T]
            lengths[j] = n
        if not self.endless and (lengths <= 1).all():
            return None
        for cursor in self.cursors:
            self._advance(cursor, T)
        self.batches += 1
        loss_mask = np.arange(1, T + 1)[None, :] < lengths[:, None]  # (B, T): target t is tokens[:, t+1]
        return {"tokens": torch.from_numpy(tokens), "reset_mask": torch.from_numpy(reset_mask),
                "loss_mask": torch.from_numpy(loss_mask)}

    def __iter__(self):
        """Batches until the pass ends (never, for an endless stream)."""
        while (batch := self.next_batch()) is not None:
            yield batch

    # ----- resuming -----
    def _fingerprint(self):
        return {"num_docs": len(self.docs), "seed": self.seed, "samples_per_shard": self.samples_per_shard,
                "seq_length": self.seq_length, "endless": self.endless}

    def state_dict(self) -> dict:
        """Plain ints: batch count and each local row's (shard, offset)."""
        return {"version": STATE_VERSION, **self._fingerprint(), "batches": self.batches,
                "rows": [c.row for c in self.cursors], "shards": [c.shard for c in self.cursors],
                "offsets": [c.offset for c in self.cursors]}

    def load_state_dict(self, state: dict):
        """Continue exactly where `state` left off (rows it lacks are recomputed)."""
        _check_state(state, self._fingerprint())
        saved = {row: (shard, offset) for row, shard, offset
                 in zip(state["rows"], state["shards"], state["offsets"])}
        self.batches = int(state["batches"])
        for j, cursor in enumerate(self.cursors):
            fresh = _RowCursor(cursor.row)
            if cursor.row in saved:
                fresh.shard, fresh.offset = (int(v) for v in saved[cursor.row])
            else:
                self._advance_from_start(fresh, self.batches * self.seq_length)
            self.cursors[j] = fresh

    def _advance_from_start(self, cursor, n_tokens):
        """Walk a fresh cursor n_tokens into its stream, shard by shard."""
        while cursor.loaded or self._load_next_shard(cursor):
            size = cursor.loaded[0][0].size
            if n_tokens < size:
                cursor.offset = n_tokens
                return
            n_tokens -= size
            cursor.loaded.pop(0)
            cursor.shard += 1


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
    for name, value in (("batch_size", batch_size), ("seq_length", seq_length),
                        ("samples_per_shard", samples_per_shard), ("world_size", world_size)):
        if int(value) != value or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value}")
    if persist_state not in PERSIST_CHOICES:
        raise UserError(f"persist_state must be one of {PERSIST_CHOICES}, got {persist_state}")
    if int(seed) != seed or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed}")
    if not 0 <= rank < world_size:
        raise UserError(f"rank {rank} is outside world size {world_size}")


def _check_state(state, fingerprint):
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise UserError("not a language-model stream state (missing or unknown version)")
    for key, expected in fingerprint.items():
        if state.get(key) != expected:
            raise UserError(f"stream state was saved with {key}={state.get(key)!r}, this stream has "
                            f"{expected!r}; resume with the same data and settings")
