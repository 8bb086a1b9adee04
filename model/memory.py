"""Peak memory of a training step: traced on fake tensors, or measured on this process.

``trace_peak_memory(build, step, device) -> MemoryReport`` runs ``build()``
(model, optimizer and any other state, e.g. an EMA) and ``step(...)`` under
PyTorch's ``FakeTensorMode``: every op runs its shape/dtype logic only, no
memory is allocated and nothing is computed, so a 600M-parameter step at
36,864 tokens per stream is traced in seconds on a CPU. A dispatch mode
(:class:`StorageTracker`) counts every tensor storage an op creates until it
is freed, through forward, backward (activation checkpointing's recomputation
included) and the optimizer step, and keeps the peak. The same kernels choose
the same attention backend as a real run on that device type, so the
activations the trace keeps are those the real step keeps. (PyTorch's own
``MemTracker`` hooks every parameter's gradient and fails on a frozen base.)

``measure_peak_rss(fn)`` is the measurement the trace is tested against on
CPU: the process's resident-set high-water mark (Linux ``VmHWM``, reset via
``/proc/self/clear_refs``) while ``fn`` runs, minus the resident set before.
Run it in a fresh process with ``MALLOC_MMAP_THRESHOLD_`` set (e.g. 65536):
glibc then maps every large tensor on its own and returns it on free, so the
resident set follows the live tensors.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

GIB = 1024**3


@dataclass(frozen=True)
class MemoryReport:
    """Peak bytes of one traced step on ``device``: the state held before it, and the rest."""

    peak_bytes: int
    state_bytes: int
    """Parameters and pre-allocated state (e.g. the EMA), held before the step starts."""
    device: str

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB

    def describe(self) -> str:
        step = (self.peak_bytes - self.state_bytes) / GIB
        return (
            f"peak {self.peak_gib:.2f} GiB on {self.device} (weights and EMA "
            f"{self.state_bytes / GIB:.2f}, plus gradients, optimizer state and "
            f"activations {step:.2f})"
        )


class StorageTracker(TorchDispatchMode):
    """Live tensor storages on one device type: every op output counted once, until freed."""

    def __init__(self, device_type: str):
        super().__init__()
        self.device_type = device_type
        self.live: dict[int, int] = {}
        self.current = self.peak = 0

    def add(self, tensor) -> None:
        if not isinstance(tensor, torch.Tensor) or tensor.device.type != self.device_type:
            return
        storage = tensor.untyped_storage()
        key = id(storage)
        if key in self.live:  # a view or an in-place result: no new memory
            return
        self.live[key] = storage.nbytes()
        self.current += self.live[key]
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            self.add(tensor)
        return out


def trace_peak_memory(
    build: Callable[[], tuple],
    step: Callable[..., object],
    device: str | torch.device,
) -> MemoryReport:
    """Trace ``step(*build())`` on fake tensors; ``build`` returns the state the step uses.

    Every tensor reachable from what ``build`` returns (module parameters and
    buffers, optimizer state, tensors, an object's ``tracked_tensors()``)
    counts from the start; then every tensor the step creates, until freed.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    device = torch.device(device)
    tracker = StorageTracker(device.type)
    with FakeTensorMode():
        state = build()
        for tensor in _tensors(state):
            tracker.add(tensor)
        held = tracker.current
        with tracker:
            step(*state)
    return MemoryReport(tracker.peak, held, str(device))


def _tensors(state) -> list[torch.Tensor]:
    """The tensors inside ``state`` (modules, optimizers, nested lists, tuples, dicts)."""
    found, stack = [], [state]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            found.append(item)
        elif isinstance(item, torch.nn.Module):
            found.extend(item.parameters())
            found.extend(item.buffers())
        elif isinstance(item, torch.optim.Optimizer):
            stack.extend(item.state.values())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif hasattr(item, "tracked_tensors"):  # e.g. an EMA: its shadow copies
            stack.extend(item.tracked_tensors())
    return found


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_peak_rss(fn: Callable[[], object]) -> int:
    """Bytes by which this process's resident set peaked above its level before ``fn``."""
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark (VmHWM)
    before = _status_bytes("VmRSS")
    fn()
    return _status_bytes("VmHWM") - before
