"""Rerun recordings of samples: cameras, frames, depth and time of a grid in one 3D viewer.

A sample is logged under its own entity root ``/<label>`` (the first 16
characters of its sample id, or the file stem)::

    <label>/world                        glTF world, +Y up (ViewCoordinates RIGHT_HAND_Y_UP)
    <label>/world/cameras/vVV            pose: Transform3D = inv(w2c[v])   (static)
    <label>/world/cameras/vVV/image      Pinhole from K[v] (static); rgb frames (JPEG)
    <label>/world/cameras/vVV/image/depth   depth frames (16-bit PNG), back-projected by the viewer
    <label>/world/cameras/vVV/image/alpha   alpha frames (PNG)
    <label>/source/clip                  pseudo-4D: the source clip
    <label>/source/clip/crop_vVV         pseudo-4D: view v's affine crop, drawn on the clip
    <label>/views/vVV                    pseudo-4D and plain grids: grid[v, t]
    <label>/grid/vVV                     generated grids: grid[v, t]
    <label>/grid/vVV/conditioning        an orange box on the frames that were given
    <label>/ground_truth/vVV             generated grids: the grid they were conditioned on
    <label>/catalog                      the catalog row and lineage (markdown + values)

Frames are logged on two timelines: ``t`` (the grid's time index) and
``animation_time`` (seconds: the animation time of a rendered grid, the clip
time of a video) when the sample knows it. Frames are JPEG-compressed and
depth is quantised to 16 bits, so an 8x8 grid at 288x512 stays a few MB.

Each sample also gets a default layout (a blueprint, saved in the recording):
the 3D cameras or the source clip beside a grid of per-view images and the
catalog text. All reading of sample files goes through :func:`read_sample_file`,
so the sample store can replace the npz format in one place. Opening the
recording (native viewer, web viewer) is ``fourreal.commands.view``'s job.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rerun as rr
import rerun.blueprint as rrb

from catalog.lineage import Lineage
from catalog.store import Catalog
from core import fs, sample_store
from core.io import atomic_path
from core.paths import data_root, relative_to_root, within_root

APP_ID = "fourreal"
TIME = "animation_time"  # duration timeline, seconds
INDEX = "t"  # sequence timeline, grid time index
# Quality 90 without chroma subsampling: 4:2:0 blurs the fine colour detail people inspect
# (about 31 dB on a textured 288x512 frame, 45 dB at 4:4:4, for ~45% more bytes).
JPEG_PARAMS = [
    cv2.IMWRITE_JPEG_QUALITY, 90,
    cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
]  # fmt: skip
DEPTH_LEVELS = 65535  # depth is stored as uint16: 0 = no depth, 65535 = the sample's max depth
COND_COLOUR = (255, 140, 0)  # the orange of conditioning frames on contact sheets
CROP_COLOURS = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60),
)  # fmt: skip
ALPHA_DRAW_ORDER = -30.0  # under rgb (-10 by default) and depth (-20): rgb shows first
MIN_PREFIX = 8  # shortest sample-id prefix accepted on the command line

FIND_SAMPLE = "SELECT * FROM samples WHERE sample_id = ?"
FIND_PREFIX = "SELECT * FROM samples WHERE starts_with(sample_id, ?) LIMIT 2"
FIND_BY_PATH = "SELECT * FROM samples WHERE path = ? ORDER BY created_at DESC LIMIT 1"
FIND_DATASET = (
    "SELECT * FROM datasets WHERE dataset_id = $ref OR name = $ref ORDER BY created_at DESC LIMIT 1"
)


# ------------------------------------------------------------------ sample files
def read_sample_file(
    path: str | os.PathLike, sample_id: str | None = None
) -> dict[str, np.ndarray]:
    """Every array of one sample file, through the sample store (any stored format).

    ``path`` is what the store takes (:mod:`core.fs`): root-relative
    (on a local or an S3 data root), or an absolute local path. The file is
    read in one request. Generated grids come back with their frames as
    ``rgb`` (this module's name for them; their export contract calls them ``grid``).
    """
    try:
        data = fs.read_bytes(path)
    except FileNotFoundError:
        raise ValueError(f"no file at {fs.describe(path)}") from None
    if not zipfile.is_zipfile(io.BytesIO(data)):  # else np.load takes any bytes for a pickle
        raise ValueError("not an npz file")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        stored = sample_store.MANIFEST in z.namelist()
    if not stored:  # an npz (legacy sample or export): its arrays as they are
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    sid = sample_id or Path(str(path)).name.removesuffix(sample_store.SUFFIX)
    with sample_store.Sample(str(path), sid, io.BytesIO(data), len(data)) as sample:
        arrays = sample.export()
        for name in sample.names():  # extras beyond the contract
            arrays.setdefault(name, sample.array(name))
        if sample.kind == sample_store.GENERATED:
            arrays["rgb"] = arrays.pop("grid")
    return arrays


def sample_kind(arrays: dict[str, np.ndarray]) -> str:
    """rendered | pseudo4d | generated | grid | clip, from the arrays a sample holds."""
    if {"K", "w2c", "rgb"} <= arrays.keys():
        return "rendered"
    if {"affine", "grid", "frames"} <= arrays.keys():
        return "pseudo4d"
    if {"known", "rgb"} <= arrays.keys():
        return "generated"
    if "rgb" in arrays or "grid" in arrays:
        return "grid"
    if "frames" in arrays:
        return "clip"
    raise ValueError(f"not a sample file: arrays {sorted(arrays)}")


# ------------------------------------------------------------------ targets
@dataclass
class Target:
    """One sample to log: its file, and its catalog row when the catalog knows it."""

    label: str  # entity root
    path: str | Path  # as the sample store takes it: root-relative (local or S3) or absolute
    row: dict | None = None


def resolve_targets(target: str, catalog: Catalog, limit: int = 4) -> list[Target]:
    """Sample id (or unique prefix), dataset name or id, or an npz file inside the data root.

    Raises ``ValueError`` with a one-line message when nothing matches.
    """
    if limit < 1:
        raise ValueError(f"limit: must be >= 1, got {limit}")
    if target.endswith((".npz", sample_store.SUFFIX)) or os.sep in target or Path(target).is_file():
        path = _file_target(target)
        rows = catalog.rows(FIND_BY_PATH, [relative_to_root(path)])
        if rows:
            return [Target(rows[0]["sample_id"][:16], path, rows[0])]
        stem = Path(str(path)).stem
        return [Target(re.sub(r"[^A-Za-z0-9_.-]", "_", stem), path)]  # a valid entity name
    if row := _find_sample(catalog, target):
        return [_sample_target(row)]
    if ds := catalog.rows(FIND_DATASET, {"ref": target}):
        return [_dataset_sample(catalog, ds[0], sid) for sid in list(ds[0]["sample_ids"])[:limit]]
    raise ValueError(f"no sample, dataset or npz file named {target!r}")


def _file_target(target: str) -> str | Path:
    """The sample file a path names: a local file inside the data root, or (on an S3 data
    root) an object under it, given root-relative; ``ValueError`` when there is none."""
    p = Path(target).expanduser()
    if not fs.home().is_local and not p.is_absolute() and not p.exists():
        path = _row_path(target)
        if isinstance(path, str) and not fs.exists(path):
            raise ValueError(f"no sample file at {fs.describe(path)!r}")
        return path
    path = within_root(_local_path(target))
    if not path.is_file():
        raise ValueError(f"no sample file at {str(path)!r}")
    return path


def _local_path(target: str) -> Path:
    """A relative path is relative to the working directory when it exists there, else to the root."""
    p = Path(target).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    return data_root() / p


def _find_sample(catalog: Catalog, ident: str) -> dict | None:
    if rows := catalog.rows(FIND_SAMPLE, [ident]):
        return rows[0]
    if len(ident) < MIN_PREFIX:
        return None
    rows = catalog.rows(FIND_PREFIX, [ident])
    if len(rows) > 1:
        raise ValueError(f"sample id prefix {ident!r} is ambiguous: give more characters")
    return rows[0] if rows else None


def _dataset_sample(catalog: Catalog, ds: dict, sample_id: str) -> Target:
    rows = catalog.rows(FIND_SAMPLE, [sample_id])
    if not rows:
        raise ValueError(f"dataset {ds['name']!r} lists sample {sample_id}, unknown to the catalog")
    return _sample_target(rows[0])


def _sample_target(row: dict) -> Target:
    sid = row["sample_id"]
    if row["status"] != "ok" or not row["path"]:
        raise ValueError(f"sample {sid} has status {row['status']!r}: {row['error'] or 'no file'}")
    path = _row_path(row["path"])
    if not fs.exists(path):
        raise ValueError(f"sample {sid}: its file {fs.describe(path)!r} is missing")
    return Target(sid[:16], path, row)


def _row_path(path: str) -> str | Path:
    """Where the sample store finds a catalog ``path``: on an S3 data root a relative path
    is an object under it, unless only the local data root holds it (generated grids are
    written on the local disk); local paths must stay inside the local data root."""
    if not fs.home().is_local and not os.path.isabs(path):
        local = data_root() / path
        if not fs.exists(path) and local.is_file():
            return within_root(local)
        return path
    return within_root(path)


# ------------------------------------------------------------------ encoding
def _jpeg(rgb: np.ndarray) -> rr.EncodedImage:
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], JPEG_PARAMS)
    assert ok
    return rr.EncodedImage(contents=buf.tobytes(), media_type="image/jpeg")


def _png(image: np.ndarray, **kwargs) -> rr.EncodedImage:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return rr.EncodedImage(contents=buf.tobytes(), media_type="image/png", **kwargs)


def depth_scale(depth: np.ndarray) -> float:
    """Depth units per scene unit so that the largest depth uses the whole uint16 range."""
    top = float(depth.max()) if depth.size else 0.0
    return DEPTH_LEVELS / top if top > 0 else 1.0


def _depth_png(depth: np.ndarray, scale: float) -> rr.EncodedDepthImage:
    """16-bit PNG depth; ``meter`` tells the viewer how many units make one scene unit."""
    q = np.clip(np.rint(depth * scale), 0, DEPTH_LEVELS).astype(np.uint16)
    ok, buf = cv2.imencode(".png", q)
    assert ok
    return rr.EncodedDepthImage(blob=buf.tobytes(), media_type="image/png", meter=scale)


def _set_time(rec: rr.RecordingStream, t: int, seconds: np.ndarray | None) -> None:
    rec.set_time(INDEX, sequence=t)
    if seconds is not None:
        rec.set_time(TIME, duration=float(seconds[t]))


def _times(arrays: dict, row: dict | None) -> np.ndarray | None:
    """Seconds of each grid time index, when the sample says so."""
    if "times" in arrays:
        return np.asarray(arrays["times"], np.float64)
    params = json.loads(row["params_json"]) if row and row.get("params_json") else {}
    fps = (params.get("derived") or {}).get("clip_fps")  # video samples record their clip rate
    if fps is None and "fps" in arrays:
        fps = float(arrays["fps"])
    if fps and "frame_indices" in arrays:
        return np.asarray(arrays["frame_indices"], np.float64) / float(fps)
    return None


# ------------------------------------------------------------------ per kind
def log_rendered(rec: rr.RecordingStream, root: str, a: dict, times: np.ndarray | None) -> None:
    """Cameras around the object in the glTF world; rgb, depth and alpha per camera and time."""
    rgb, K, w2c = a["rgb"], a["K"], a["w2c"]
    V, T, H, W = rgb.shape[:4]
    scale = depth_scale(a["depth"]) if "depth" in a else 1.0
    rec.log(f"{root}/world", rr.ViewCoordinates.RIGHT_HAND_Y_UP, static=True)
    for v in range(V):
        cam = f"{root}/world/cameras/v{v:02d}"
        c2w = np.linalg.inv(w2c[v])  # the camera's pose in the world
        rec.log(cam, rr.Transform3D(translation=c2w[:3, 3], mat3x3=c2w[:3, :3]), static=True)
        pinhole = rr.Pinhole(
            image_from_camera=K[v],
            resolution=[W, H],
            camera_xyz=rr.ViewCoordinates.RDF,
            image_plane_distance=_frustum_depth(a.get("depth"), v),
        )
        rec.log(f"{cam}/image", pinhole, static=True)
        for t in range(T):
            _set_time(rec, t, times)
            rec.log(f"{cam}/image", _jpeg(rgb[v, t]))
            if "depth" in a:
                rec.log(f"{cam}/image/depth", _depth_png(a["depth"][v, t], scale))
            if "alpha" in a:
                rec.log(f"{cam}/image/alpha", _png(a["alpha"][v, t], draw_order=ALPHA_DRAW_ORDER))


def _frustum_depth(depth: np.ndarray | None, v: int) -> float | None:
    """Draw frustums a third of the way to the object (Rerun's default ignores scene scale)."""
    if depth is None or not (depth[v] > 0).any():
        return None
    return float(np.median(depth[v][depth[v] > 0])) / 3


def crop_outline(affine: np.ndarray, height: int, width: int) -> np.ndarray:
    """(5, 2) closed outline, in Rerun image coordinates, of the source region a view samples.

    ``affine`` maps output pixel centres (integers) to source pixel centres;
    Rerun puts pixel centres at +0.5, and the output image spans
    [-0.5, W - 0.5] x [-0.5, H - 0.5] in centre coordinates.
    """
    x0, y0, x1, y1 = -0.5, -0.5, width - 0.5, height - 0.5
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1], [x0, y0, 1]])
    return corners @ np.asarray(affine, np.float64).T + 0.5


