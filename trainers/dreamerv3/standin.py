"""A stand-in accelerator on the CPU: run code on a device that is not the default and check where its tensors and
generators live, without a GPU.

Inside :func:`standin_device`, tensors placed on :data:`STANDIN` (the ``meta`` device label) are real: each wraps a
host tensor that every operation runs on, so a whole training loop (envs, replay, updates, checkpoints) runs as it
would on CUDA. What would fail or cost a transfer on CUDA is checked at every operation:

* an operation that mixes stand-in tensors with host tensors of one or more dimensions (CUDA raises "Expected all
  tensors to be on the same device"; host scalars are allowed, as CUDA allows them) raises :class:`DeviceMismatch`;
* a random operation whose generator does not live on the device it samples on (``torch.rand(device=cuda,
  generator=<cpu generator>)`` fails on CUDA) raises :class:`DeviceMismatch`;
* host-to-device copies, device-to-host copies and host reads of device values (``.item()``, ``bool()``,
  ``.tolist()``: a sync on CUDA) are counted in :class:`TransferCount`, with the operations that made them.

Generators built with ``torch.Generator(device=STANDIN)`` inside the context draw on the host and report the stand-in
device; the fused and foreach optimiser kernels accept stand-in tensors as they accept CUDA ones. Used by the
device-consistency test of the training loop and by ``python -m trainers.dreamerv3.probes host_transfers --device
cpu``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.optim.optimizer as optimizer
import torch.utils._foreach_utils as foreach_utils
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

__all__ = ["STANDIN", "DeviceMismatch", "TransferCount", "is_standin", "standin_device"]

STANDIN = torch.device("meta")
_HOST = torch.device("cpu")
_aten = torch.ops.aten
_CROSS_DEVICE_OPS = {_aten._to_copy.default, _aten.copy_.default, _aten._local_scalar_dense.default}
# CUDA accepts host index tensors here and copies them to the device first: a host-to-device copy, not an error.
_HOST_INDEX_OPS = {_aten.index.Tensor, _aten.index_put_.default, _aten.index_put.default}


class DeviceMismatch(RuntimeError):
    """What would raise on a real accelerator: tensors or a generator on the wrong device."""


@dataclass
class TransferCount:
    """Copies between host and stand-in device, and host reads of device values, with the ops that made them."""

    host_to_device: int = 0
    device_to_host: int = 0
    host_reads: int = 0
    ops: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.host_to_device = self.device_to_host = self.host_reads = 0
        self.ops.clear()

    @property
    def total(self) -> int:
        return self.host_to_device + self.device_to_host + self.host_reads


class _OnStandin(torch.Tensor):
    """A tensor labelled with the stand-in device that holds a host tensor (``_data``) with the real values."""

    _data: torch.Tensor

    @staticmethod
    def __new__(cls, data: torch.Tensor) -> _OnStandin:
        out = torch.Tensor._make_wrapper_subclass(
            cls,
            data.shape,
            strides=data.stride(),
            storage_offset=data.storage_offset(),
            dtype=data.dtype,
            layout=data.layout,
            device=STANDIN,
            requires_grad=data.requires_grad,
        )
        out._data = data
        return out

    def __repr__(self) -> str:  # type: ignore[override]
        return f"OnStandin({self._data!r})"

    @classmethod
    def __torch_dispatch__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:  # type: ignore[override]
        raise RuntimeError(f"stand-in tensor used outside standin_device(): {func}")


def is_standin(x: object) -> bool:
    """Whether ``x`` is a tensor or generator of the stand-in device."""
    if isinstance(x, torch.Tensor):
        return x.device == STANDIN
    return isinstance(x, torch._C.Generator) and getattr(x, "standin", False)


def _generator_class(real: type) -> type:
    class StandinAwareGenerator(real):
        """``torch.Generator`` while the stand-in device is active: one built for it draws on the host."""

        def __new__(cls, device: Any = "cpu") -> Any:
            target = torch.device(device)
            if target.type != STANDIN.type:
                return real(target)
            gen = super().__new__(cls, _HOST)
            gen.standin = True
            return gen

        @property
        def device(self) -> torch.device:
            return STANDIN

    return StandinAwareGenerator


class _Calls(TorchFunctionMode):
    """Python-level checks: a generator must live on the device its call samples on; host views of device tensors
    (``tolist`` is a device-to-host copy; ``numpy`` needs ``.cpu()`` first, as on CUDA)."""

    def __init__(self, count: TransferCount):
        super().__init__()
        self.count = count

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in (torch.Tensor.tolist, torch.Tensor.numpy) and args and isinstance(args[0], _OnStandin):
            return self._host_view(func, args[0])
        if func in (torch.tensor, torch.as_tensor) and _is_standin_device(kwargs.get("device")):
            # built from host data (torch.tensor would make a data-less meta tensor): a host-to-device copy
            return func(*args, **{**kwargs, "device": _HOST}).to(STANDIN)
        _check_generators(func, args, kwargs)
        return func(*args, **kwargs)

    def _host_view(self, func: Any, tensor: _OnStandin) -> Any:
        if func is torch.Tensor.numpy:
            raise DeviceMismatch(f"numpy() of a {STANDIN.type} tensor: copy it to the host with .cpu() first")
        self.count.device_to_host += 1
        self.count.ops["d2h:tolist"] += 1
        return tensor._data.tolist()


def _check_generators(func: Any, args: Any, kwargs: dict[str, Any]) -> None:
    """A generator passed to ``func`` must live on the device ``func`` samples on (as CUDA requires)."""
    gens = [x for x in (*args, *kwargs.values()) if isinstance(x, torch._C.Generator)]
    if not gens:
        return
    target = kwargs.get("device")
    if target is None:
        tensors = [x for x in tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]
        target = tensors[0].device if tensors else _HOST
    target = torch.device(target)
    for gen in gens:
        where = STANDIN if is_standin(gen) else gen.device
        if where.type != target.type:
            name = getattr(func, "__name__", str(func))
            raise DeviceMismatch(f"{name} samples on {target.type} with a generator on {where.type}")


class _Placement(TorchDispatchMode):
    """Runs every op on the host data of stand-in tensors, checks placement and counts transfers."""

    def __init__(self, count: TransferCount):
        super().__init__()
        self.count = count

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        leaves = tree_leaves((args, kwargs))
        on_device = any(isinstance(x, _OnStandin) for x in leaves)
        host = [x for x in leaves if isinstance(x, torch.Tensor) and not isinstance(x, _OnStandin)]
        # CUDA takes a host scalar tensor as a plain argument of an op, never inside a list (cat, stack, foreach)
        scalars = {id(x) for x in (*args, *kwargs.values()) if isinstance(x, torch.Tensor) and x.dim() == 0}
        target = kwargs.get("device")
        to_standin = target is not None and torch.device(target).type == STANDIN.type
        to_host = target is not None and not to_standin
        name = str(func.overloadpacket.__name__)
        if func in _CROSS_DEVICE_OPS:
            self._count_transfer(func, args, kwargs, on_device, to_standin, to_host, name)
        elif on_device:
            self._check_mixed(func, name, host, scalars)
        out = func(*tree_map(_unwrap, args), **tree_map(_unwrap, kwargs))
        return _placed(func, args, out, on_device or to_standin, to_host)

    def _check_mixed(self, func: Any, name: str, host: list[torch.Tensor], scalars: set[int]) -> None:
        """An op on stand-in tensors may take host index tensors (counted as copies) and plain host scalars only."""
        if func in _HOST_INDEX_OPS and host:
            self.count.host_to_device += len(host)
            self.count.ops[f"h2d:{name}"] += len(host)
        elif any(id(t) not in scalars for t in host):
            shapes = [tuple(t.shape) for t in host if id(t) not in scalars]
            raise DeviceMismatch(f"aten.{name} mixes {STANDIN.type} tensors with host tensors of shape {shapes}")

    def _count_transfer(
        self, func: Any, args: Any, kwargs: Any, on_device: bool, to_standin: bool, to_host: bool, name: str
    ) -> None:
        src = args[0] if func is not _aten.copy_.default else args[1]
        if func is _aten._local_scalar_dense.default:
            if isinstance(src, _OnStandin):
                self.count.host_reads += 1
                self.count.ops[f"read:{name}"] += 1
            return
        if func is _aten.copy_.default:
            dst_dev, src_dev = isinstance(args[0], _OnStandin), isinstance(src, _OnStandin)
        else:
            src_dev = isinstance(src, _OnStandin)
            dst_dev = to_standin or (src_dev and not to_host)
        if dst_dev and not src_dev:
            self.count.host_to_device += 1
            self.count.ops[f"h2d:{name}"] += 1
        elif src_dev and not dst_dev:
            self.count.device_to_host += 1
            self.count.ops[f"d2h:{name}"] += 1


def _placed(func: Any, args: Any, out: Any, on_standin: bool, to_host: bool) -> Any:
    """The op's result where it lives: host values as they are, an in-place copy's target, stand-in results wrapped."""
    if func is _aten._local_scalar_dense.default or to_host:
        return out
    if func is _aten.copy_.default:
        return args[0]
    return tree_map(_wrap, out) if on_standin else out


def _is_standin_device(device: Any) -> bool:
    return device is not None and torch.device(device).type == STANDIN.type


def _unwrap(x: Any) -> Any:
    if isinstance(x, _OnStandin):
        return x._data
    if isinstance(x, torch.device) and x.type == STANDIN.type:
        return _HOST
    if isinstance(x, str) and x == STANDIN.type:
        return _HOST.type
    return x


def _wrap(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and not isinstance(x, _OnStandin):
        return _OnStandin(x)
    return x


@contextlib.contextmanager
def standin_device() -> Iterator[TransferCount]:
    """Activate the stand-in device (see the module docstring); yields the transfer counts."""
    count = TransferCount()
    real_generator = torch.Generator
    foreach_devices = foreach_utils._get_foreach_kernels_supported_devices
    fused_devices = foreach_utils._get_fused_kernels_supported_devices
    patches: list[tuple[Any, str, Any]] = [
        (torch, "Generator", _generator_class(real_generator)),
        (foreach_utils, "_get_foreach_kernels_supported_devices", lambda: [*foreach_devices(), STANDIN.type]),
        (foreach_utils, "_get_fused_kernels_supported_devices", lambda: [*fused_devices(), STANDIN.type]),
        (optimizer, "_get_foreach_kernels_supported_devices", lambda: [*foreach_devices(), STANDIN.type]),
        (optimizer, "_get_fused_kernels_supported_devices", lambda: [*fused_devices(), STANDIN.type]),
    ]
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
    for obj, attr, value in patches:
        setattr(obj, attr, value)
    try:
        with _Calls(count), _Placement(count), warnings.catch_warnings():
            # load_state_dict sees the meta label and warns that a copy is a no-op; here the copy is real
            warnings.filterwarnings("ignore", message=".*copying from a non-meta parameter.*")
            yield count
    finally:
        for obj, attr, value in saved:
            setattr(obj, attr, value)
