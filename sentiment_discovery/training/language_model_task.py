"""Language-model pretraining as a task of training/loop.py: next-token prediction on streams of documents.

Each rank streams its own rows of the global batch (data/batches/lm_stream.py); per optimizer step it takes
`grad_accum` consecutive (B, T+1) batches, carrying the recurrent state from one to the next (reset where
a batch's reset mask says), and the loss is the per-token cross-entropy in fp32 over the loss mask. A
resumable checkpoint holds every rank's stream position and carried state, so N steps + resume + N steps
equals 2N steps. Epochs are `iterations_per_epoch` steps each; validation reads the validation documents
once (or `eval_iters` batches of them).
"""
import math
import resource
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.batches.lm_stream import LMStream, merge_state_dicts
from ..data.preprocess import PROCESS_FN_KEY
from ..models.kinds import model_kind
from .distributed import all_gather_objects, all_reduce_sum, unwrap_model
from .loop import Evaluation, fp32_state

LN2 = math.log(2.0)


@dataclass(frozen=True)
class StreamOptions:
    """How the corpus becomes batches (from a `config.PretrainConfig`)."""
    batch_size: int
    seq_length: int
    eval_batch_size: int
    eval_seq_length: int
    persist_state: int
    samples_per_shard: int
    seed: int
    grad_accum: int
    eval_iters: int

    @classmethod
    def from_config(cls, config):
        data, lm, training = config.data, config.lm_data, config.training
        return cls(batch_size=data.batch_size, seq_length=lm.seq_length, eval_batch_size=data.eval_batch,
                   eval_seq_length=lm.eval_seq_length or lm.seq_length, persist_state=lm.persist_state,
                   samples_per_shard=lm.samples_per_shard, seed=config.run.seed,
                   grad_accum=max(1, training.grad_accum), eval_iters=training.eval_iters)


