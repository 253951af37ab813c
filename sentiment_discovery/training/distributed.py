"""Distributed data-parallel training on top of torchrun: process-group set-up, DDP wrapping, rank-0
helpers, small collectives (sums, gathers, a stop decision) and a clean teardown.

torchrun (or `python -m multiproc`) starts one process per GPU (or N CPU processes) and sets RANK,
LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; `init_distributed` reads them (a no-op with
WORLD_SIZE unset or 1). Backend: nccl when the device is CUDA (each process takes cuda:LOCAL_RANK), gloo
otherwise. `shutdown` drops the DDP wrapper's reducer, collects garbage, waits at a barrier, then destroys
the process group: a plain teardown with a live DDP module can abort a gloo run (analysis/scale.md).
Every helper also works, as a no-op or identity, when no process group was started."""
import contextlib
import gc
import os
import time
import uuid
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.constants import default_pg_timeout
from torch.nn.parallel import DistributedDataParallel

from ..errors import UserError


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job, as torchrun described it."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    master_addr: str | None = None
    master_port: int | None = None
    backend: str | None = None          # "nccl" | "gloo" once a process group is up, else None
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self):
        return self.world_size > 1


def _env_int(name, default):
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise UserError(f"environment variable {name} must be an integer, got {text!r}") from None


def read_dist_env(device="cpu"):
    """The torchrun environment variables as a `DistEnv` (nothing is started)."""
    env = DistEnv(
        rank=_env_int("RANK", 0),
        local_rank=_env_int("LOCAL_RANK", 0),
        world_size=_env_int("WORLD_SIZE", 1),
        master_addr=os.environ.get("MASTER_ADDR"),
        master_port=_env_int("MASTER_PORT", None),
    )
    if env.world_size < 1 or not 0 <= env.rank < env.world_size:
        raise UserError(f"bad torchrun environment: RANK={env.rank} with WORLD_SIZE={env.world_size}")
    return _with_device(env, device)


def _with_device(env, device):
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise UserError(f"unknown device {device!r}: {err}") from None
    if device.type != "cuda":
        return replace(env, device=device)
    if not torch.cuda.is_available():
        raise UserError(f"device {device} was asked for but CUDA is not available")
    index = env.local_rank if env.distributed or device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise UserError(f"this process needs cuda:{index} but only {torch.cuda.device_count()} GPU(s) are visible")
    return replace(env, device=torch.device("cuda", index))


def init_distributed(device="cpu"):
    """Start the process group torchrun asked for (nccl on CUDA, gloo otherwise) and return the env.

    With WORLD_SIZE unset or 1 nothing is started. On CUDA the process's current device becomes
    cuda:LOCAL_RANK. Calling it again in a process that is already set up just returns the env."""
    env = read_dist_env(device)
    if env.device.type == "cuda":
        torch.cuda.set_device(env.device)
    if not env.distributed:
        return env
    backend = "nccl" if env.device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        if env.master_addr is None or env.master_port is None:
            raise UserError("WORLD_SIZE > 1 but MASTER_ADDR/MASTER_PORT are not set: launch with torchrun "
                            "or python -m multiproc")
        device_id = env.device if backend == "nccl" else None
        dist.init_process_group(backend=backend, store=attempt_store(env), rank=env.rank,
                                world_size=env.world_size, device_id=device_id)
    return replace(env, backend=dist.get_backend())


JOIN_KEYS = "sentiment_discovery/join"


def attempt_store(env):
    """The rendezvous store for this process group, in a key space that only this attempt's ranks share.

    torchrun's agent keeps one TCPStore at MASTER_ADDR:MASTER_PORT across restarts, so the keys a dead
    group wrote (its ranks' gloo addresses, barrier counters) are still there when the restarted group
    forms, and a new rank could read them and dial a dead peer. Naming the key space by torchrun's
    TORCHELASTIC_RESTART_COUNT is not enough on several nodes: an agent whose own workers did not fail
    restarts them without counting a restart, so nodes disagree on the count. Instead rank 0 draws a
    fresh random token and hands it to every other rank through `group_token`'s handshake, which stale
    keys cannot mislead. The store itself comes from torch's env:// rendezvous (a client of the agent's
    store under torchrun, or hosted by rank 0 without the agent)."""
    store, _, _ = next(dist.rendezvous("env://", rank=env.rank, world_size=env.world_size))
    token = group_token(store, env.rank, env.world_size)
    return dist.PrefixStore(f"sentiment_discovery/group/{token}", store)


