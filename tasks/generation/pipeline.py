"""Generation: a grid from a sync checkpoint, a fixed-view and a freeze-time video.

Inputs are video files (read as displayed, rotation honoured, by the builds'
reader ``core.video``) or a catalog grid sample (its
``grid[0, :]`` and ``grid[:, 0]``). Frames are fitted to the grid: a longer
video is subsampled evenly and a frame of another size is centre-cropped to
the aspect ratio and resized, each with a warning; a video too short for
``V`` or ``T`` is a ``ValueError`` naming the input.

Outputs (one folder per generation, every file written atomically)::

    grid.zip            the generated grid, a sample of the store (core.sample_store):
                        grid uint8 [V, T, H, W, 3], times [T], known bool [V, T]
                        (``fourreal sample export ID --out grid.npz`` writes the npz)
    grid_x4.zip         the same at the upsampler's resolution (with an upsampler)
    mosaic.mp4          H.264, frame t tiles the V views of grid[:, t]
    views/view_VV.mp4   one H.264 per fixed-view video grid[v, :]

The videos and the sheet are enlarged by an integer factor (nearest
neighbour) so tiny grids stay visible and survive 4:2:0 chroma subsampling;
the grid samples hold the exact pixels (lossless libx264rgb).
    contact_sheet.png   V rows x T columns, conditioning frames framed in orange

Each grid written is a ``samples`` row (kind ``grid_generated``, recipe
``generate``) whose ``params_json`` names the checkpoint(s) and inputs.
Plain functions do the work; the ``@task`` wrappers at the end are what the
``generate`` flow calls.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from catalog.ids import sample_id as make_sample_id
from catalog.store import Catalog
from core import sample_store, video
from core.grid import check_disk_grid, to_model, to_uint8
from core.io import atomic_path, sha256_bytes, sha256_file
from core.paths import relative_to_root
from core.resize import crop_resize
from core.video import write_mp4
from tasks.grid_sampling import GenerationInputs, read_grid_npz, sample_grid_path

KIND = "grid_generated"
RECIPE = "generate"
RECIPE_VERSION = "1"
GRID_KEYS = ("rgb", "grid")  # Objaverse grids store "rgb"; pseudo-4D and generated ones "grid"
LOSSLESS = {"codec": "h264rgb"}
COND_COLOUR = (255, 140, 0)  # frame colour of conditioning frames on the contact sheet
MOSAIC_MIN_WIDTH = 512
VIEW_MIN_WIDTH = 256


# ------------------------------------------------------------------ inputs
def read_video(path: str | Path) -> np.ndarray:
    """Every frame of a conditioning video as displayed (probed, rotation honoured):
    uint8 ``[F, H, W, 3]``; ``ValueError`` naming the file when it cannot be used."""
    try:
        return video.read_video(path)
    except video.VideoError as e:
        raise ValueError(f"video {str(path)!r} cannot be decoded: {e}") from None


def fit_frames(
    frames: np.ndarray, count: int, height: int, width: int, name: str
) -> tuple[np.ndarray, list[str]]:
    """``count`` frames of ``height x width`` from ``frames [F, h, w, 3]``; returns (frames, warnings).

    More frames than needed: ``count`` evenly spaced ones, first and last kept.
    Fewer: ``ValueError`` naming ``name``.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"{name}: frames must be uint8 [F, H, W, 3], got {frames.dtype} {frames.shape}"
        )
    warnings = []
    n = frames.shape[0]
    if n < count:
        raise ValueError(f"{name}: has {n} frames, {count} are needed")
    if n > count:
        idx = np.round(np.linspace(0, n - 1, count)).astype(int)
        frames = frames[idx]
        warnings.append(f"{name}: {n} frames, using {count} evenly spaced ones {idx.tolist()}")
    if frames.shape[1:3] != (height, width):
        warnings.append(
            f"{name}: frames are {frames.shape[1]}x{frames.shape[2]}, resized to {height}x{width}"
        )
        frames = crop_resize(frames, height, width)
    return np.ascontiguousarray(frames), warnings


def inputs_from_videos(
    fixed_view_video: str | Path,
    freeze_time_video: str | Path,
    views: int,
    times: int,
    height: int,
    width: int,
    fps: float,
) -> GenerationInputs:
    """Decode both files and fit them; ``grid[0, 0]`` is taken from the fixed-view video."""
    fixed, w1 = fit_frames(read_video(fixed_view_video), times, height, width, "fixed_view_video")
    freeze, w2 = fit_frames(
        read_video(freeze_time_video), views, height, width, "freeze_time_video"
    )
    warnings = w1 + w2
    diff = np.abs(fixed[0].astype(int) - freeze[0].astype(int)).mean()
    if diff > 1.0:
        warnings.append(
            f"freeze_time_video: first frame differs from fixed_view_video's (mean |diff| "
            f"{diff:.1f}); both are grid[0, 0], the fixed-view frame is used"
        )
    freeze = freeze.copy()
    freeze[0] = fixed[0]
    ids = {
        "fixed_view_video": {
            "path": str(fixed_view_video),
            "sha256": sha256_file(fixed_view_video),
        },
        "freeze_time_video": {
            "path": str(freeze_time_video),
            "sha256": sha256_file(freeze_time_video),
        },
    }
    return GenerationInputs(fixed, freeze, np.arange(times) / fps, ids, warnings)


