"""The sample store: the only code that writes or reads sample files.

One sample is one file (atomic on a local disk and on S3 alike): a ZIP
archive with every member *stored* (no ZIP compression: members are already
compressed), so any member is read with a ranged read and no other member
is touched. ``unzip -l`` lists it. Members::

    sample.json           manifest: format, version, kind, shape, members, attributes
    rgb/v000.mp4 ...      one H.264 video per view (T frames each)         grids
    frames.mp4            the clip (T frames)                              clips, pseudo-4D
    <name>.npy            a small array (K, w2c, times, affine, ...)      .npy format
    <name>.npy.zst        a large array (alpha, depth), .npy bytes + zstd  (``zstd -d``)

Kinds and what is stored (``export`` gives the npz contract of each):

* ``grid_objaverse`` (rendered): ``rgb`` as video; ``alpha`` uint8 lossless;
  ``depth`` float16 (relative error <= 2^-11 = 0.05 % of the depth, zero
  stays zero), or float32 losslessly with ``Quality(depth="float32")``;
  ``K``, ``w2c``, ``times`` as float64.
* ``grid_pseudo4d`` (virtual): the clip once plus ``affine [V, 2, 3]``, the
  seed that made the path, ``frame_indices`` and the warp backend; the V x T
  grid is warped on read (:mod:`core.warp`), so it is V times
  smaller than the grid.
* ``clip``: the frames, ``frame_indices``, ``fps`` and ``mode``.
* ``grid_generated``: ``rgb`` as video, ``times``, ``known``.

Video: PyAV libx264 at ``crf 0`` with preset ``ultrafast`` by default. In
``yuv444p`` (``codec="h264"``, the default) the only loss is the RGB <-> YUV
conversion (about 65 dB PSNR on renders); ``codec="h264rgb"`` (libx264rgb)
is exactly lossless at about 1.5x the bytes. ``crf > 0`` trades quality for
bytes; the recipe chooses (:class:`Quality`). Frames are padded to even
sizes for the encoder and cropped back on read.

Same inputs, same bytes: members have a fixed timestamp and attributes and are
written manifest first, then by name; libx264 runs on one thread. A file named after
its sample id (``sample_path``) is never overwritten by another whole copy of that
sample: the first writer wins and later writers report the file that is there
(``_put_first``), so the catalog's sha256 is the file's even with concurrent builds.

Files written by the previous version (plain ``np.savez`` npz, which is a
ZIP too but has no ``sample.json``) are read through the same API. A file
that is truncated or corrupt raises :class:`SampleError` naming the sample.
Paths are relative to the data root (local or S3, :mod:`core.fs`)
or absolute local paths.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core import fs

FORMAT = "fourreal-sample"
VERSION = 1
SUFFIX = ".zip"
MANIFEST = "sample.json"
LEGACY_SUFFIX = ".npz"

RENDERED = "grid_objaverse"
PSEUDO4D = "grid_pseudo4d"
CLIP = "clip"
GENERATED = "grid_generated"
KINDS = (RENDERED, PSEUDO4D, CLIP, GENERATED)
GRID_KINDS = (RENDERED, PSEUDO4D, GENERATED)

EXPORT_KEYS: dict[str, tuple[str, ...]] = {
    RENDERED: ("rgb", "alpha", "depth", "K", "w2c", "times"),
    PSEUDO4D: ("grid", "frames", "affine", "frame_indices"),
    CLIP: ("frames", "frame_indices", "fps", "mode"),
    GENERATED: ("grid", "times", "known"),
}
CODECS = {"h264": ("libx264", "yuv444p"), "h264rgb": ("libx264rgb", "rgb24")}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")
COMPRESS_MIN_BYTES = 4096  # smaller arrays are stored raw: zstd would not pay for itself
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # every member's timestamp: the earliest a ZIP can hold


class SampleError(ValueError):
    """A sample file is missing, truncated, corrupt or not what its caller expects."""


@dataclass(frozen=True)
class Quality:
    """How a recipe stores its samples (part of the recipe: changing it changes the bytes)."""

    codec: str = "h264"
    """h264 (libx264 yuv444p: near-lossless at crf 0) | h264rgb (libx264rgb: lossless at crf 0)."""
    crf: int = 0
    """x264 constant rate factor: 0 = (near-)lossless, larger = smaller and lossier."""
    preset: str = "ultrafast"
    """x264 speed preset: slower presets save some bytes at the same quality."""
    depth: str = "float16"
    """float16 (relative error <= 2^-11) | float32 (lossless)."""
    zstd_level: int = 1

    def __post_init__(self):
        if self.codec not in CODECS:
            raise ValueError(f"codec: expected one of {sorted(CODECS)}, got {self.codec!r}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf: must be in [0, 51], got {self.crf}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset: expected one of {PRESETS}, got {self.preset!r}")
        if self.depth not in ("float16", "float32"):
            raise ValueError(f"depth: expected float16 or float32, got {self.depth!r}")
        if not 1 <= self.zstd_level <= 22:
            raise ValueError(f"zstd_level: must be in [1, 22], got {self.zstd_level}")

    @classmethod
    def of(cls, value: Quality | dict | None) -> Quality:
        if value is None:
            return cls()
        return value if isinstance(value, Quality) else cls(**value)


@dataclass(frozen=True)
class Stored:
    """What a write produced: the path as given, its size and content hash."""

    path: str
    bytes: int
    sha256: str


def sample_path(folder: str | os.PathLike, sample_id: str) -> str:
    """``folder/ab/abcdef....zip``: where a sample of this id is written (root-relative)."""
    return f"{str(folder).rstrip('/')}/{sample_id[:2]}/{sample_id}{SUFFIX}"


# ------------------------------------------------------------------ encoding
def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _even_pad(frames: np.ndarray) -> np.ndarray:
    h, w = frames.shape[-3:-1]
    if h % 2 == 0 and w % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def encode_video(frames: np.ndarray, quality: Quality) -> bytes:
    """uint8 ``[N, H, W, 3]`` -> an mp4 (one thread: Ray workers own one CPU each)."""
    import av

    codec, pix_fmt = CODECS[quality.codec]
    frames = _even_pad(frames)
    _, h, w, _ = frames.shape
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=1)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.thread_count = 1
        stream.options = {"crf": str(quality.crf), "preset": quality.preset}
        for frame in frames:
            img = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(stream.encode(img))
        container.mux(stream.encode())
    return buf.getvalue()


def decode_video(data: bytes, count: int, height: int, width: int, upto: int | None = None):
    """The first ``upto`` (default all ``count``) frames of an mp4, uint8 ``[n, H, W, 3]``."""
    import av

    n = count if upto is None else upto
    out = np.empty((n, height, width, 3), np.uint8)
    k = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(video=0):
            if k == n:
                break
            out[k] = frame.to_ndarray(format="rgb24")[:height, :width]
            k += 1
    if k != n:
        raise ValueError(f"video holds {k} frames, {n} expected")
    return out


class _Writer:
    """Collects members in memory, then writes the archive in one atomic put."""

    def __init__(self, kind: str, shape: tuple[int, ...], quality: Quality, sample_id: str | None):
        self.quality = quality
        self.members: dict[str, bytes] = {}
        self.manifest: dict = {
            "format": FORMAT,
            "version": VERSION,
            "kind": kind,
            "sample_id": sample_id,
            "shape": [int(s) for s in shape],
            "quality": asdict(quality),
            "arrays": {},
            "attrs": {},
        }

    def video(self, name: str, frames: np.ndarray) -> None:
        self.members[name] = encode_video(frames, self.quality)

    def array(self, name: str, arr: np.ndarray) -> None:
        raw = _npy_bytes(arr)
        if len(raw) >= COMPRESS_MIN_BYTES:
            import pyarrow as pa

            codec = pa.Codec("zstd", compression_level=self.quality.zstd_level)
            member = f"{name}.npy.zst"
            self.members[member] = codec.compress(raw, asbytes=True)
            self.manifest["arrays"][name] = {"member": member, "raw_bytes": len(raw)}
        else:
            member = f"{name}.npy"
            self.members[member] = raw
            self.manifest["arrays"][name] = {"member": member, "raw_bytes": len(raw)}

    def archive(self) -> bytes:
        """The ZIP bytes: a function of the members alone (same inputs, same bytes)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr(_member(MANIFEST), json.dumps(self.manifest, sort_keys=True))
            for name in sorted(self.members):  # by name, not by the order they were made
                z.writestr(_member(name), self.members[name])
        return buf.getvalue()

    def finish(self, path: str | os.PathLike) -> Stored:
        data = self.archive()
        sid = self.manifest["sample_id"]
        if sid and _sample_id_of(path) == sid and str(path).endswith(SUFFIX):
            return _put_first(path, data, sid)
        fs.put_bytes(path, data)
        return _stored(path, data)