def log_pseudo4d(rec: rr.RecordingStream, root: str, a: dict, times: np.ndarray | None) -> None:
    """The source clip with each view's affine crop drawn on it, and the warped frames."""
    grid, frames, affine = a["grid"], a["frames"], a["affine"]
    V, T, H, W = grid.shape[:4]
    for v in range(V):
        rec.log(
            f"{root}/source/clip/crop_v{v:02d}",
            rr.LineStrips2D(
                [crop_outline(affine[v], H, W)],
                colors=[CROP_COLOURS[v % len(CROP_COLOURS)]],
                labels=[f"v{v:02d}"],
                radii=rr.Radius.ui_points(1.5),
            ),
            static=True,
        )
    for t in range(T):
        _set_time(rec, t, times)
        rec.log(f"{root}/source/clip", _jpeg(frames[t]))
        for v in range(V):
            rec.log(f"{root}/views/v{v:02d}", _jpeg(grid[v, t]))


def log_grid(rec: rr.RecordingStream, root: str, rgb: np.ndarray, times, entity="views") -> None:
    """grid[v, t] as one image stream per view."""
    V, T = rgb.shape[:2]
    for t in range(T):
        _set_time(rec, t, times)
        for v in range(V):
            rec.log(f"{root}/{entity}/v{v:02d}", _jpeg(rgb[v, t]))