def inputs_from_sample(
    catalog: Catalog, sample_id: str, views: int | None, times: int | None, height: int, width: int
) -> GenerationInputs:
    """``grid[0, :]`` and ``grid[:, 0]`` of a catalog grid (``None`` V/T: the sample's own)."""
    path, row = sample_grid_path(catalog, sample_id)
    rgb, t_sec = read_grid_npz(path)
    V, T = rgb.shape[:2]
    views, times = views or V, times or T
    fixed, w1 = fit_frames(rgb[0, :], times, height, width, f"sample {sample_id[:12]} grid[0, :]")
    freeze, w2 = fit_frames(rgb[:, 0], views, height, width, f"sample {sample_id[:12]} grid[:, 0]")
    if t_sec is None or len(t_sec) != T:
        t_out = np.arange(times, dtype=np.float64)
    else:
        t_out = np.asarray(t_sec, np.float64)[np.round(np.linspace(0, T - 1, times)).astype(int)]
    return GenerationInputs(fixed, freeze, t_out, {"sample_id": sample_id}, w1 + w2)


def fitted_ground_truth(
    catalog: Catalog, sample_id: str, views: int, times: int, height: int, width: int
) -> np.ndarray:
    """The whole grid of a catalog sample fitted as generation fits its conditioning frames:
    ``views`` x ``times`` evenly spaced, frames ``height x width`` (uint8 ``[V, T, H, W, 3]``)."""
    path, _ = sample_grid_path(catalog, sample_id)
    rgb, _ = read_grid_npz(path)
    V, T, H, W, _ = rgb.shape
    vi = np.round(np.linspace(0, V - 1, views)).astype(int)
    ti = np.round(np.linspace(0, T - 1, times)).astype(int)
    rgb = rgb[vi][:, ti]
    frames = crop_resize(rgb.reshape(views * times, H, W, 3), height, width)
    return np.ascontiguousarray(frames.reshape(views, times, height, width, 3))


