"""`LMTrainer`: one rank's language-model training state and its iteration, evaluation and checkpoint payload.

One process or many (torchrun + DDP, each rank streaming its own rows of the global batch), any
precision mode, with exact resume: a checkpoint holds the model, optimizer, schedule, loss scaler, RNG
states, every rank's data-stream position and carried recurrent state, so N steps + resume + N steps
equals 2N steps. SIGTERM/SIGINT save a checkpoint and stop cleanly.

Per iteration each rank takes `grad_accum` consecutive (B, T+1) batches of its streams (the recurrent
state carries from one to the next, reset where the batch's reset mask says), computes the per-token
cross-entropy in fp32 over the loss mask, and steps once.
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..data.batches.lm_stream import LMStream, merge_state_dicts
from ..models.kinds import model_kind
from .collective import all_gather_objects, all_reduce_sum
from .distributed import unwrap_model, wrap_ddp
from .loop import fp32_model_state, restore_training_state, train_step, training_state
from .optim import build_optimizer
from .precision import Precision
from .schedules import build_schedule


@dataclass
class LoopOptions:
    """What the loop needs from the flags, as plain values."""
    batch_size: int
    seq_length: int
    eval_batch_size: int
    eval_seq_length: int
    persist_state: int
    samples_per_shard: int
    seed: int
    epochs: int
    train_iters: int
    eval_iters: int
    grad_accum: int
    clip: float
    log_interval: int
    save_iters: int

    @classmethod
    def from_config(cls, config):
        """From a `config.PretrainConfig`."""
        data, lm, training = config.data, config.lm_data, config.training
        return cls(
            batch_size=data.batch_size, seq_length=lm.seq_length, eval_batch_size=data.eval_batch,
            eval_seq_length=lm.eval_seq_length or lm.seq_length, persist_state=lm.persist_state,
            samples_per_shard=lm.samples_per_shard, seed=config.run.seed, epochs=training.epochs,
            train_iters=training.train_iters, eval_iters=training.eval_iters,
            grad_accum=max(1, training.grad_accum), clip=training.clip,
            log_interval=max(1, config.run.log_interval), save_iters=training.save_iters)


@dataclass
class Progress:
    """Where the run is; saved in every checkpoint."""
    iteration: int = 0           # optimizer steps taken
    best_val_loss: float = float("inf")
    evaluations: list = field(default_factory=list)


def lm_loss(logits, targets, loss_mask):
    """Mean per-token cross-entropy over the real targets, in fp32. logits (B, T, V); targets, mask (B, T)."""
    losses = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    mask = loss_mask.flatten().to(losses.dtype)
    count = mask.sum()
    return (losses * mask).sum() / count.clamp(min=1), count


def iterations_per_epoch(options, train_tokens, world_size):
    """--train-iters, or one pass over the training tokens by the global batch."""
    if options.train_iters > 0:
        return options.train_iters
    per_iteration = options.batch_size * world_size * options.seq_length * options.grad_accum
    return max(1, train_tokens // per_iteration)


class LMTrainer:
    """Owns the model, optimizer, precision, schedule, streams and carried state of one rank."""

    def __init__(self, model, tokenizer, train_docs, valid_docs, options, env, precision_flags, optim_flags):
        self.env, self.options, self.tokenizer = env, options, tokenizer
        self.valid_docs = valid_docs
        self.precision = Precision.from_flags(device=env.device, **precision_flags)
        self.model = model.to(env.device)
        self.ddp_model = wrap_ddp(self.model, env)
        self.optimizer = build_optimizer(
            optim_flags["optim"], self.model.parameters(), optim_flags["lr"], optim_flags["weight_decay"])
        self.stream = LMStream(train_docs, tokenizer, options.batch_size, options.seq_length,
                               options.persist_state, options.samples_per_shard, options.seed,
                               env.rank, env.world_size, endless=True)
        self.schedule = None
        self.state = None
        # A recurrent state carries over from batch to batch; a transformer sees each window on its own
        # (its key/value cache would otherwise grow without bound).
        self.carry_state = model_kind(model).recurrent
        self.progress = Progress()

    def build_schedule(self, total_iters, lr, decay_style, warmup, constant_decay, stlr_cut_frac):
        """The LambdaLR schedule (training/schedules.py); `warmup` below 1 is a fraction of the run."""
        warmup_iters = int(warmup * total_iters) if 0 < warmup < 1 else int(warmup)
        self.schedule = build_schedule(self.optimizer, total_iters, start_lr=lr, warmup=warmup_iters,
                                       decay_style=decay_style, constant_decay=constant_decay,
                                       stlr_cut_frac=stlr_cut_frac)

    # --- one iteration ---------------------------------------------------------------------------
    def _micro_loss(self, batch):
        """Forward of one (B, T+1) batch, carrying the recurrent state -> (loss, token count)."""
        tokens = batch["tokens"].to(self.env.device)                 # (B, T+1)
        reset_mask = batch["reset_mask"].to(self.env.device)         # (B, T)
        loss_mask = batch["loss_mask"].to(self.env.device)           # (B, T)
        with self.precision.autocast():
            logits, state = self.ddp_model(tokens[:, :-1], self.state, reset_mask)
        loss, count = lm_loss(logits, tokens[:, 1:], loss_mask)
        self.state = unwrap_model(self.ddp_model).detach_state(state) if self.carry_state else None
        return loss, (float(loss.detach()), int(count))

    def train_iteration(self):
        """grad_accum micro-batches, one optimizer step (training/loop.py). Returns (mean loss, tokens, stepped)."""
        self.ddp_model.train()
        micro_batches = [self.stream.next_batch() for _ in range(self.options.grad_accum)]
        infos, stepped = train_step(self.ddp_model, micro_batches, self._micro_loss, self.precision,
                                    self.optimizer, self.schedule, self.options.clip)
        self.progress.iteration += 1
        return sum(loss for loss, _ in infos) / len(infos), sum(count for _, count in infos), stepped

    # --- evaluation ------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, docs=None):
        """Mean per-token loss over the validation documents (all ranks together)."""
        docs = self.valid_docs if docs is None else docs
        if docs is None or len(docs) == 0:
            return None
        o = self.options
        stream = LMStream(docs, self.tokenizer, o.eval_batch_size, o.eval_seq_length, o.persist_state,
                          o.samples_per_shard, o.seed, self.env.rank, self.env.world_size, endless=False)
        model = unwrap_model(self.ddp_model)
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

    # --- checkpoints -----------------------------------------------------------------------------
    def payload(self, model_config):
        """The full training state (call on every rank: it gathers the ranks' streams and states)."""
        streams = all_gather_objects(self.stream.state_dict())
        states = all_gather_objects(_cpu_state(self.state))
        model_state = fp32_model_state(unwrap_model(self.ddp_model))
        return {
            "kind": "lm", "model_config": model_config, "model_state": model_state,
            "tokenizer": self.tokenizer.to_dict(),
            **training_state(self.optimizer, self.schedule, self.precision, self.env.world_size),
            "iteration": self.progress.iteration,
            "best_val_loss": self.progress.best_val_loss, "evaluations": self.progress.evaluations,
            "data_state": merge_state_dicts(streams), "recurrent_state": states,
        }

    def restore(self, ckpt):
        """Continue exactly from a checkpoint written by `payload`."""
        restore_training_state(ckpt, self.env.world_size, self.optimizer, self.schedule, self.precision)
        self.stream.load_state_dict(ckpt["data_state"])
        self.state = _to_device(ckpt["recurrent_state"][self.env.rank], self.env.device)
        self.progress = Progress(int(ckpt["iteration"]), float(ckpt["best_val_loss"]),
                                 list(ckpt["evaluations"]))


def _cpu_state(state):
    if state is None:
        return None
    return [tuple(t.detach().cpu() for t in layer) for layer in state] if isinstance(state, list) else None


def _to_device(state, device):
    if state is None:
        return None
    return [tuple(t.to(device) for t in layer) for layer in state]


