"""Training data from an immutable dataset snapshot of the catalog (docs/training.md#data).

``resolve_snapshot`` turns a snapshot id or name into checked sample
references, failing before any step runs when the snapshot is unknown or
empty, or a sample failed, is missing from the catalog or from disk, or is of
a kind the stage cannot use.

``StreamDataset`` is indexed by a *stream index* ``k`` (0, 1, 2, ...), not by
a sample: epoch ``k // N`` is a seeded permutation of the ``N`` samples and
``k`` picks position ``k % N`` of it; every random choice of an item (which
clip of a grid, which frames are known) comes from a generator seeded by
``(seed, k)``. Item ``k`` is therefore a pure function of ``(snapshot, seed,
k)``: a resumed run that starts its sampler at the first unconsumed ``k``
sees exactly the samples the uninterrupted run would have seen, and DDP rank
``r`` of ``w`` reads ``k = j w + r`` (disjoint streams).

Items (float frames in [-1, 1], channels first; core.grid):

* ``base``      ``x [F, 3, H, W]``, ``context`` (MODE_INDEX), ``known [F]`` (4Real recipe);
* ``sync``      ``x [V, T, 3, H, W]``, ``known [V, T]`` (one of the grid patterns of
  model.masking, with the proportions of ``ItemSpec.grid_masks``),
  ``weight [V, T, 1, H, W]`` (pixel validity of warped pseudo-4D grids, ones otherwise);
* ``upsampler`` ``x [F, 3, H, W]`` at the high resolution.

Grids feed clip stages as freeze-time (``grid[:, t]``) or fixed-view
(``grid[v, :]``) clips. Samples are read through the sample store
(core.sample_store: local or S3, any stored format; virtual pseudo-4D grids
are warped here, in the loader worker). Content hashes are checked the first
time a process reads a sample, on the bytes it fetched (one read per sample).

A sample that turns out corrupt (truncated, hash mismatch, undecodable) is
skipped with a warning naming it: the item is taken from the next sample of
the epoch's order instead (deterministic for a given set of bad files) and
``item["skipped"]`` counts the samples skipped for it, so that the training
loop reports them. Only when every sample is unreadable does it raise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from catalog.datasets import dataset_samples, get_dataset
from catalog.store import Catalog
from core import fs
from core.grid import MODE_INDEX
from core.paths import data_root
from core.sample_store import SampleError, open_sample
from model.masking import (
    BASE_MASK_MIX,
    GRID_MASK_MIX,
    check_base_mask_mix,
    check_grid_mask_mix,
    sample_grid_mask,
    sample_known_mask,
)
from tasks.train.preemption import ignore_stop_signals

log = logging.getLogger(__name__)

GRID_KINDS = ("grid_objaverse", "grid_pseudo4d")
CLIP_KIND = "clip"
VALID_KEYS = ("valid",)  # optional per-pixel validity [V, T, H, W] of legacy pseudo-4D grids
STAGES = ("base", "sync", "upsampler")
MAX_ASPECT_DISTORTION = 0.25
# Decoded samples kept per loader process (least recently used first out). A budget in
# bytes, not a count: a small dataset (the demo's 22 grids and clips, ~10 MB decoded)
# then fits whole and is decoded once, while 8x8 grids at 288x512 (28 MB each) still
# leave memory for the step. Read-through: a larger dataset streams as before.
CACHE_BYTES = int(float(os.environ.get("FOURREAL_LOADER_CACHE_MB", "512")) * 2**20)


@dataclass(frozen=True)
class SampleRef:
    """One checked sample of a snapshot."""

    sample_id: str
    kind: str
    mode: str | None
    v: int
    t: int
    h: int
    w: int
    path: str  # absolute on a local data root; root-relative on S3 (core.fs)
    sha256: str
    caption: str | None = None  # the source's text (video manifests), for text conditioning

    @property
    def is_grid(self) -> bool:
        return self.kind in GRID_KINDS

    @property
    def frames(self) -> int:
        """Frames of a clip (clips are stored with v = 1, t = F)."""
        return self.t


@dataclass(frozen=True)
class Snapshot:
    dataset_id: str
    name: str
    samples: tuple[SampleRef, ...]


def _few(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def resolve_snapshot(
    catalog: Catalog, ref: str, *, kinds: tuple[str, ...], field: str = "dataset"
) -> Snapshot:
    """Check a snapshot and its samples; ``ValueError`` naming ``field`` on any problem."""
    try:
        ds = get_dataset(catalog, ref)
    except ValueError:
        raise ValueError(f"{field}: no dataset snapshot with id or name {ref!r}") from None
    ids = list(ds["sample_ids"] or [])
    if not ids:
        raise ValueError(f"{field}: snapshot {ds['name']!r} ({ds['dataset_id']}) is empty")
    rows = {r["sample_id"]: r for r in dataset_samples(catalog, ds["dataset_id"])}
    if missing := [i for i in ids if i not in rows]:
        raise ValueError(f"{field}: samples not in the catalog: {_few(missing)}")
    if failed := [f"{i[:12]} ({rows[i]['error']})" for i in ids if rows[i]["status"] != "ok"]:
        raise ValueError(f"{field}: snapshot has failed samples: {_few(failed)}")
    if wrong := sorted({rows[i]["kind"] for i in ids} - set(kinds)):
        raise ValueError(f"{field}: sample kinds {wrong} cannot be used here; expected {kinds}")
    local = fs.home().is_local
    root = data_root() if local else None
    paths = {}
    for i in ids:
        p = Path(rows[i]["path"] or "")
        paths[i] = str(p if p.is_absolute() else root / p) if local else rows[i]["path"]
    named = [i for i in ids if rows[i]["path"]]
    there = dict(zip(named, fs.exist_all([paths[i] for i in named]), strict=True))
    refs, absent = [], []
    for i in ids:
        r, p = rows[i], paths[i]
        if not there.get(i):
            absent.append(f"{i[:12]} ({p})")
            continue
        refs.append(
            SampleRef(
                sample_id=i,
                kind=r["kind"],
                mode=r["mode"],
                v=int(r["v"] or 1),
                t=int(r["t"] or 1),
                h=int(r["h"]),
                w=int(r["w"]),
                path=p,
                sha256=r["sha256"],
                caption=_caption(r.get("params_json")),
            )
        )
    if absent:
        raise ValueError(f"{field}: sample files missing on disk: {_few(absent)}")
    return Snapshot(dataset_id=ds["dataset_id"], name=ds["name"], samples=tuple(refs))


def _caption(params_json: str | None) -> str | None:
    """``derived.caption`` of a sample's catalog parameters (a manifest's caption)."""
    if not params_json:
        return None
    derived = json.loads(params_json).get("derived")
    caption = derived.get("caption") if isinstance(derived, dict) else None
    return caption if isinstance(caption, str) else None


# ---------------------------------------------------------------- item spec
@dataclass(frozen=True, kw_only=True)
class ItemSpec:
    """What a stage needs from one sample."""

    stage: str
    """base | sync | upsampler."""
    height: int
    """Training frame height (frames are resized to it)."""
    width: int
    """Training frame width."""
    frames: int = 8
    """Clip length F for the clip stages (ignored by sync, which takes whole grids)."""
    seed: int = 0
    """Order and per-item randomness."""
    grid_masks: tuple[tuple[str, float], ...] = tuple(GRID_MASK_MIX.items())
    """sync: ``(pattern, proportion)`` of every grid mask pattern (model.masking), summing to 1."""
    base_masks: tuple[tuple[str, float], ...] = tuple(BASE_MASK_MIX.items())
    """base: ``(strategy, weight)`` of the base masking recipe (model.masking), normalised."""

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        for name in ("height", "width", "frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_grid_mask_mix(dict(self.grid_masks))
        check_base_mask_mix(dict(self.base_masks))


def check_fits(snapshot: Snapshot, spec: ItemSpec, *, max_frames: int, field: str) -> None:
    """``ValueError`` naming ``field`` when a sample's resolution or V/T does not fit the stage."""
    target = spec.width / spec.height
    for s in snapshot.samples:
        name = f"{field}: sample {s.sample_id[:12]} ({s.kind} V={s.v} T={s.t} {s.h}x{s.w})"
        if s.h < spec.height or s.w < spec.width:
            raise ValueError(
                f"{name} is smaller than the training resolution {spec.height}x{spec.width}"
            )
        if abs((s.w / s.h) / target - 1.0) > MAX_ASPECT_DISTORTION:
            raise ValueError(
                f"{name} has aspect {s.w / s.h:.3f}, the preset {target:.3f}: "
                f"resizing would distort it more than {MAX_ASPECT_DISTORTION:.0%}"
            )
        if spec.stage == "sync":
            if not s.is_grid:
                raise ValueError(f"{name} is not a grid")
            if s.v < 2 or s.t < 2 or s.v > max_frames or s.t > max_frames:
                raise ValueError(f"{name}: V and T must be in [2, max_frames={max_frames}]")
            first = snapshot.samples[0]
            if (s.v, s.t) != (first.v, first.t):
                raise ValueError(
                    f"{name}: every grid of a snapshot must share V, T "
                    f"(first sample has V={first.v} T={first.t})"
                )
        else:
            if spec.frames > max_frames:
                raise ValueError(f"frames: {spec.frames} exceeds max_frames {max_frames}")
            longest = max(s.v, s.t) if s.is_grid else s.frames
            if longest < spec.frames:
                raise ValueError(f"{name} has fewer than frames={spec.frames} frames")
            if not s.is_grid and s.mode not in MODE_INDEX:
                raise ValueError(f"{name} has mode {s.mode!r}, not one of {list(MODE_INDEX)}")


