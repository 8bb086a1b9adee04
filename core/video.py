"""The one video reader (probing, decoding, rotation) and the one H.264 writer.

Every stage that reads a video file goes through here: the video builds, the
curation CLI, generation's conditioning videos. Decoding is decord first,
PyAV where decord cannot.

``probe_video`` reads headers and packets (no pixels except the first frame)
and refuses, with a reason, anything the pipeline should not decode:

* missing file, empty file, unreadable container, no video stream;
* frames over ``max_pixels`` (refused from the header: a 16000x16000 stream is
  never allocated) or under ``min_side`` pixels on a side;
* a stream whose readable packets stop before the count its header declares
  (truncated download);
* variable frame rate: packet durations that differ from their median by more
  than ``vfr_tolerance`` (relative). Clip sampling at a target frame rate
  assumes a constant rate, so such a video is refused rather than sampled at
  wrong times;
* a display rotation that is not a multiple of 90 degrees.

Rotation metadata (a display matrix, as phones write) is **honoured**: frames
come back the way a player shows them (``np.rot90`` by the counter-clockwise
angle PyAV reports), and ``VideoMeta.height/width`` are the displayed size.

``decode_frames`` returns ``uint8 [N, H, W, 3]`` RGB for frame indices into
the decoded stream (0-based, presentation order); ``decode_all`` every frame
of a probed video under a memory cap; ``read_video`` probes and decodes a file.

``write_mp4`` encodes ``uint8 [F, H, W, 3]`` frames as H.264 (libx264,
yuv420p), atomically; ``count_frames`` counts what PyAV decodes back.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MIN_SIDE = 16
DEFAULT_VFR_TOLERANCE = 0.2
DEFAULT_MAX_DECODED_BYTES = 4 << 30


class VideoError(Exception):
    """A video the pipeline refuses; ``str(e)`` is the reason stored in the catalog."""


@dataclass(frozen=True)
class VideoMeta:
    """Probed facts about one video. ``height``/``width`` are as displayed (after rotation)."""

    frames: int
    fps: float
    height: int
    width: int
    duration: float
    rotation: int  # counter-clockwise degrees applied for display: 0, 90, 180, 270
    codec: str
    coded_height: int
    coded_width: int

    def to_json(self) -> dict:
        d = asdict(self)
        d["size"] = [self.width, self.height]
        return d


def probe_video(
    path: str | os.PathLike,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    vfr_tolerance: float = DEFAULT_VFR_TOLERANCE,
) -> VideoMeta:
    """Metadata of ``path`` or ``VideoError`` with the reason it cannot be used."""
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"cannot open as a video: {e}") from None
    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoError(f"no video stream (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        cc = stream.codec_context
        w, h = int(cc.width or 0), int(cc.height or 0)
        if w * h > max_pixels:
            raise VideoError(f"frame size {w}x{h} too large ({w * h} pixels > cap {max_pixels})")
        if min(w, h) < min_side:
            raise VideoError(f"frame size {w}x{h} too small (a side under {min_side} pixels)")
        codec = cc.name
        declared = int(stream.frames or 0)
        time_base = stream.time_base
        # Packets only (no decoding): the frame count, and timestamps for the rate.
        pts: list[int] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                stamp = packet.pts if packet.pts is not None else packet.dts
                pts.append(int(stamp) if stamp is not None else len(pts))
        except av.error.FFmpegError as e:
            raise VideoError(
                f"truncated or corrupt: demuxing stopped after {len(pts)} packets ({e})"
            ) from None
        if declared and len(pts) < declared:
            raise VideoError(
                f"truncated: header declares {declared} frames, {len(pts)} are readable"
            )
        if not pts:
            raise VideoError("no video frames")
        fps = _rate_from_pts(pts, time_base, vfr_tolerance, stream.average_rate)
        rotation = _first_frame_rotation(path)
    if rotation % 90:
        raise VideoError(f"unsupported display rotation {rotation} degrees (not a multiple of 90)")
    coded_h, coded_w = h, w
    if rotation in (90, 270):
        h, w = w, h
    return VideoMeta(
        frames=len(pts),
        fps=fps,
        height=h,
        width=w,
        duration=len(pts) / fps,
        rotation=rotation,
        codec=codec,
        coded_height=coded_h,
        coded_width=coded_w,
    )


def _rate_from_pts(pts: list[int], time_base, tolerance: float, average_rate) -> float:
    """Constant frame rate from packet timestamps; ``VideoError`` when it varies."""
    stamps = np.sort(np.asarray(pts, dtype=np.float64))
    if stamps.size < 2 or time_base is None:
        if not average_rate:
            raise VideoError("unknown frame rate")
        return float(average_rate)
    step = np.diff(stamps) * float(time_base)  # seconds per frame
    med = float(np.median(step))
    if med <= 0:
        raise VideoError("unknown frame rate (timestamps do not increase)")
    worst = float(np.max(np.abs(step - med)) / med)
    if worst > tolerance:
        raise VideoError(
            f"variable frame rate: frame durations range {1000 * step.min():.1f}-"
            f"{1000 * step.max():.1f} ms (tolerance {tolerance:.0%} around the median)"
        )
    return 1.0 / med


def _first_frame_rotation(path: Path) -> int:
    """Counter-clockwise display rotation in degrees (0 when the file has none)."""
    import av

    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return int(round(frame.rotation or 0)) % 360
    except av.error.FFmpegError as e:
        raise VideoError(f"cannot decode the first frame: {e}") from None
    raise VideoError("cannot decode the first frame: the stream yields no frames")


def decode_frames(
    path: str | os.PathLike, indices, meta: VideoMeta, backend: str = "auto"
) -> np.ndarray:
    """Frames ``indices`` of ``path`` as displayed: uint8 ``[N, height, width, 3]`` RGB.

    ``backend`` ``auto`` tries decord and falls back to PyAV on any decord
    error; ``decord`` / ``pyav`` force one. Raises ``VideoError`` when a frame
    cannot be decoded.
    """
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("indices: need at least one frame index")
    if min(indices) < 0 or max(indices) >= meta.frames:
        raise VideoError(
            f"frame index out of range 0..{meta.frames - 1}: {min(indices)}, {max(indices)}"
        )
    coded = (len(indices), meta.coded_height, meta.coded_width, 3)
    frames = None
    if backend in ("auto", "decord"):
        try:
            frames = _decode_decord(path, indices)
            if frames.shape != coded:
                raise VideoError(f"decord returned {frames.shape}, expected {coded}")
        except Exception as e:  # decord raises its own error types, and RuntimeError
            if backend == "decord":
                raise VideoError(f"decord cannot decode: {str(e)[:300]}") from None
            frames = None
    if frames is None:
        frames = _decode_pyav(path, indices)
        if frames.shape != coded:
            raise VideoError(f"decoded frames {frames.shape}, expected {coded}")
    return apply_rotation(frames, meta.rotation)


def decode_all(path, meta: VideoMeta, max_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> np.ndarray:
    """Every frame of a probed video, once; ``VideoError`` when they would pass ``max_bytes``."""
    need = meta.frames * meta.height * meta.width * 3
    if need > max_bytes:
        raise VideoError(
            f"too long to decode in one pass: {meta.frames} frames of {meta.width}x{meta.height} "
            f"need {need / 2**30:.1f} GiB decoded (cap {max_bytes / 2**30:.1f} GiB)"
        )
    return decode_frames(path, range(meta.frames), meta)


def read_video(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> np.ndarray:
    """Every frame of ``path`` as displayed (probed, rotation honoured): uint8 ``[F, H, W, 3]``."""
    return decode_all(path, probe_video(path), max_bytes)


def apply_rotation(frames: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate ``[N, H, W, 3]`` frames counter-clockwise by ``rotation`` degrees."""
    if rotation % 360 == 0:
        return frames
    return np.ascontiguousarray(np.rot90(frames, k=(rotation // 90) % 4, axes=(1, 2)))


def _decode_decord(path, indices: list[int]) -> np.ndarray:
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=0)
    if max(indices) >= len(reader):
        raise VideoError(f"decord sees {len(reader)} frames, index {max(indices)} requested")
    return reader.get_batch(indices).asnumpy()


def _decode_pyav(path, indices: list[int]) -> np.ndarray:
    """Sequential decode keeping the wanted frames (codecs or files decord cannot read)."""
    import av

    wanted = {i: [] for i in indices}
    last = max(indices)
    got: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for k, frame in enumerate(container.decode(stream)):
                if k in wanted:
                    got[k] = frame.to_ndarray(format="rgb24")
                if k >= last:
                    break
    except av.error.FFmpegError as e:
        raise VideoError(f"cannot decode: {e}") from None
    missing = [i for i in indices if i not in got]
    if missing:
        raise VideoError(f"truncated: decoding ended before frame {missing[0]}")
    return np.stack([got[i] for i in indices])


# ---------------------------------------------------------------- writing
def _even(frame: np.ndarray) -> np.ndarray:
    """Pad a frame to even height and width (H.264 with yuv420p needs them)."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_mp4(
    path: str | os.PathLike, frames: np.ndarray, fps: int, crf: int = 16, preset: str | None = None
) -> Path:
    """H.264 (libx264, yuv420p) from uint8 ``[F, H, W, 3]``, atomically; odd sizes padded.

    ``preset``: x264's speed/size trade-off (its own default when ``None``).
    """
    import av

    from core.io import atomic_path

    path = Path(path)
    frames = np.stack([_even(f) for f in frames])
    _, h, w, _ = frames.shape
    with atomic_path(path, suffix=".mp4") as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": str(crf), **({"preset": preset} if preset else {})}
            for f in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path


def count_frames(path: str | os.PathLike) -> int:
    """Number of frames PyAV decodes from a video file."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))