def log_generated(rec: rr.RecordingStream, root: str, a: dict, times: np.ndarray | None) -> None:
    """Generated frames, with an orange box on the conditioning frames (``known``)."""
    rgb, known = a["rgb"], a["known"].astype(bool)
    V, T, H, W = rgb.shape[:4]
    log_grid(rec, root, rgb, times, entity="grid")
    box = rr.Boxes2D(
        array=[0, 0, W, H],
        array_format=rr.Box2DFormat.XYWH,
        colors=[COND_COLOUR],
        labels=["conditioning"],
        radii=rr.Radius.ui_points(2.0),
    )
    for t in range(T):
        _set_time(rec, t, times)
        for v in range(V):
            entity = f"{root}/grid/v{v:02d}/conditioning"
            rec.log(entity, box if known[v, t] else rr.Clear(recursive=False))


def log_clip(rec: rr.RecordingStream, root: str, a: dict, times: np.ndarray | None) -> None:
    for t, frame in enumerate(a["frames"]):
        _set_time(rec, t, times)
        rec.log(f"{root}/clip", _jpeg(frame))


# ------------------------------------------------------------------ catalog text
def catalog_markdown(row: dict | None, lineage_lines: list[str]) -> str:
    if row is None:
        return "Not in the catalog: an exported sample file."
    lines = ["| field | value |", "|---|---|"]
    for key, value in row.items():
        if key != "params_json" and value is not None:
            lines.append(f"| {key} | `{value}` |")
    if row.get("params_json"):
        params = json.dumps(json.loads(row["params_json"]), indent=2, sort_keys=True)
        lines += ["", "Parameters:", "```json", params, "```"]
    if lineage_lines:
        lines += ["", "Lineage:", "```", *lineage_lines, "```"]
    return "\n".join(lines)


