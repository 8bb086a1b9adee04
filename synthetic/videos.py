"""Synthetic videos for tests, the demo and the bench, written with PyAV.

``render_frame(i, height, width, seed)`` is a pure function of the frame
index: a smooth coloured background with a fine grating and three textured
shapes that move several pixels per frame. Tests compare decoded frames to it
(so a wrong frame index or a wrong crop is visible), and the demo uses it as
a tiny video corpus (``make_demo_corpus``).

``write_bad_inputs`` writes one file per kind of broken input the video
pipeline must survive (zero bytes, truncated, not a video, audio only, too
few frames, 1x1, 16000x16000, variable frame rate, rotated metadata).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.io import atomic_path


def render_frame(i: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Frame ``i`` of the synthetic scene: uint8 [height, width, 3].

    Coordinates are normalised by the frame size, so every size and aspect
    ratio shows the same scene. Shapes move ~1.5% of the width per frame.
    """
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=6)
    y = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height  # (H, 1)
    x = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / width  # (1, W)
    s = 0.01 * i
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = 110 + 60 * np.sin(2 * np.pi * (1.5 * x + 0.7 * y + s) + phase[0])
    img[..., 1] = 120 + 50 * np.sin(2 * np.pi * (0.8 * x - 1.3 * y - s) + phase[1])
    img[..., 2] = 100 + 40 * np.cos(2 * np.pi * (2.0 * x * y + 0.5 * x) + phase[2])
    img += (20 * np.sin(2 * np.pi * 6 * x + phase[3]) * np.sin(2 * np.pi * 4 * y))[..., None]
    # a disk moving left to right (wrapping), striped
    cx, cy, r = (0.15 + 0.015 * i) % 1.0, 0.35 + 0.1 * np.sin(0.2 * i), 0.16
    d2 = ((x - cx) * width / height) ** 2 + (y - cy) ** 2
    disk = d2 < r * r
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * 8 * (x + y))
    img[disk] = (np.stack([230 * stripes, 60 + 0 * stripes, 40 + 150 * stripes], -1))[disk]
    # a square moving diagonally, checkered
    sx, sy = (0.7 - 0.012 * i) % 1.0, (0.6 + 0.01 * i) % 1.0
    box = (np.abs(x - sx) < 0.1) & (np.abs(y - sy) < 0.1 * width / height)
    checker = ((np.floor(x * 24) + np.floor(y * 16)) % 2).astype(np.float32)
    img[box] = np.stack([40 + 200 * checker, 200 - 150 * checker, 220 + 0 * checker], -1)[box]
    # a horizontal bar moving down
    by = (0.1 + 0.02 * i) % 1.0
    bar = (np.abs(y - by) < 0.04) & (x > 0.05) & (x < 0.6)
    img[bar] = np.array([250, 250, 60], np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def write_video(
    path: str | os.PathLike,
    num_frames: int,
    height: int,
    width: int,
    fps: int = 30,
    seed: int = 0,
    codec: str = "libx264",
    crf: int = 12,
    rotation: int | None = None,
    frame_durations_ms: list[int] | None = None,
    faststart: bool = False,
) -> Path:
    """Encode ``render_frame(0..num_frames-1)`` to ``path`` (atomically).

    ``codec`` libx264 (yuv420p, even sizes) or ffv1 (yuv444p, any size, use
    ``.mkv``). ``rotation`` writes a display matrix (counter-clockwise
    degrees). ``frame_durations_ms`` makes a variable-frame-rate stream.
    """
    path = Path(path)
    pix_fmt = "yuv420p" if codec == "libx264" else "yuv444p"
    container_opts = {"movflags": "faststart"} if faststart else {}
    with atomic_path(path) as tmp:
        fmt = "matroska" if path.suffix == ".mkv" else "mp4"
        with av.open(str(tmp), "w", format=fmt, options=container_opts) as out:
            stream = out.add_stream(codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            if codec == "libx264":
                # one thread: x264's threaded encode is not bit-reproducible, and a corpus
                # written again must have the same bytes (same content hash, nothing rebuilt)
                stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
            if rotation is not None:
                stream.set_display_rotation(rotation)
            pts = None
            if frame_durations_ms is not None:
                if len(frame_durations_ms) < num_frames:
                    raise ValueError("frame_durations_ms: need one duration per frame")
                stream.codec_context.time_base = Fraction(1, 1000)
                pts = np.concatenate([[0], np.cumsum(frame_durations_ms)]).astype(int)
            for i in range(num_frames):
                frame = av.VideoFrame.from_ndarray(
                    render_frame(i, height, width, seed), format="rgb24"
                )
                if pts is not None:
                    frame.pts, frame.time_base = int(pts[i]), Fraction(1, 1000)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return path


def write_audio_only(path: str | os.PathLike, seconds: float = 0.5) -> Path:
    """An AAC file with no video stream."""
    path = Path(path)
    rate = 44100
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = out.add_stream("aac", rate=rate)
            t = np.arange(int(seconds * rate), dtype=np.float32) / rate
            wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k, start in enumerate(range(0, wave.size, 1024)):
                chunk = np.zeros((1, 1024), np.float32)
                piece = wave[start : start + 1024]
                chunk[0, : piece.size] = piece
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = rate, k * 1024
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return path


def write_huge_header(path: str | os.PathLike, height: int = 16000, width: int = 16000) -> Path:
    """A YUV4MPEG2 stream that declares ``width x height`` frames but holds a few bytes.

    Costs nothing to make; a reader that trusts the header and allocates a
    frame would need ``1.5 * width * height`` bytes. The pipeline must refuse
    it from the probed size alone.
    """
    header = f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\nFRAME\n".encode()
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(header + bytes([128]) * 4096)
    return path


def write_truncated(src: str | os.PathLike, dst: str | os.PathLike, keep: float = 0.5) -> Path:
    """The first ``keep`` fraction of ``src``'s bytes (a download cut short)."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data[: int(len(data) * keep)])
    return dst


# name -> expected fragment of the failure reason (tests assert on it)
BAD_INPUT_REASONS: dict[str, str] = {
    "zero_bytes.mp4": "empty file",
    "truncated.mp4": "cannot open",
    "truncated_faststart.mp4": "truncated",
    "not_a_video.mp4": "cannot open",
    "audio_only.mp4": "no video stream",
    "too_few_frames.mp4": "frames",
    "one_by_one.mkv": "too small",
    "huge_16000.y4m": "too large",
    "variable_fps.mp4": "variable frame rate",
}


def write_bad_inputs(folder: str | os.PathLike, few_frames: int = 3) -> dict[str, Path]:
    """Write every broken input into ``folder``; returns name -> path.

    ``too_few_frames.mp4`` has ``few_frames`` frames: broken only for a clip
    that needs more. The rotated-metadata video is not here: it is honoured
    (see ``core.video``), so it is a good input (``write_video(rotation=90)``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    p = folder / "zero_bytes.mp4"
    p.write_bytes(b"")
    out[p.name] = p
    scratch = folder / ".scratch"
    scratch.mkdir(exist_ok=True)
    full = write_video(scratch / "full.mp4", 30, 32, 48)
    out["truncated.mp4"] = write_truncated(full, folder / "truncated.mp4", 0.5)
    full_fs = write_video(scratch / "full_fs.mp4", 30, 32, 48, faststart=True)
    out["truncated_faststart.mp4"] = write_truncated(
        full_fs, folder / "truncated_faststart.mp4", 0.5
    )
    for f in scratch.iterdir():
        f.unlink()
    scratch.rmdir()
    p = folder / "not_a_video.mp4"
    p.write_text("this is a text file with a video suffix\n" * 20)
    out[p.name] = p
    out["audio_only.mp4"] = write_audio_only(folder / "audio_only.mp4")
    out["too_few_frames.mp4"] = write_video(folder / "too_few_frames.mp4", few_frames, 32, 48)
    out["one_by_one.mkv"] = write_video(folder / "one_by_one.mkv", 5, 1, 1, codec="ffv1")
    out["huge_16000.y4m"] = write_huge_header(folder / "huge_16000.y4m")
    durations = [33 if k % 2 else 100 for k in range(40)]
    out["variable_fps.mp4"] = write_video(
        folder / "variable_fps.mp4", 40, 32, 48, frame_durations_ms=durations
    )
    return out


DEMO_SIZES: tuple[tuple[int, int], ...] = ((72, 128), (96, 96), (120, 90), (64, 160))


def make_demo_corpus(folder: str | os.PathLike, num_frames: int = 48, seed: int = 0) -> list[Path]:
    """A small corpus of good videos: several sizes and aspect ratios (16:9, 1:1, 3:4, 5:2)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (h, w) in enumerate(DEMO_SIZES):
        path = folder / f"demo_{k}_{w}x{h}.mp4"
        if not path.exists():  # written atomically: an existing file is whole
            write_video(path, num_frames, h, w, seed=seed + k)
        paths.append(path)
    return paths


def write_demo_corpus(root: Path | None = None) -> Path:
    """The synthetic demo corpus the ``*/demo`` deployments read; written once."""
    from core.paths import data_root

    folder = (root or data_root()) / "corpus" / "demo"
    if not any(folder.glob("*.mp4")):
        make_demo_corpus(folder)
    return folder
