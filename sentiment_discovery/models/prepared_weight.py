"""Weights prepared once for the many small products of a recurrent time loop, and a cache for them.

A recurrent layer multiplies a (B, H) state by the same (G·H, H) matrix at every step. How that matrix is
laid out decides the speed: oneDNN with the weight reordered ("packed") once into its blocked layout runs
that product several times faster than `torch.mm`/`F.linear` on the plain weight (bench/bench_recurrent.py;
the figures are in analysis/measurements.md).
`PreparedWeight` picks that packed layout where `capabilities.packed_product` found it to work (CPU,
float32 everywhere oneDNN is built; bfloat16 only with AVX-512 or AVX-NE-CONVERT) and falls back to a
contiguous transposed copy with the public `torch.mm` elsewhere (CUDA, float64, bfloat16 on AVX2 CPUs).

`VersionedCache` keeps derived tensors (packed weights, lookup tables) and rebuilds them when any of the
tensors they were built from changes: a different tensor object, storage, device, dtype or in-place
version counter (optimizer steps, `load_state_dict`, `layer.w_ih.weight = W` all bump one of those)."""
import torch

from .. import capabilities


class PreparedWeight:
    """Computes `x @ W.T (+ bias) (+ add)` for a fixed W (out_features, in_features).

    The weight is detached: this is for loops that run outside autograd (inference, or inside a custom
    autograd Function that writes its own backward). `x` must have the weight's dtype."""

    def __init__(self, weight, bias=None):
        weight = weight.detach()
        self.dtype = weight.dtype
        self.out_features = weight.shape[0]
        self.bias = bias.detach().to(weight.dtype) if bias is not None else None
        if capabilities.packed_product(weight.device, weight.dtype):
            self.packed = capabilities.pack_weight(weight)
            self.transposed = None
        else:
            self.packed = None
            self.transposed = weight.t().contiguous()  # (in, out)

    def __call__(self, x, add=None):
        """x (B, in) -> x @ W.T + bias (B, out); `add` (B, out) is added too (fused where possible)."""
        x = x.contiguous()
        if self.packed is not None:
            if add is not None and add.dtype == x.dtype and self.bias is None:
                return capabilities.packed_linear_add(x, add, self.packed)
            product = capabilities.packed_linear(x, self.packed, self.bias)
        else:
            if add is not None and add.dtype == x.dtype and self.bias is None:
                return torch.addmm(add, x, self.transposed)
            if self.bias is not None:
                product = torch.addmm(self.bias, x, self.transposed)
            else:
                product = torch.mm(x, self.transposed)
        return product if add is None else add + product


def tensor_key(tensor):
    """What identifies a tensor's current contents without reading them."""
    return (id(tensor), tensor.data_ptr(), tensor._version, tensor.dtype, tensor.device, tuple(tensor.shape))


class VersionedCache:
    """One derived value, rebuilt when the tensors it depends on change (or when `extra` changes)."""

    def __init__(self):
        self._key = None
        self._sources = None  # strong references: keeps the ids in the key from being reused
        self._value = None

    def get(self, sources, build, extra=None):
        sources = tuple(sources)
        key = (tuple(tensor_key(t) for t in sources), extra)
        if key != self._key:
            self._value = None  # free the old value before building the new one
            self._value = build()
            self._key, self._sources = key, sources
        return self._value

    # A copy (deepcopy, pickling) starts empty: the value is derived data, and oneDNN's packed
    # tensors cannot be copied.
    def __deepcopy__(self, memo):
        return VersionedCache()

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()