def _member(name: str) -> zipfile.ZipInfo:
    """A member header with fixed time, system and mode: ``writestr(name)`` would stamp the
    current local time, so two writers of one sample made different bytes (issue 22)."""
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # unix, whatever the writer's platform
    info.external_attr = 0o644 << 16
    return info


def _stored(path: str | os.PathLike, data: bytes) -> Stored:
    return Stored(path=str(path), bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def _put_first(path: str | os.PathLike, data: bytes, sample_id: str) -> Stored:
    """Write a sample file named after its id unless a whole one is there: first writer wins.

    The id hashes the source, the recipe and its parameters, so any whole file at that
    path is that sample. Keeping the first one (instead of overwriting it) is what lets
    concurrent builds of one corpus agree: each records the sha256 of the file that is
    there, never of bytes another writer has since replaced (encoders on other machines
    may not give identical bytes). A file that is not a whole sample of this id
    (truncated or corrupt by a hand outside the store) is replaced.
    """
    existing = fs.put_new(path, data)
    if existing is None or existing == data:
        return _stored(path, data)
    if _whole_sample(existing, sample_id):
        return _stored(path, existing)
    fs.put_bytes(path, data)
    return _stored(path, data)


def _whole_sample(data: bytes, sample_id: str) -> bool:
    """Every member's CRC checks and the manifest names this sample."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if z.testzip() is not None:
                return False
            manifest = json.loads(z.read(MANIFEST))
    except Exception:
        return False
    return manifest.get("format") == FORMAT and manifest.get("sample_id") == sample_id


def _check_frames(name: str, arr: np.ndarray, ndim: int) -> None:
    if arr.dtype != np.uint8 or arr.ndim != ndim or arr.shape[-1] != 3:
        dims = "[V, T, H, W, 3]" if ndim == 5 else "[T, H, W, 3]"
        raise ValueError(f"{name}: must be uint8 {dims}, got {arr.dtype} {tuple(arr.shape)}")
    if 0 in arr.shape:
        raise ValueError(f"{name}: empty array {tuple(arr.shape)}")


def write_rendered(
    path: str | os.PathLike,
    *,
    rgb: np.ndarray,
    alpha: np.ndarray,
    depth: np.ndarray,
    K: np.ndarray,
    w2c: np.ndarray,
    times: np.ndarray,
    quality: Quality | dict | None = None,
    sample_id: str | None = None,
) -> Stored:
    """A rendered grid (the ``renderers.job`` contract): rgb as video, alpha, depth, cameras."""
    _check_frames("rgb", rgb, 5)
    V, T, H, W, _ = rgb.shape
    if alpha.shape != (V, T, H, W) or depth.shape != (V, T, H, W):
        raise ValueError(f"alpha/depth: must be [V, T, H, W] = {(V, T, H, W)}")
    q = Quality.of(quality)
    w = _Writer(RENDERED, (V, T, H, W), q, sample_id)
    for v in range(V):
        w.video(f"rgb/v{v:03d}.mp4", rgb[v])
    w.array("alpha", alpha.astype(np.uint8, copy=False))
    w.array("depth", depth.astype(np.float16 if q.depth == "float16" else np.float32))
    w.array("K", np.asarray(K, np.float64))
    w.array("w2c", np.asarray(w2c, np.float64))
    w.array("times", np.asarray(times, np.float64))
    return w.finish(path)


def write_pseudo4d(
    path: str | os.PathLike,
    *,
    frames: np.ndarray,
    affine: np.ndarray,
    seed: int | None,
    frame_indices: np.ndarray,
    backend: str = "torch",
    quality: Quality | dict | None = None,
    sample_id: str | None = None,
    attrs: dict | None = None,
) -> Stored:
    """A virtual pseudo-4D grid: the clip once, its ``affine [V, 2, 3]`` maps and seed."""
    from core.warp import WARP_BACKENDS

    _check_frames("frames", frames, 4)
    affine = np.asarray(affine, np.float64)
    if affine.ndim != 3 or affine.shape[1:] != (2, 3):
        raise ValueError(f"affine: must be [V, 2, 3], got {affine.shape}")
    if backend not in WARP_BACKENDS:
        raise ValueError(f"backend: expected one of {WARP_BACKENDS}, got {backend!r}")
    T, H, W, _ = frames.shape
    w = _Writer(PSEUDO4D, (affine.shape[0], T, H, W), Quality.of(quality), sample_id)
    w.video("frames.mp4", frames)
    w.array("affine", affine)
    w.array("frame_indices", np.asarray(frame_indices, np.int64))
    w.manifest["attrs"] = {"seed": seed, "warp_backend": backend, **(attrs or {})}
    return w.finish(path)


def write_clip(
    path: str | os.PathLike,
    *,
    frames: np.ndarray,
    frame_indices: np.ndarray,
    fps: float,
    mode: str,
    quality: Quality | dict | None = None,
    sample_id: str | None = None,
    attrs: dict | None = None,
) -> Stored:
    """A base-model clip: frames as video, the source frame indices, frame rate and mode.

    ``attrs``: more of what the sample carries (e.g. the source's ``caption``).
    """
    _check_frames("frames", frames, 4)
    T, H, W, _ = frames.shape
    w = _Writer(CLIP, (1, T, H, W), Quality.of(quality), sample_id)
    w.video("frames.mp4", frames)
    w.array("frame_indices", np.asarray(frame_indices, np.int64))
    w.manifest["attrs"] = {**(attrs or {}), "fps": float(fps), "mode": str(mode)}
    return w.finish(path)


def write_generated(
    path: str | os.PathLike,
    *,
    grid: np.ndarray,
    times: np.ndarray,
    known: np.ndarray | None = None,
    quality: Quality | dict | None = None,
    sample_id: str | None = None,
) -> Stored:
    """A generated grid: rgb as video, times and the conditioning mask ``known [V, T]``."""
    _check_frames("grid", grid, 5)
    V, T, H, W, _ = grid.shape
    if known is None:
        known = np.zeros((V, T), bool)
        known[0, :] = known[:, 0] = True
    w = _Writer(GENERATED, (V, T, H, W), Quality.of(quality), sample_id)
    for v in range(V):
        w.video(f"rgb/v{v:03d}.mp4", grid[v])
    w.array("times", np.asarray(times, np.float64))
    w.array("known", np.asarray(known, bool))
    return w.finish(path)


# ------------------------------------------------------------------ reading
def _sample_id_of(path: str | os.PathLike) -> str:
    name = Path(str(path)).name
    for suffix in (SUFFIX, LEGACY_SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _legacy_kind(keys: set[str]) -> str:
    if {"rgb", "alpha", "depth"} <= keys:
        return RENDERED
    if {"grid", "affine"} <= keys:
        return PSEUDO4D
    if "known" in keys and ("rgb" in keys or "grid" in keys):
        return GENERATED
    if "frames" in keys and "grid" not in keys:
        return CLIP
    if "grid" in keys or "rgb" in keys:
        return GENERATED  # a bare grid (older generation output)
    raise ValueError(f"arrays {sorted(keys)} match no sample kind")


class Sample:
    """An open sample file. Use :func:`open_sample`; close it (or use ``with``)."""

    def __init__(
        self, path: str, sample_id: str, src, data_bytes: int | None, kind: str | None = None
    ):
        self.path = path
        self.sample_id = sample_id
        self._src = src
        self._cache: dict[str, np.ndarray] = {}
        try:
            self._zip = zipfile.ZipFile(src)
            names = set(self._zip.namelist())
            if MANIFEST in names:
                self.manifest = json.loads(self._zip.read(MANIFEST))
                if self.manifest.get("format") != FORMAT:
                    raise ValueError(f"{MANIFEST} is not a {FORMAT} manifest")
                if int(self.manifest.get("version", 0)) > VERSION:
                    raise ValueError(
                        f"written by a newer store (version {self.manifest['version']})"
                    )
                self.legacy = False
                self.kind = self.manifest["kind"]
                self.V, self.T, self.H, self.W = self.manifest["shape"]
            else:
                self.legacy = True
                self._npz = np.load(src, allow_pickle=False)
                # older files carry no kind: the caller's (the catalog's) wins
                self.kind = kind or _legacy_kind(set(self._npz.files))
                self.V, self.T, self.H, self.W = self._legacy_shape()
        except SampleError:
            raise
        except Exception as e:
            self.close()
            raise self._error(e) from None
        self.bytes = data_bytes

    # -- context
    def close(self) -> None:
        for obj in (getattr(self, "_npz", None), getattr(self, "_zip", None), self._src):
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    pass

    def __enter__(self) -> Sample:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _error(self, e: Exception) -> SampleError:
        reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        return SampleError(
            f"sample {self.sample_id}: {self.path} is truncated or corrupt ({reason[:300]})"
        )

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except (SampleError, IndexError):
            raise
        except Exception as e:
            raise self._error(e) from None

    # -- legacy npz
    def _legacy(self, key: str) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = self._npz[key]
        return self._cache[key]

    def _legacy_shape(self) -> tuple[int, int, int, int]:
        files = set(self._npz.files)
        if self.kind == CLIP:
            t, h, w, _ = self._legacy("frames").shape
            return 1, t, h, w
        v, t, h, w, _ = self._legacy("grid" if "grid" in files else "rgb").shape
        return v, t, h, w

    # -- members
    @property
    def attrs(self) -> dict:
        if self.legacy:
            files = set(self._npz.files)
            out = {}
            if "fps" in files:
                out["fps"] = float(self._legacy("fps"))
            if "mode" in files:
                out["mode"] = str(self._legacy("mode"))
            return out
        return dict(self.manifest.get("attrs", {}))

    def names(self) -> list[str]:
        """Arrays of this sample besides its frames (alpha, depth, K, affine, ...)."""
        if self.legacy:
            return sorted(set(self._npz.files) - {"rgb", "grid", "frames"})
        return sorted(self.manifest["arrays"])

    def array(self, name: str) -> np.ndarray:
        """A stored array (``alpha``, ``depth`` as float32, ``K``, ``affine``, ...)."""
        return self._guard(self._array, name)

    def _array(self, name: str) -> np.ndarray:
        if self.legacy:
            if name not in self._npz.files:
                raise SampleError(f"sample {self.sample_id}: no array {name!r} ({self.path})")
            return self._legacy(name)
        spec = self.manifest["arrays"].get(name)
        if spec is None:
            raise SampleError(f"sample {self.sample_id}: no array {name!r} ({self.path})")
        data = self._zip.read(spec["member"])
        if spec["member"].endswith(".zst"):
            import pyarrow as pa

            data = pa.Codec("zstd").decompress(
                data, decompressed_size=spec["raw_bytes"], asbytes=True
            )
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        return arr.astype(np.float32) if name == "depth" else arr

    def _video(self, member: str, count: int, upto: int | None = None) -> np.ndarray:
        return decode_video(self._zip.read(member), count, self.H, self.W, upto)

    # -- frames
    def frames(self) -> np.ndarray:
        """The clip ``[T, H, W, 3]`` of a clip or a pseudo-4D sample (unwarped)."""
        if self.kind not in (CLIP, PSEUDO4D):
            raise SampleError(f"sample {self.sample_id}: a {self.kind} has no clip frames")
        if "frames" not in self._cache:
            self._cache["frames"] = self._guard(self._frames)
        return self._cache["frames"]

    def _frames(self) -> np.ndarray:
        if self.legacy:
            return self._npz["frames"]
        return self._video("frames.mp4", self.T)

    def grid(self, views=None, times=None, device=None) -> np.ndarray:
        """uint8 ``[v, t, H, W, 3]`` (all views/times by default; lists or slices select).

        A clip reads as a ``[1, T, H, W, 3]`` grid. A virtual pseudo-4D grid is
        warped from its clip here, only for the views and times asked for;
        ``device`` warps on that torch device (the result comes back as numpy).
        """
        vs = _select(views, self.V, "views")
        ts = _select(times, self.T, "times")
        return self._guard(self._grid, vs, ts, device)

    def _grid(self, vs: list[int], ts: list[int], device) -> np.ndarray:
        if self.kind == CLIP:
            return self.frames()[ts][None]
        if self.kind == PSEUDO4D:
            return self._pseudo4d(vs, ts, device)
        if self.legacy:
            key = "grid" if "grid" in self._npz.files else "rgb"
            return self._legacy(key)[vs][:, ts]
        upto = max(ts) + 1
        out = np.empty((len(vs), len(ts), self.H, self.W, 3), np.uint8)
        for i, v in enumerate(vs):
            out[i] = self._video(f"rgb/v{v:03d}.mp4", self.T, upto)[ts]
        return out

    def _pseudo4d(self, vs: list[int], ts: list[int], device) -> np.ndarray:
        if self.legacy and "grid" in self._npz.files:
            return self._legacy("grid")[vs][:, ts]
        frames = self.frames()[ts]
        affine = self.array("affine")[vs]
        backend = self.attrs.get("warp_backend", "torch")
        from core.warp import warp_frames, warp_tensor

        if device is not None and backend == "torch":
            import torch

            return warp_tensor(torch.from_numpy(frames), affine, device).cpu().numpy()
        return warp_frames(frames, affine, backend)

    def view(self, v: int) -> np.ndarray:
        """``grid[v, :]``: the fixed-view clip of viewpoint ``v``, ``[T, H, W, 3]``."""
        return self.grid(views=[v])[0]

    def time(self, t: int) -> np.ndarray:
        """``grid[:, t]``: the freeze-time clip at time ``t``, ``[V, H, W, 3]``."""
        return self.grid(times=[t])[:, 0]

    def export(self) -> dict[str, np.ndarray]:
        """The arrays of this kind's npz export contract (:data:`EXPORT_KEYS`)."""
        out: dict[str, np.ndarray] = {}
        attrs = self.attrs
        for key in EXPORT_KEYS[self.kind]:
            if key in ("rgb", "grid"):
                out[key] = self.grid()
            elif key == "frames":
                out[key] = self.frames()
            elif key == "fps":
                out[key] = np.float64(attrs.get("fps", np.nan))
            elif key == "mode":
                out[key] = np.str_(attrs.get("mode", ""))
            elif key == "known" and key not in self.names():
                known = np.zeros((self.V, self.T), bool)
                known[0, :] = known[:, 0] = True
                out[key] = known
            elif key == "times" and key not in self.names():
                out[key] = np.arange(self.T, dtype=np.float64)
            else:
                out[key] = self.array(key)
        return out


def _select(sel, n: int, name: str) -> list[int]:
    if sel is None:
        return list(range(n))
    if isinstance(sel, slice):
        return list(range(n))[sel]
    idx = [int(i) for i in np.atleast_1d(sel)]
    if bad := [i for i in idx if not 0 <= i < n]:
        raise IndexError(f"{name}: {bad} out of range [0, {n})")
    return idx


def open_sample(
    path: str | os.PathLike,
    sample_id: str | None = None,
    *,
    sha256: str | None = None,
    whole: bool = False,
    kind: str | None = None,
) -> Sample:
    """Open a sample (new format or legacy npz) for reading; ``SampleError`` when unusable.

    ``sha256`` checks the file's content hash first (it reads the whole file
    once). ``whole`` reads the file in one request (best when most of it is
    needed; on S3 one GET instead of one per member); otherwise members are
    fetched with ranged reads as asked for. ``kind`` names the kind of a legacy
    npz (which does not record it; otherwise it is guessed from its arrays).
    """
    sid = sample_id or _sample_id_of(path)
    where = str(path)
    try:
        if sha256 is not None or whole:
            data = fs.read_bytes(path)
            src, nbytes = io.BytesIO(data), len(data)
            if sha256 is not None and (digest := hashlib.sha256(data).hexdigest()) != sha256:
                raise SampleError(
                    f"sample {sid}: sha256 mismatch for {where} (file {digest[:12]}, "
                    f"catalog {str(sha256)[:12]}): changed or corrupt"
                )
        else:
            src, nbytes = fs.open_input(path), None
    except FileNotFoundError:
        raise SampleError(f"sample {sid}: file not found at {fs.describe(path)}") from None
    except OSError as e:
        if not fs.exists(path):
            raise SampleError(f"sample {sid}: file not found at {fs.describe(path)}") from None
        raise SampleError(f"sample {sid}: cannot read {where}: {e}") from None
    return Sample(where, sid, src, nbytes, kind)


def read_grid(path: str | os.PathLike, sample_id: str | None = None) -> np.ndarray:
    """The whole ``[V, T, H, W, 3]`` grid of a sample, whatever its kind and format."""
    with open_sample(path, sample_id, whole=True) as s:
        return s.grid()


def export_npz(
    path: str | os.PathLike,
    out: str | os.PathLike,
    sample_id: str | None = None,
    sha256: str | None = None,
) -> tuple[str, list[str]]:
    """Write a sample's export contract as a plain (uncompressed) npz, atomically.

    Returns ``(kind, array names)``; ``sha256`` checks the file first.
    """
    from core.io import save_npz_atomic

    with open_sample(path, sample_id, whole=True, sha256=sha256) as s:
        arrays = s.export()
        kind = s.kind
    save_npz_atomic(out, **arrays)
    return kind, sorted(arrays)


def stored_size(path: str | os.PathLike) -> int:
    return fs.size(path)
