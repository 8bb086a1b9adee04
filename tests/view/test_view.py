"""``fourreal view``: recordings written by the CLI, read back with Rerun's own tools."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import pytest
import rerun as rr
from rerun.chunk import RrdReader
from typer.testing import CliRunner

from core.paths import REPO_ROOT, data_root
from fourreal import viewer
from fourreal.cli import app
from fourreal.commands.view import free_port, port_open
from tests.view.rrd import components, decode, mat3, psnr, read_rrd, rerun_cli

runner = CliRunner()


def save(target: str, tmp_path: Path, *extra: str) -> dict[str, list[dict]]:
    """``fourreal view TARGET --save`` then ``rerun rrd verify``; the rows read back."""
    out = tmp_path / "view.rrd"
    res = runner.invoke(app, ["view", target, "--save", str(out), *extra])
    assert res.exit_code == 0, res.output
    verify = rerun_cli("rrd", "verify", str(out), home=tmp_path / "rerun")
    assert verify.returncode == 0, verify.stderr
    assert "Welcome to Rerun" not in verify.stdout + verify.stderr  # analytics off, no banner
    assert len(RrdReader(out).blueprints()) == 1  # the default layout travels with the data
    return read_rrd(out)


def frame_times(rows: list[dict], component: str) -> set[tuple[int, int]]:
    """(t, animation_time in ns) of every row holding ``component``."""
    return {(r["t"], r["animation_time"]) for r in components(rows, component)}


def expected_times(seconds: np.ndarray) -> set[tuple[int, int]]:
    return {(t, round(float(s) * 1e9)) for t, s in enumerate(seconds)}


def pinhole_owner(rows: dict[str, list[dict]], entity: str) -> str:
    """The nearest entity at or above ``entity`` holding a Pinhole: the camera it belongs to."""
    path = entity
    while path:
        if components(rows.get(path, []), "Pinhole:image_from_camera"):
            return path
        path = path.rsplit("/", 1)[0]
    raise AssertionError(f"{entity} is under no pinhole camera")


def test_rendered_grid_cameras_frames_and_depth(rendered_sample, tmp_path):
    a = viewer.read_sample_file(rendered_sample["path"])
    rgb, K, w2c, times, depth = a["rgb"], a["K"], a["w2c"], a["times"], a["depth"]
    V, T = rgb.shape[:2]
    sid = rendered_sample["sample_id"]
    rows = save(sid, tmp_path)
    root = f"/{sid[:16]}"
    cams = {f"{root}/world/cameras/v{v:02d}": v for v in range(V)}

    # +Y up glTF world
    (coords,) = components(rows[f"{root}/world"], "ViewCoordinates:xyz")
    right, up, back = (
        rr.components.ViewCoordinates.ViewDir[d].value for d in ("Right", "Up", "Back")
    )
    assert coords["ViewCoordinates:xyz"] == [[right, up, back]]
    # one pinhole and one pose per view, nowhere else
    with_pinhole = {e for e, r in rows.items() if components(r, "Pinhole:image_from_camera")}
    with_pose = {e for e, r in rows.items() if components(r, "Transform3D:mat3x3")}
    assert with_pinhole == {f"{c}/image" for c in cams}
    assert with_pose == set(cams)
    for cam, v in cams.items():
        (pin,) = components(rows[f"{cam}/image"], "Pinhole:image_from_camera")
        assert pin["static"]
        np.testing.assert_allclose(mat3(pin["Pinhole:image_from_camera"][0]), K[v], rtol=1e-6)
        (pose,) = components(rows[cam], "Transform3D:mat3x3")
        c2w = np.eye(4)
        c2w[:3, :3] = mat3(pose["Transform3D:mat3x3"][0])
        c2w[:3, 3] = pose["Transform3D:translation"][0]
        np.testing.assert_allclose(c2w, np.linalg.inv(w2c[v]), atol=1e-5)
        # every (view, time) frame at the stored animation time, the right pixels
        image_rows = rows[f"{cam}/image"]
        assert frame_times(image_rows, "EncodedImage:blob") == expected_times(times)
        for r in components(image_rows, "EncodedImage:blob"):
            assert psnr(decode(r["EncodedImage:blob"][0]), rgb[v, r["t"]]) > 30
        # depth under this camera's pinhole, this view's depth at every time
        depth_entity = f"{cam}/image/depth"
        assert pinhole_owner(rows, depth_entity) == f"{cam}/image"
        depth_rows = components(rows[depth_entity], "EncodedDepthImage:blob")
        assert frame_times(depth_rows, "EncodedDepthImage:blob") == expected_times(times)
        for r in depth_rows:
            meter = r["EncodedDepthImage:meter"][0]
            back = decode(r["EncodedDepthImage:blob"][0]).astype(np.float64) / meter
            step = 1.0 / meter  # one quantisation level
            np.testing.assert_allclose(back, depth[v, r["t"]], atol=step)
        alpha_rows = components(rows[f"{cam}/image/alpha"], "EncodedImage:blob")
        assert frame_times(alpha_rows, "EncodedImage:blob") == expected_times(times)
        for r in alpha_rows:
            np.testing.assert_array_equal(decode(r["EncodedImage:blob"][0]), a["alpha"][v, r["t"]])


def test_relative_path_from_the_working_directory(rendered_sample, tmp_path, monkeypatch):
    """``data/.../x.npz`` typed in the repo means that file; its catalog row is found by path."""
    path = rendered_sample["path"]
    monkeypatch.chdir(data_root().parent)
    rows = save(str(path.relative_to(data_root().parent)), tmp_path)
    assert f"/{rendered_sample['sample_id'][:16]}/world/cameras/v00" in rows


def test_exported_file_outside_the_catalog(rendered_sample, tmp_path):
    """An exported npz (no catalog row) is logged under its file name, made a valid entity."""
    import shutil

    copy = data_root() / "view_exports" / "my grid (1).npz"
    copy.parent.mkdir(exist_ok=True)
    shutil.copyfile(rendered_sample["path"], copy)
    rows = save(str(copy), tmp_path)
    assert components(rows["/my_grid__1_/world/cameras/v00/image"], "Pinhole:image_from_camera")
    (doc,) = components(rows["/my_grid__1_/catalog"], "TextDocument:text")
    assert doc["TextDocument:text"][0].startswith("Not in the catalog")


def test_catalog_row_and_lineage_as_text(rendered_sample, tmp_path):
    sid, row = rendered_sample["sample_id"], rendered_sample["row"]
    rows = save(sid[:12], tmp_path)  # a unique prefix is enough
    (doc,) = components(rows[f"/{sid[:16]}/catalog"], "TextDocument:text")
    text = doc["TextDocument:text"][0]
    for needle in (
        sid,
        row["source_id"][:16],
        row["run_id"][:16],
        "render_gltf",
        "build_objaverse",
    ):
        assert needle in text, needle


def test_pseudo4d_clip_crops_and_warped_views(pseudo4d_sample, tmp_path):
    a = viewer.read_sample_file(pseudo4d_sample["path"])
    grid, frames, affine = a["grid"], a["frames"], a["affine"]
    V, T, H, W = grid.shape[:4]
    sid = pseudo4d_sample["sample_id"]
    fps = json.loads(pseudo4d_sample["row"]["params_json"])["derived"]["clip_fps"]
    seconds = a["frame_indices"] / fps  # clip time of each grid time
    rows = save(str(pseudo4d_sample["path"]), tmp_path)  # by file: the row is found by path
    root = f"/{sid[:16]}"
    clip = components(rows[f"{root}/source/clip"], "EncodedImage:blob")
    assert frame_times(clip, "EncodedImage:blob") == expected_times(seconds)
    for r in clip:
        assert psnr(decode(r["EncodedImage:blob"][0]), frames[r["t"]]) > 30
    for v in range(V):
        (crop,) = components(rows[f"{root}/source/clip/crop_v{v:02d}"], "LineStrips2D:strips")
        outline = np.asarray(crop["LineStrips2D:strips"][0])
        # corners of the output image (centres at integers) through A_v, shifted to Rerun's
        # pixel-corner origin: the top-left corner lands where A_v sends (-0.5, -0.5)
        top_left = affine[v] @ np.array([-0.5, -0.5, 1.0]) + 0.5
        bottom_right = affine[v] @ np.array([W - 0.5, H - 0.5, 1.0]) + 0.5
        np.testing.assert_allclose(outline[0], top_left, atol=1e-4)
        np.testing.assert_allclose(outline[2], bottom_right, atol=1e-4)
        np.testing.assert_allclose(outline[-1], outline[0])
        views = components(rows[f"{root}/views/v{v:02d}"], "EncodedImage:blob")
        assert frame_times(views, "EncodedImage:blob") == expected_times(seconds)
        for r in views:
            assert psnr(decode(r["EncodedImage:blob"][0]), grid[v, r["t"]]) > 30


def test_generated_grid_conditioning_and_ground_truth(generated_sample, tmp_path):
    a = viewer.read_sample_file(generated_sample["path"])
    rgb, known, times = a["rgb"], a["known"], a["times"]
    V, T = rgb.shape[:2]
    sid = generated_sample["sample_id"]
    rows = save(sid, tmp_path)
    root = f"/{sid[:16]}"
    for v in range(V):
        frames = components(rows[f"{root}/grid/v{v:02d}"], "EncodedImage:blob")
        assert frame_times(frames, "EncodedImage:blob") == expected_times(times)
        for r in frames:
            assert psnr(decode(r["EncodedImage:blob"][0]), rgb[v, r["t"]]) > 30
        # an orange "conditioning" box exactly on the given frames; cleared on generated ones
        marks = rows[f"{root}/grid/v{v:02d}/conditioning"]
        boxed = {r["t"] for r in components(marks, "Boxes2D:half_sizes")}
        assert boxed == {t for t in range(T) if known[v, t]}
        cleared = {r["t"] for r in components(marks, "Clear:is_recursive")}
        assert cleared == {t for t in range(T) if not known[v, t]}
        truth = components(rows[f"{root}/ground_truth/v{v:02d}"], "EncodedImage:blob")
        assert frame_times(truth, "EncodedImage:blob") == expected_times(times)
        for r in truth:
            assert psnr(decode(r["EncodedImage:blob"][0]), generated_sample["gt"][v, r["t"]]) > 30
    (doc,) = components(rows[f"{root}/catalog"], "TextDocument:text")
    assert generated_sample["ground_truth"] in doc["TextDocument:text"][0]


def test_dataset_target_logs_its_first_samples(
    view_catalog, rendered_sample, pseudo4d_sample, tmp_path
):
    from catalog.datasets import create_dataset

    ids = rendered_sample["sample_id"], pseudo4d_sample["sample_id"]  # hex: safe in the predicate
    ds = create_dataset(view_catalog, "view-both", f"sample_id IN ('{ids[0]}', '{ids[1]}')")
    assert sorted(ds["sample_ids"]) == sorted(ids)
    rows = save("view-both", tmp_path, "--limit", "1")
    first = sorted(ds["sample_ids"])[0]
    roots = {e.split("/")[1] for e in rows if e.count("/") >= 2 and not e.startswith("/__")}
    assert roots == {first[:16]}


@pytest.mark.parametrize(
    "target, message",
    [
        ("0123456789abcdef0123", "no sample, dataset or npz file named '0123456789abcdef0123'"),
        ("/etc/hostname", "is outside the data root"),
        ("../outside.npz", "is outside the data root"),
        ("missing/grid.npz", "no sample file at"),
    ],
)
def test_bad_targets_are_one_line_errors(target, message, tmp_path):
    out = tmp_path / "never.rrd"
    res = runner.invoke(app, ["view", target, "--save", str(out)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "content, message",
    [(b"not a zip", "not an npz file"), (None, "not a sample file: arrays ['weights']")],
)
def test_unreadable_sample_file_is_one_line_and_writes_nothing(content, message, tmp_path):
    from core.io import save_npz_atomic

    bad = data_root() / "view_bad" / f"{tmp_path.name}.npz"
    bad.parent.mkdir(exist_ok=True)
    if content is None:
        save_npz_atomic(bad, weights=np.zeros(3))
    else:
        bad.write_bytes(content)
    out = tmp_path / "never.rrd"
    res = runner.invoke(app, ["view", str(bad), "--save", str(out)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and message in lines[0], res.stderr
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))


def test_port_only_with_web(rendered_sample):
    res = runner.invoke(app, ["view", rendered_sample["sample_id"], "--port", "9999"])
    assert res.exit_code == 2 and res.stderr == "error: --port: only with --web\n"


def test_unknown_sample_from_the_shell(tmp_path):
    """The real process: exit status 2 and one line on stderr, no traceback."""
    res = subprocess.run(
        [sys.executable, "-m", "fourreal.cli", "view", "f" * 64, "--save", str(tmp_path / "x.rrd")],
        capture_output=True, text=True, cwd=REPO_ROOT, env=_cli_env(),
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"error: no sample, dataset or npz file named {'f' * 64!r}"
    ]


def test_no_display_needs_web_or_save(rendered_sample, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    res = runner.invoke(app, ["view", rendered_sample["sample_id"]])
    assert res.exit_code == 2


def test_native_viewer_failure_is_one_line(rendered_sample, monkeypatch):
    """The native path up to the window: an X display that does not exist is a clear error."""
    monkeypatch.setenv("DISPLAY", ":987")  # no X server there
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    res = runner.invoke(app, ["view", rendered_sample["sample_id"]])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the viewer stopped (exit "), res.stderr
    assert "X server" in lines[0]


def test_web_viewer_on_loopback_stopped_by_pid(rendered_sample):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fourreal.cli", "view", rendered_sample["sample_id"], "--web",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=_cli_env(),
    )  # fmt: skip
    try:
        line = proc.stdout.readline()  # printed once the server answers
        assert line.startswith("web viewer: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split(": ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200
            assert b"<html" in resp.read().lower()
        grpc_port = int(url.rsplit("%3A", 1)[1].split("%2F")[0])
        listening = {
            (c.laddr.ip, c.laddr.port)
            for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port in (port, grpc_port)
        }
        assert listening == {("127.0.0.1", port), ("127.0.0.1", grpc_port)}  # loopback only
    finally:
        children = psutil.Process(proc.pid).children(recursive=True)
        servers = [p for p in children if p.name() == "rerun"]  # not the CLI's reaper
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        _, left = psutil.wait_procs(servers, timeout=0)
        for p in left:  # never leave a server behind, even when the test fails
            p.kill()
    assert proc.returncode == 0
    assert servers and not left, "stopping fourreal view left its rerun server running"
    assert not port_open(port)


def _cli_env() -> dict[str, str]:
    env = dict(os.environ, FOURREAL_HOME=str(data_root()))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def test_full_size_recordings_stay_small(tmp_path, capsys):
    """8x8 grids at 288x512, rendered and pseudo-4D: each recording under the 20 MB budget."""
    from core.io import save_npz_atomic
    from renderers.job import RenderSpec, render_job
    from renderers.render import GridRenderer
    from synthetic.objects import write_demo_objects
    from synthetic.videos import write_video
    from tasks.videos.build import grid_from_video

    folder = data_root() / "view_full"
    (glb,) = write_demo_objects(folder / "objects", count=1, seed=11)
    spec = RenderSpec(views=8, times=8, height=288, width=512)
    renderer = GridRenderer()
    try:
        res = render_job(
            {"path": str(glb), "out": str(folder / "rendered.npz"), "spec": spec.params()}, renderer
        )
    finally:
        renderer.close()
    assert res["status"] == "ok", res["error"]
    video = write_video(folder / "clip.mp4", 24, 288, 512, seed=2)
    save_npz_atomic(folder / "pseudo4d.npz", **grid_from_video(video, 8, 8, 288, 512, seed=1))
    for name in ("rendered", "pseudo4d"):
        out = tmp_path / f"{name}.rrd"
        res = runner.invoke(app, ["view", str(folder / f"{name}.npz"), "--save", str(out)])
        assert res.exit_code == 0, res.output
        size = out.stat().st_size
        with capsys.disabled():
            print(f"\n8x8 at 288x512 {name}: recording {size / 1e6:.2f} MB")
        assert size < 20e6


def test_generate_artifact_has_a_working_view_line(generated_sample, tmp_path):
    """The generate flow's markdown names, per sample, the command that opens it."""
    import re

    from flows.generate import _generate_markdown

    sid = generated_sample["sample_id"]
    result = {
        "sample_ids": [sid], "grid": "grid.npz", "grid_high": None, "mosaic": "m.mp4",
        "views": ["views/view_00.mp4"], "contact_sheet": "sheet.png", "warnings": [],
    }  # fmt: skip
    lineage = {"shape": [4, 4, 16, 32], "checkpoint_id": "c", "steps": 2, "seed": 0,
               "guidance_scale": 1.0, "shift": 1.0, "weights": "ema"}  # fmt: skip
    commands = re.findall(r"view: `fourreal (view \S+)`", _generate_markdown(result, lineage))
    assert commands == [f"view {sid}"]
    rows = save(commands[0].split()[1], tmp_path)
    assert f"/{sid[:16]}/grid/v00" in rows