# ------------------------------------------------------------------ sampling
def upsample_grid(upsampler, grid: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """uint8 ``[V, T, H, W, 3]`` -> uint8 ``[V, T, sH, sW, 3]`` with the upsampler."""
    from model import upsample

    out = upsample(upsampler, to_model(grid), steps=steps, seed=seed)
    if not bool(out.isfinite().all()):
        raise RuntimeError("upsampling produced non-finite values")
    return to_uint8(out)


# ------------------------------------------------------------------ writers
def write_grid(path: Path, rgb: np.ndarray, times: np.ndarray) -> Path:
    """A generated grid sample: the grid, ``times`` and the ``known`` conditioning mask."""
    V, T = check_disk_grid(rgb)[:2]
    known = np.zeros((V, T), bool)
    known[0, :] = known[:, 0] = True
    # lossless (libx264rgb): the conditioning frames stay exactly the inputs
    sample_store.write_generated(
        path, grid=rgb, times=np.asarray(times, np.float64), known=known, quality=LOSSLESS
    )
    return path


def _zoom(h: int, w: int, min_width: int) -> int:
    return max(1, math.ceil(min_width / w)) if w < min_width else 1


def enlarge(frames: np.ndarray, min_width: int) -> np.ndarray:
    """Nearest-neighbour enlargement of ``[..., H, W, 3]`` by an integer factor to ``>= min_width``."""
    k = _zoom(*frames.shape[-3:-1], min_width)
    return frames.repeat(k, axis=-3).repeat(k, axis=-2) if k > 1 else frames


def mosaic_frames(rgb: np.ndarray, min_width: int = MOSAIC_MIN_WIDTH, gap: int = 2) -> np.ndarray:
    """``[T, H', W', 3]``: frame t tiles the V views of ``grid[:, t]`` (rows of views)."""
    V, T, H, W = check_disk_grid(rgb)
    rows = max(1, int(math.floor(math.sqrt(V))))
    cols = math.ceil(V / rows)
    out = np.zeros((T, rows * (H + gap) - gap, cols * (W + gap) - gap, 3), np.uint8)
    for v in range(V):
        r, c = divmod(v, cols)
        out[:, r * (H + gap) : r * (H + gap) + H, c * (W + gap) : c * (W + gap) + W] = rgb[v]
    return enlarge(out, min_width)


def contact_sheet(rgb: np.ndarray, min_cell_width: int = 96) -> np.ndarray:
    """uint8 image: V rows (viewpoints) x T columns (times), conditioning frames framed."""
    V, T, H, W = check_disk_grid(rgb)
    k = _zoom(H, W, min_cell_width)
    h, w = H * k, W * k
    border, label = 3, 22
    cell_h, cell_w = h + 2 * border, w + 2 * border
    sheet = np.full((label + V * cell_h, label + T * cell_w, 3), 255, np.uint8)
    for v in range(V):
        for t in range(T):
            y, x = label + v * cell_h, label + t * cell_w
            if v == 0 or t == 0:
                sheet[y : y + cell_h, x : x + cell_w] = COND_COLOUR
            frame = rgb[v, t].repeat(k, axis=0).repeat(k, axis=1)
            sheet[y + border : y + border + h, x + border : x + border + w] = frame
    img = Image.fromarray(sheet)
    draw = ImageDraw.Draw(img)
    for t in range(T):
        draw.text((label + t * cell_w + cell_w // 2 - 8, 4), f"t{t}", fill=(0, 0, 0))
    for v in range(V):
        draw.text((2, label + v * cell_h + cell_h // 2 - 6), f"v{v}", fill=(0, 0, 0))
    return np.asarray(img)


def write_png(path: Path, image: np.ndarray) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return path


@dataclass
class GenerationOutputs:
    """Where one generation's files are."""

    folder: Path
    grid: Path
    grid_high: Path | None
    mosaic: Path
    views: list[Path]
    contact_sheet: Path
    mosaic_high: Path | None = None
    contact_sheet_high: Path | None = None


def write_outputs(
    folder: Path, grid: np.ndarray, times: np.ndarray, fps: int, grid_high: np.ndarray | None = None
) -> GenerationOutputs:
    """Every output file. The mosaic, per-view videos and contact sheet show the
    base-resolution grid (whose conditioning frames are exact); with an
    upsampler, ``mosaic_x4.mp4`` and ``contact_sheet_x4.png`` show its output."""
    folder.mkdir(parents=True, exist_ok=True)
    grid_path = write_grid(folder / f"grid{sample_store.SUFFIX}", grid, times)
    mosaic = write_mp4(folder / "mosaic.mp4", mosaic_frames(grid), fps)
    views = [
        write_mp4(folder / "views" / f"view_{v:02d}.mp4", grid[v], fps)
        for v in range(grid.shape[0])
    ]
    sheet = write_png(folder / "contact_sheet.png", contact_sheet(grid))
    outputs = GenerationOutputs(folder, grid_path, None, mosaic, views, sheet)
    if grid_high is not None:
        scale = grid_high.shape[2] // grid.shape[2]
        outputs.grid_high = write_grid(
            folder / f"grid_x{scale}{sample_store.SUFFIX}", grid_high, times
        )
        outputs.mosaic_high = write_mp4(
            folder / f"mosaic_x{scale}.mp4", mosaic_frames(grid_high), fps
        )
        outputs.contact_sheet_high = write_png(
            folder / f"contact_sheet_x{scale}.png", contact_sheet(grid_high)
        )
    return outputs


# ------------------------------------------------------------------ catalog
def generation_id(ckpt_sha: str, params: dict) -> str:
    """Deterministic id of one generation (= the sample id of its base-resolution grid)."""
    return make_sample_id(ckpt_sha, RECIPE, RECIPE_VERSION, params)


def input_digest(inputs: GenerationInputs) -> str:
    """sha256 of the fitted conditioning frames (what the model actually saw)."""
    return sha256_bytes(inputs.fixed_view.tobytes() + inputs.freeze_time.tobytes())


def register_grid(
    catalog: Catalog, sid: str, path: Path, rgb: np.ndarray, params: dict, run_id: str | None
) -> dict:
    """Append the ``samples`` row of a generated grid file; returns it."""
    V, T, H, W = check_disk_grid(rgb)
    row = {
        "sample_id": sid,
        "kind": KIND,
        "source_id": None,
        "recipe": RECIPE,
        "recipe_version": RECIPE_VERSION,
        "params_json": json.dumps(params, sort_keys=True, default=str),
        "mode": None,
        "v": V,
        "t": T,
        "h": H,
        "w": W,
        "path": relative_to_root(path),
        "sha256": sha256_file(path),
        "bytes": Path(path).stat().st_size,
        "status": "ok",
        "error": None,
        "run_id": run_id,
    }
    catalog.append("samples", [row])
    return row