def group_token(store, rank, world_size, timeout=None):
    """A token that every rank of this attempt agrees on and that no earlier attempt used.

    Each rank > 0 posts a fresh nonce under `ask/RANK` and waits for rank 0's answer under
    `answer/NONCE` (a key no earlier attempt can have written), then acknowledges under the token. Rank 0
    answers every nonce it sees (a dead rank's stale one is answered too, harmlessly) until all ranks
    have acknowledged its token."""
    timeout = timeout or default_pg_timeout
    if rank != 0:
        nonce = uuid.uuid4().hex
        store.set(f"{JOIN_KEYS}/ask/{rank}", nonce)
        store.wait([f"{JOIN_KEYS}/answer/{nonce}"], timeout)
        token = store.get(f"{JOIN_KEYS}/answer/{nonce}").decode()
        store.add(f"{JOIN_KEYS}/acks/{token}", 1)
        return token
    return _lead_handshake(store, world_size, timeout)


def _lead_handshake(store, world_size, timeout):
    """Rank 0's side of `group_token`: answer nonces until world_size - 1 ranks acknowledged."""
    token, answered = uuid.uuid4().hex, set()
    deadline, pause = time.monotonic() + timeout.total_seconds(), 0.005
    while store.add(f"{JOIN_KEYS}/acks/{token}", 0) < world_size - 1:
        for rank in range(1, world_size):
            ask = f"{JOIN_KEYS}/ask/{rank}"
            nonce = store.get(ask).decode() if store.check([ask]) else None
            if nonce is not None and nonce not in answered:
                store.set(f"{JOIN_KEYS}/answer/{nonce}", token)
                answered.add(nonce)
        if time.monotonic() > deadline:
            raise RuntimeError(f"process group: not every rank joined within {timeout}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    return token


def wrap_ddp(model, env, **ddp_kwargs):
    """`DistributedDataParallel(model)` in a distributed run; the model itself otherwise."""
    if not env.distributed:
        return model
    device_ids = [env.device.index] if env.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, **ddp_kwargs)


def unwrap_model(model):
    """The bare module inside a DDP wrapper (for saving and evaluation); the model itself otherwise."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def is_main(env):
    """True on rank 0 (and in a run that is not distributed)."""
    return env.rank == 0


def _active():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier():
    """Wait until every rank gets here (no-op without a process group)."""
    if not _active():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def sum_over_ranks(array: np.ndarray) -> np.ndarray:
    """Element-wise sum of a numpy array over all ranks, on every rank (the array itself without a group).
    Exact where one rank holds a value and the others zeros (how sharded inference fills its rows)."""
    if not _active():
        return array
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    buffer = torch.from_numpy(np.ascontiguousarray(array)).to(device, copy=True)
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    return buffer.cpu().numpy()


def all_reduce_sum(values):
    """Element-wise sum of a list of floats over all ranks (the list itself without a group)."""
    return [float(v) for v in sum_over_ranks(np.asarray(values, dtype=np.float64))]


def all_gather_objects(obj):
    """[obj of rank 0, obj of rank 1, ...] on every rank ([obj] without a group)."""
    if not _active():
        return [obj]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def any_rank(flag):
    """True on every rank when `flag` is true on any rank (a collective stop decision)."""
    return all_reduce_sum([1.0 if flag else 0.0])[0] > 0


def broadcast_object(obj):
    """Rank 0's `obj` (any picklable value) on every rank."""
    if not _active():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def grad_sync(model, sync):
    """Context for one micro-step of gradient accumulation: DDP all-reduces gradients only when `sync`.

    Put both the forward and the backward of the micro-step inside it; pass `sync=True` on the last
    micro-step. For a model that is not DDP-wrapped it does nothing."""
    if sync or not isinstance(model, DistributedDataParallel):
        return contextlib.nullcontext()
    return model.no_sync()


def _release_ddp(ddp_model):
    """Drop the DDP wrapper's communication state (reducer and logger) so nothing of it outlives the group."""
    for attribute in ("logger", "reducer"):
        if attribute in ddp_model.__dict__:
            delattr(ddp_model, attribute)


def shutdown(env, model=None):
    """Tear down cleanly: delete the DDP wrapper's reducer, run `gc.collect()`, wait at a barrier and destroy
    the process group. Do not train with the DDP wrapper after this."""
    if isinstance(model, DistributedDataParallel):
        _release_ddp(model)
    del model
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        barrier()
        dist.destroy_process_group()