def lineage_lines(catalog: Catalog, sample_id: str) -> list[str]:
    """The sample's lineage tree (source, runs) as indented lines."""
    node = Lineage(catalog).build(sample_id)
    out: list[str] = []

    def walk(n, depth: int) -> None:
        out.append(f"{'  ' * depth}{n.kind} {n.id[:16]}  {n.label}")
        for child in n.children:
            walk(child, depth + 1)

    walk(node, 0)
    return out


def log_catalog(rec: rr.RecordingStream, root: str, target: Target, catalog: Catalog) -> None:
    row = target.row
    lines = lineage_lines(catalog, row["sample_id"]) if row else []
    text = catalog_markdown(row, lines)
    rec.log(f"{root}/catalog", rr.TextDocument(text, media_type=rr.MediaType.MARKDOWN), static=True)
    if row:
        values = {k: str(v) for k, v in row.items() if v is not None and k != "params_json"}
        rec.log(f"{root}/catalog", rr.AnyValues(**values), static=True)


def ground_truth(catalog: Catalog, row: dict | None) -> Target | None:
    """The grid a generated sample was conditioned on, when the catalog knows it."""
    if not row or not row.get("params_json"):
        return None
    source = (json.loads(row["params_json"]).get("inputs") or {}).get("sample_id")
    rows = catalog.rows(FIND_SAMPLE, [source]) if source else []
    if not rows or rows[0]["status"] != "ok":
        return None
    try:
        return _sample_target(rows[0])
    except ValueError:
        return None