def iterations_per_epoch(train_iters, options, train_tokens, world_size):
    """--train-iters, or one pass over the training tokens by the global batch."""
    if train_iters > 0:
        return train_iters
    per_iteration = options.batch_size * world_size * options.seq_length * options.grad_accum
    return max(1, train_tokens // per_iteration)


def lm_loss(logits, targets, loss_mask):
    """Mean per-token cross-entropy over the real targets, in fp32. logits (B, T, V); targets, mask (B, T)."""
    losses = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    mask = loss_mask.flatten().to(losses.dtype)
    count = mask.sum()
    return (losses * mask).sum() / count.clamp(min=1), count


def bits_unit(tokenizer):
    """What loss / ln 2 is: bits per character for a character model, else bits per token."""
    return "bits/char" if tokenizer.kind == "char" else "bits/token"


def nats_row(prefix, loss):
    """`<prefix>loss`, `<prefix>ppl` and `<prefix>bpc` (bits/char) of a loss in nats per token."""
    return {f"{prefix}loss": loss, f"{prefix}ppl": math.exp(min(loss, 50)), f"{prefix}bpc": loss / LN2}


class LanguageModelTask:
    """One rank's streams, carried state and validation for `train`."""

    best_is_resumable = True

    def __init__(self, model, precision, tokenizer, train_docs, valid_docs, options, env, model_config,
                 process_fn, steps_per_epoch):
        self.model, self.precision, self.tokenizer, self.env = model, precision, tokenizer, env
        self.valid_docs, self.options, self.model_config = valid_docs, options, model_config
        self.process_fn, self.steps_per_epoch = process_fn, steps_per_epoch
        self.stream = self._stream(train_docs, options.batch_size, options.seq_length, endless=True)
        # A recurrent state carries from batch to batch; a transformer sees each window on its own.
        self.carry_state = model_kind(unwrap_model(model)).recurrent
        self.state = None

    def _stream(self, docs, batch_size, seq_length, endless):
        o = self.options
        return LMStream(docs, self.tokenizer, batch_size, seq_length, o.persist_state, o.samples_per_shard,
                        o.seed, self.env.rank, self.env.world_size, endless=endless)

    # --- training ----------------------------------------------------------------------------------
    def steps_in_epoch(self, epoch):
        return self.steps_per_epoch

    def batches(self, epoch, start):
        for _ in range(start, self.steps_per_epoch):
            self.model.train()
            yield [self.stream.next_batch() for _ in range(self.options.grad_accum)]

    def loss(self, batch):
        device = self.env.device
        tokens = batch["tokens"].to(device)                 # (B, T+1)
        with self.precision.autocast():
            logits, state = self.model(tokens[:, :-1], self.state, batch["reset_mask"].to(device))  # (B, T, V)
        loss, count = lm_loss(logits, tokens[:, 1:], batch["loss_mask"].to(device))
        self.state = unwrap_model(self.model).detach_state(state) if self.carry_state else None
        return loss, {"loss": float(loss.detach()) / self.env.world_size, "tokens": float(count)}

    def interval_row(self, window, progress, lr):
        means = window.means()
        tokens = means["tokens"] * self.options.grad_accum * window.steps
        return {"step": progress.iteration, **nats_row("", means["loss"]), "lr": lr,
                "tokens_per_s": tokens / max(window.seconds(), 1e-9),
                "loss_scale": self.precision.loss_scale, "skipped_steps": self.precision.skipped_steps,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

    # --- validation --------------------------------------------------------------------------------
    def validate(self, progress, lr):
        val_loss = self.mean_loss(self.valid_docs)
        if val_loss is None:
            return None
        epoch = progress.epoch + 1
        row = {"step": progress.iteration, "epoch": epoch, **nats_row("val_", val_loss)}
        best = " (best so far)" if -val_loss > progress.best_value else ""
        message = (f"epoch {epoch}: validation loss {val_loss:.4f}, perplexity {row['val_ppl']:.2f}, "
                   f"{row['val_bpc']:.4f} {bits_unit(self.tokenizer)}{best}")
        return Evaluation(-val_loss, row, message)

    @torch.no_grad()
    def mean_loss(self, docs):
        """Mean per-token loss over `docs` (all ranks together); None without documents."""
        if docs is None or len(docs) == 0:
            return None
        o = self.options
        stream = self._stream(docs, o.eval_batch_size, o.eval_seq_length, endless=False)
        model = unwrap_model(self.model)
        model.eval()
        total, count, state, batches = 0.0, 0, None, 0
        while (batch := stream.next_batch()) is not None and (o.eval_iters <= 0 or batches < o.eval_iters):
            tokens = batch["tokens"].to(self.env.device)
            with self.precision.autocast():
                logits, state = model(tokens[:, :-1], state, batch["reset_mask"].to(self.env.device))
            state = state if self.carry_state else None
            loss, n = lm_loss(logits, tokens[:, 1:], batch["loss_mask"].to(self.env.device))
            total, count, batches = total + float(loss) * int(n), count + int(n), batches + 1
        total, count = all_reduce_sum([total, float(count)])
        return total / max(count, 1.0)

    # --- checkpoints -------------------------------------------------------------------------------
    def payload(self, progress, resumable):
        payload = {"kind": "lm", "model_config": self.model_config, "model_state": fp32_state(self.model),
                   "tokenizer": self.tokenizer.to_dict(), PROCESS_FN_KEY: self.process_fn}
        if resumable:   # every rank's stream and carried state (a collective)
            payload["data_state"] = merge_state_dicts(all_gather_objects(self.stream.state_dict()))
            payload["recurrent_state"] = all_gather_objects(_cpu(self.state))
        return payload

    def restore(self, ckpt):
        self.stream.load_state_dict(ckpt["data_state"])
        state = ckpt["recurrent_state"][self.env.rank]
        self.state = None if state is None else [tuple(t.to(self.env.device) for t in layer) for layer in state]


def _cpu(state):
    if not isinstance(state, list):
        return None
    return [tuple(t.detach().cpu() for t in layer) for layer in state]
