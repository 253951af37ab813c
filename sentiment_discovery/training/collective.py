"""Small collectives for logging, checkpointing and gathering results that work with or without a process
group."""
import numpy as np
import torch
import torch.distributed as dist


def _active():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


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