# ------------------------------------------------------------------ recording
LOGGERS: dict[str, Callable] = {
    "rendered": log_rendered,
    "pseudo4d": log_pseudo4d,
    "generated": log_generated,
    "grid": lambda rec, root, a, times: log_grid(rec, root, a.get("rgb", a.get("grid")), times),
    "clip": log_clip,
}


def log_target(rec: rr.RecordingStream, target: Target, catalog: Catalog) -> Logged:
    """Log one sample under ``/<label>``; ``ValueError`` naming the file if it is unreadable."""
    try:
        arrays = read_sample_file(target.path, target.row["sample_id"] if target.row else None)
        kind = sample_kind(arrays)
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise ValueError(f"{target.path}: {e}") from None
    root = f"/{target.label}"
    times = _times(arrays, target.row)
    LOGGERS[kind](rec, root, arrays, times)
    gt = ground_truth(catalog, target.row) if kind == "generated" else None
    if gt is not None:
        gt_arrays = read_sample_file(gt.path, gt.row["sample_id"])
        gt_rgb = gt_arrays.get("rgb", gt_arrays.get("grid"))
        log_grid(rec, root, gt_rgb, _times(gt_arrays, gt.row), entity="ground_truth")
    log_catalog(rec, root, target, catalog)
    views = len(arrays.get("rgb", arrays.get("grid", [])))
    pane = layout(kind, root, views, gt is not None, name=f"{target.label} ({kind})")
    return Logged(kind, pane, times is not None)


@dataclass
class Logged:
    kind: str
    pane: rrb.Container  # how the viewer lays the sample out
    timed: bool  # frames are on the animation_time timeline


def layout(kind: str, root: str, views: int, truth: bool, name: str) -> rrb.Container:
    """A sample's default layout: 3D cameras or the source clip, per-view images, its text."""

    def images(entity: str, title: str, suffix: str = "") -> rrb.Grid:
        return rrb.Grid(
            *(
                rrb.Spatial2DView(
                    origin=f"{root}/{entity}/v{v:02d}{suffix}", name=f"{title} v{v:02d}"
                )
                for v in range(views)
            ),
            name=title,
        )

    text = rrb.TextDocumentView(origin=f"{root}/catalog", name="catalog")
    panes = {
        "rendered": [
            rrb.Spatial3DView(origin=f"{root}/world", name="cameras"),
            images("world/cameras", "camera", "/image"),
        ],
        "pseudo4d": [
            rrb.Spatial2DView(origin=f"{root}/source", name="source clip"),
            images("views", "view"),
        ],
        "generated": [images("grid", "generated")]
        + ([images("ground_truth", "ground truth")] if truth else []),
        "grid": [images("views", "view")],
        "clip": [rrb.Spatial2DView(origin=f"{root}/clip", name="clip")],
    }[kind]
    return rrb.Horizontal(panes[0], rrb.Vertical(*panes[1:], text), name=name)


def record(targets: list[Target], catalog: Catalog, path: str | os.PathLike) -> list[str]:
    """Write the recording of ``targets`` to the .rrd file ``path`` (atomically); their kinds."""
    with atomic_path(path, suffix=".rrd") as tmp:
        rec = rr.RecordingStream(APP_ID, recording_id=_recording_id(targets))
        rec.save(tmp)
        try:
            rec.send_recording_name(", ".join(t.label for t in targets))
            logged = [log_target(rec, t, catalog) for t in targets]
            timeline = TIME if all(x.timed for x in logged) else INDEX
            panel = rrb.TimePanel(timeline=timeline, state="expanded")
            rec.send_blueprint(rrb.Blueprint(rrb.Tabs(*(x.pane for x in logged)), panel))
        finally:
            rec.flush()
            rec.disconnect()
    return [x.kind for x in logged]


def _recording_id(targets: list[Target]) -> str:
    """Deterministic: viewing the same samples again replaces the recording in the viewer."""
    return hashlib.sha256("|".join(str(t.path) for t in targets).encode()).hexdigest()[:32]