# ---------------------------------------------------------------- loading
def _seed(*parts: int) -> int:
    h = hashlib.sha256(b"/".join(str(p).encode() for p in parts)).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def resample_frames(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Frames ``[..., h, w, C]`` (uint8 or float32) -> ``[..., height, width, C]``, no crop
    (the stored aspect already matches: samples are cropped once, when they are built).

    OpenCV area averaging when shrinking (a box filter: no aliasing), bilinear
    when growing; on the stored dtype, before the float conversion, which is
    ~10x cheaper than resizing float tensors.
    """
    h, w = x.shape[-3:-1]
    if (h, w) == (height, width):
        return x
    interp = cv2.INTER_AREA if height <= h and width <= w else cv2.INTER_LINEAR
    flat = x.reshape(-1, h, w, x.shape[-1])
    out = np.empty((flat.shape[0], height, width, x.shape[-1]), dtype=x.dtype)
    for i, frame in enumerate(flat):
        out[i] = cv2.resize(frame, (width, height), interpolation=interp).reshape(out.shape[1:])
    return out.reshape(*x.shape[:-3], height, width, x.shape[-1])


def load_sample(ref: SampleRef, verify: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """``(frames uint8, validity or None)``: ``[V, T, H, W, 3]`` for grids, ``[F, H, W, 3]`` clips.

    One read of the whole file (one GET on S3); ``verify`` checks its sha256
    against the catalog's. ``SampleError`` (naming the sample) when the file is
    missing, corrupt, of another kind or shape than the catalog says.
    """
    sha = ref.sha256 if verify else None
    with open_sample(ref.path, ref.sample_id, sha256=sha, whole=True, kind=ref.kind) as s:
        if s.kind != ref.kind:
            raise SampleError(f"sample {ref.sample_id}: file holds a {s.kind}, catalog {ref.kind}")
        arr = s.grid() if ref.is_grid else s.frames()
        names = s.names()
        valid_key = next((k for k in VALID_KEYS if k in names), None)
        valid = s.array(valid_key) if valid_key and ref.kind == "grid_pseudo4d" else None
    want = (ref.v, ref.t, ref.h, ref.w) if ref.is_grid else (ref.t, ref.h, ref.w)
    if arr.shape[:-1] != want:
        raise SampleError(
            f"sample {ref.sample_id}: frames are {arr.shape}, the catalog says {want} (x3)"
        )
    return arr, valid


class StreamDataset(Dataset):
    """Map-style dataset over stream indices ``k`` (see the module docstring)."""

    def __init__(
        self,
        samples: tuple[SampleRef, ...],
        spec: ItemSpec,
        verify: bool = True,
        cache_bytes: int = CACHE_BYTES,
    ):
        if not samples:
            raise ValueError("samples: empty")
        self.samples = samples
        self.spec = spec
        self.verify = verify
        self.cache_bytes = cache_bytes  # decoded bytes kept per process (0: every item is a read)
        self._verified: set[str] = set()
        self.bad: dict[int, str] = {}  # sample index -> why it was skipped (this process)
        self._cache: OrderedDict[str, tuple] = OrderedDict()
        self._cache_bytes = 0
        self._orders: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            if len(self._orders) > 4:
                self._orders.clear()
            gen = torch.Generator().manual_seed(_seed(self.spec.seed, "order", epoch))
            self._orders[epoch] = torch.randperm(len(self.samples), generator=gen).tolist()
        return self._orders[epoch]

    def sample_index(self, k: int) -> int:
        """Which sample stream index ``k`` reads."""
        n = len(self.samples)
        return self._order(k // n)[k % n]

    def _read(self, ref: SampleRef) -> tuple[np.ndarray, np.ndarray | None]:
        if ref.sample_id in self._cache:
            self._cache.move_to_end(ref.sample_id)
            return self._cache[ref.sample_id]
        verify = self.verify and ref.sample_id not in self._verified
        out = load_sample(ref, verify=verify)
        self._verified.add(ref.sample_id)
        self._remember(ref.sample_id, out)
        return out

    def _remember(self, sample_id: str, arrays: tuple) -> None:
        """Cache ``arrays`` within ``CACHE_BYTES``, evicting the least recently used."""
        size = sum(a.nbytes for a in arrays if a is not None)
        if size > self.cache_bytes:
            return
        while self._cache and self._cache_bytes + size > self.cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= sum(a.nbytes for a in old if a is not None)
        self._cache[sample_id] = arrays
        self._cache_bytes += size

    def _read_or_skip(self, k: int) -> tuple[int, tuple, int]:
        """``(sample index, arrays, skipped)``: the sample of ``k``, or the next readable one."""
        n = len(self.samples)
        order = self._order(k // n)
        pos = k % n
        for skipped in range(n):
            idx = order[(pos + skipped) % n]
            if idx in self.bad:
                continue
            try:  # every position walked past was a bad sample
                return idx, self._read(self.samples[idx]), skipped
            except SampleError as e:
                self.bad[idx] = str(e)
                log.warning("skipping corrupt sample (%d so far): %s", len(self.bad), e)
        raise SampleError(f"every sample of the snapshot is unreadable; first: {self._first_bad()}")

    def _first_bad(self) -> str:
        return next(iter(self.bad.values()), "")

    def __getitem__(self, k: int) -> dict:
        idx, (arr, valid), skipped = self._read_or_skip(k)
        ref = self.samples[idx]
        gen = torch.Generator().manual_seed(_seed(self.spec.seed, "item", k))
        if self.spec.stage == "sync":
            item = self._grid_item(arr, valid, gen)
        else:
            item = self._clip_item(ref, arr, gen)
        item["sample"] = torch.tensor(idx)
        item["k"] = torch.tensor(k)
        item["skipped"] = torch.tensor(skipped)
        return item

    # -- stages
    def _to_model(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 ``[..., h, w, 3]`` -> float ``[..., 3, H, W]`` in [-1, 1] at the stage size."""
        small = resample_frames(np.ascontiguousarray(frames), self.spec.height, self.spec.width)
        x = torch.from_numpy(small).movedim(-1, -3).float()
        return x.div_(127.5).sub_(1.0)

    def _clip_item(self, ref: SampleRef, arr: np.ndarray, gen: torch.Generator) -> dict:
        n = self.spec.frames
        if ref.is_grid:
            V, T = arr.shape[:2]
            modes = [m for m, ok in (("freeze_time", V >= n), ("dynamic", T >= n)) if ok]
            mode = modes[int(torch.randint(len(modes), (1,), generator=gen))]
            if mode == "freeze_time":  # grid[:, t]: the camera moves, time stands still
                t = int(torch.randint(T, (1,), generator=gen))
                v0 = int(torch.randint(V - n + 1, (1,), generator=gen))
                clip = arr[v0 : v0 + n, t]
            else:  # grid[v, :]: the camera stands, time runs
                v = int(torch.randint(V, (1,), generator=gen))
                t0 = int(torch.randint(T - n + 1, (1,), generator=gen))
                clip = arr[v, t0 : t0 + n]
        else:
            mode = ref.mode
            f0 = int(torch.randint(arr.shape[0] - n + 1, (1,), generator=gen))
            clip = arr[f0 : f0 + n]
        item = {"x": self._to_model(clip)}  # (F, 3, H, W)
        if self.spec.stage == "base":
            item["context"] = torch.tensor(MODE_INDEX[mode])
            item["known"] = sample_known_mask(1, n, gen, mix=dict(self.spec.base_masks))[0]
        return item

    def _grid_item(self, arr: np.ndarray, valid: np.ndarray | None, gen) -> dict:
        V, T = arr.shape[:2]
        x = self._to_model(arr)  # (V, T, 3, H, W)
        known = sample_grid_mask(1, V, T, dict(self.spec.grid_masks), gen)[0]  # (V, T)
        if valid is None:
            weight = torch.ones(V, T, 1, self.spec.height, self.spec.width)
        else:
            w = np.asarray(valid, dtype=np.float32)[..., None]  # (V, T, h, w, 1)
            w = resample_frames(w, self.spec.height, self.spec.width) > 0.5
            weight = torch.from_numpy(w).movedim(-1, -3).float()  # (V, T, 1, H, W)
        return {"x": x, "known": known, "weight": weight}


class StreamSampler(Sampler[int]):
    """Stream indices ``j world + rank`` for ``j`` in ``[start, stop)``: one rank's share."""

    def __init__(self, start: int, stop: int, rank: int = 0, world: int = 1):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} not in [0, {world})")
        self.start, self.stop, self.rank, self.world = start, stop, rank, world

    def __iter__(self):
        return iter(range(self.start * self.world + self.rank, self.stop * self.world, self.world))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def make_loader(
    dataset: StreamDataset,
    start: int,
    stop: int,
    *,
    batch_size: int,
    rank: int = 0,
    world: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches of this rank's samples ``[start, stop)`` (counted per rank), in stream order."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=StreamSampler(start, stop, rank, world),
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=False,
        persistent_workers=False,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=ignore_stop_signals if workers > 0 else None,
    )
