"""Generation: work functions, the ``generate`` and ``evaluate`` flows, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from catalog.checkpoints import checkpoint_file, get_checkpoint
from core.sample_store import open_sample
from core.video import count_frames, write_mp4
from tasks.checkpoint_loading import load_sync_checkpoint, load_upsampler_checkpoint
from tasks.generation.pipeline import (
    contact_sheet,
    enlarge,
    fit_frames,
    mosaic_frames,
    read_video,
)
from tasks.grid_sampling import GenerationInputs, read_grid_npz, sample_grid
from tests.generation.conftest import H, T, V, W, plane_grid


# ------------------------------------------------------------------ work functions
def test_fit_frames_subsamples_resizes_and_refuses_short():
    frames = np.stack([np.full((32, 80, 3), i, np.uint8) for i in range(10)])
    out, warnings = fit_frames(frames, 4, H, W, "fixed_view_video")
    assert out.shape == (4, H, W, 3)
    assert [int(f[0, 0, 0]) for f in out] == [0, 3, 6, 9]  # evenly spaced, first and last kept
    assert any("evenly spaced" in w for w in warnings) and any("resized" in w for w in warnings)
    same, none = fit_frames(out, 4, H, W, "x")
    assert none == [] and np.array_equal(same, out)
    with pytest.raises(ValueError, match="freeze_time_video: has 3 frames, 4 are needed"):
        fit_frames(frames[:3], 4, H, W, "freeze_time_video")


def test_mp4_round_trip_and_pictures(tmp_path):
    grid = plane_grid(V, T, H, W)
    video = enlarge(grid[1], 128)  # 4:2:0 chroma needs more than 16x32 pixels
    path = write_mp4(tmp_path / "v.mp4", video, fps=8)
    decoded = read_video(path)
    assert decoded.shape == video.shape and count_frames(path) == T
    err = np.abs(decoded.astype(int) - video.astype(int)).mean()
    other = np.abs(decoded.astype(int) - enlarge(grid[2], 128).astype(int)).mean()
    assert err < 6 and err < other / 3  # lossy, but the same video
    mosaic = mosaic_frames(grid)
    assert mosaic.shape[0] == T and mosaic.shape[2] >= 512
    sheet = contact_sheet(grid)
    assert sheet.dtype == np.uint8 and sheet.shape[0] > V * H and sheet.shape[1] > T * W
    with pytest.raises(ValueError, match="no decodable|cannot be decoded|no video"):
        (tmp_path / "bad.mp4").write_bytes(b"not a video")
        read_video(tmp_path / "bad.mp4")


def test_conditioning_video_is_read_as_displayed(tmp_path):
    """Generation reads its videos with the builds' reader: a phone video's rotation is honoured."""
    from core import video
    from core.video import VideoError, decode_frames, probe_video
    from synthetic.videos import write_video

    path = write_video(tmp_path / "rotated.mp4", 6, 48, 64, rotation=90)
    frames = read_video(path)
    assert frames.shape == (6, 64, 48, 3)  # displayed size, not the coded 48x64
    meta = probe_video(path)
    assert np.array_equal(frames, decode_frames(path, range(meta.frames), meta))
    with pytest.raises(VideoError, match="too long to decode"):
        video.read_video(path, max_bytes=10)  # all frames at once, under a memory cap


def test_conditioning_frames_kept_exactly(home_catalog, checkpoints, gt_grids):
    model, cfg, row = load_sync_checkpoint(home_catalog, checkpoints["soft"])
    gt = gt_grids[0]
    inputs = GenerationInputs(gt[0, :].copy(), gt[:, 0].copy(), np.arange(T), {})
    a = sample_grid(model, inputs, steps=3, seed=0)
    assert a.shape == (V, T, H, W, 3) and a.dtype == np.uint8
    assert np.array_equal(a[0, :], gt[0, :]) and np.array_equal(a[:, 0], gt[:, 0])
    assert not np.array_equal(a[1:, 1:], gt[1:, 1:])  # the rest was generated
    assert np.array_equal(a, sample_grid(model, inputs, steps=3, seed=0))  # seeded


def test_wrong_stage_and_resolution_are_refused(home_catalog, checkpoints):
    with pytest.raises(ValueError, match="is a 'base' checkpoint, a 'sync' one is needed"):
        load_sync_checkpoint(home_catalog, checkpoints["base"])
    with pytest.raises(ValueError, match="a 'upsampler' one|an? 'upsampler'"):
        load_upsampler_checkpoint(home_catalog, checkpoints["soft"], H, W)
    with pytest.raises(
        ValueError, match=f"upsampler: .* takes {2 * H}x{2 * W} frames, the grid is {H}x{W}"
    ):
        load_upsampler_checkpoint(home_catalog, checkpoints["up_mismatch"], H, W)
    up, cfg, _ = load_upsampler_checkpoint(home_catalog, checkpoints["up_match"], H, W)
    assert cfg.height == 4 * H


# ------------------------------------------------------------------ flows
def test_generate_flow_from_sample(prefect_harness, home_catalog, checkpoints, heldout, gt_grids):
    from flows.generate import GenerateParams, generate

    sid = heldout["sample_ids"][0]
    out = generate(GenerateParams(checkpoint=checkpoints["soft"], sample_id=sid, steps=3))
    rgb, times = read_grid_npz(out["grid"])
    gt = gt_grids[0]
    assert rgb.shape == (V, T, H, W, 3) and np.isfinite(times).all()
    assert np.array_equal(rgb[0, :], gt[0, :]) and np.array_equal(rgb[:, 0], gt[:, 0])
    with open_sample(out["grid"]) as sample:
        assert sample.array("known").sum() == V + T - 1
    assert count_frames(out["mosaic"]) == T
    assert len(out["views"]) == V and all(count_frames(p) == T for p in out["views"])
    assert Image.open(out["contact_sheet"]).size[0] > T * W
    # catalog: the sample row points at the checkpoint and the input; the run links them
    row = home_catalog.rows("SELECT * FROM samples WHERE sample_id = ?", [out["sample_ids"][0]])[0]
    params = json.loads(row["params_json"])
    assert (
        row["kind"] == "grid_generated" and row["recipe"] == "generate" and row["source_id"] is None
    )
    assert params["checkpoint_id"] == checkpoints["soft"] and params["inputs"] == {"sample_id": sid}
    run = home_catalog.rows("SELECT * FROM runs WHERE run_id = ?", [out["run_id"]])[0]
    assert run["status"] == "completed" and run["flow"] == "generate"
    assert json.loads(run["inputs_json"])["checkpoints"] == [checkpoints["soft"]]
    assert json.loads(run["outputs_json"])["samples"] == out["sample_ids"]


def test_generate_flow_from_videos_with_upsampler(prefect_harness, checkpoints, tmp_path):
    from core.paths import data_root
    from flows.generate import GenerateParams, generate

    grid = plane_grid(V, 6, 2 * H, 2 * W, seed=4)  # longer and larger than the model's grid
    fixed = write_mp4(tmp_path / "fixed.mp4", grid[0], fps=8)
    freeze = write_mp4(tmp_path / "freeze.mp4", grid[:, 0], fps=8)
    out = generate(
        GenerateParams(
            checkpoint=checkpoints["hard"], upsampler=checkpoints["up_match"],
            fixed_view_video=str(fixed), freeze_time_video=str(freeze),
            views=V, times=T, steps=2, upsampler_steps=2, out_dir=str(data_root() / "gen_up"),
        )
    )  # fmt: skip
    assert any("evenly spaced" in w for w in out["warnings"])
    assert any("resized" in w for w in out["warnings"])
    low, _ = read_grid_npz(out["grid"])
    high, _ = read_grid_npz(out["grid_high"])
    assert low.shape == (V, T, H, W, 3) and high.shape == (V, T, 4 * H, 4 * W, 3)
    expected_fixed = read_video(fixed)  # the decoded frames, fitted as the flow fits them
    fitted, _ = fit_frames(expected_fixed, T, H, W, "x")
    assert np.array_equal(low[0, :], fitted)
    assert count_frames(out["mosaic"]) == T and len(out["sample_ids"]) == 2
    assert count_frames(out["mosaic_high"]) == T
    assert Image.open(out["contact_sheet_high"]).size[0] > Image.open(out["contact_sheet"]).size[0]


def test_generate_params_name_the_field(tmp_path):
    from pydantic import ValidationError

    from flows.generate import GenerateParams

    with pytest.raises(ValidationError, match="fixed_view_video: no file"):
        GenerateParams(
            checkpoint="x", fixed_view_video=str(tmp_path / "no.mp4"), freeze_time_video="y"
        )
    with pytest.raises(ValidationError, match="sample_id: give a sample id or the two video files"):
        GenerateParams(checkpoint="x", sample_id="s", fixed_view_video="a")
    with pytest.raises(ValidationError, match="steps"):
        GenerateParams(checkpoint="x", sample_id="s", steps=0)
    with pytest.raises(ValidationError, match="out_dir: path .* outside the data root"):
        GenerateParams(checkpoint="x", sample_id="s", out_dir="/elsewhere")


def hand_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def expected_baselines(grids: list[np.ndarray]) -> dict[str, float]:
    """Whole-frame PSNR of the three guesses that need no model, computed here by hand
    over the generated frames (all but grid[0, :] and grid[:, 0]), averaged over grids."""
    out: dict[str, list[float]] = {"same_time": [], "same_view": [], "background": []}
    for g in grids:
        frames = [(v, t) for v in range(1, g.shape[0]) for t in range(1, g.shape[1])]
        truth = np.stack([g[v, t] for v, t in frames])
        given = [g[0, t] for t in range(g.shape[1])] + [g[v, 0] for v in range(1, g.shape[0])]
        colour = np.median(np.stack(given).reshape(-1, 3), axis=0).round()
        out["same_time"].append(hand_psnr(np.stack([g[0, t] for v, t in frames]), truth))
        out["same_view"].append(hand_psnr(np.stack([g[v, 0] for v, t in frames]), truth))
        out["background"].append(hand_psnr(np.broadcast_to(colour, truth.shape), truth))
    return {k: float(np.mean(v)) for k, v in out.items()}


def check_baselines(b: dict, gt_grids: list[np.ndarray]) -> None:
    rows = b["rows"]
    assert list(rows) == ["model", "same_time", "same_view", "oracle", "background"]
    for name, want in expected_baselines(gt_grids).items():
        assert rows[name]["psnr"] == pytest.approx(want, abs=1e-6), name
    for score in ("psnr", "psnr_object", "ssim"):
        assert rows["oracle"][score] >= max(rows["same_time"][score], rows["same_view"][score])
        vs = b["vs_best"][score]
        assert vs["baseline"] in ("same_time", "same_view", "oracle", "background")
        assert vs["low"] <= vs["mean"] <= vs["high"] and vs["beats"] == (
            vs["low"] > 0 and b["grids"] > 1
        )
    assert b["grids"] == len(gt_grids)
    assert b["verdict"].startswith("psnr_object: model ") and "beat" in b["verdict"].lower()
    assert len(b["verdict"].splitlines()) == 1
    assert b["table"].splitlines()[1].startswith("model")
    json.dumps(b, allow_nan=False)  # plain JSON: no NaN


def test_evaluate_flow(prefect_harness, home_catalog, checkpoints, heldout, gt_grids):
    from flows.evaluate import EvaluateParams, evaluate

    ds = heldout["dataset"]["dataset_id"]
    out = evaluate(
        EvaluateParams(
            checkpoints=[checkpoints["soft"], checkpoints["hard"]],
            dataset=ds,
            steps=2,
            min_side=128,
        )
    )
    assert {r["checkpoint_id"] for r in out["results"]} == {
        checkpoints["soft"],
        checkpoints["hard"],
    }
    for r in out["results"]:
        assert np.isfinite(r["psnr"]) and 0 < r["psnr"] < 60 and -1 <= r["ssim"] <= 1
        assert 0 <= r["consistency_freeze_time"] <= 1
    rows = home_catalog.rows(
        "SELECT * FROM evaluations WHERE dataset_id = ? AND run_id = ?", [ds, out["run_id"]]
    )
    assert {(r["checkpoint_id"], r["metric"]) for r in rows} >= {
        (checkpoints["soft"], "psnr"),
        (checkpoints["hard"], "ssim"),
    }
    details = json.loads(rows[0]["details_json"])
    assert details["samples"] == 2 and len(details["per_sample"]) == 2
    # the table: one row per checkpoint plus the ground-truth reference
    names = [r["checkpoint"] for r in out["table"]]
    assert set(names) >= {checkpoints["soft"], checkpoints["hard"], "ground truth (reference)"}
    ref = out["reference"]
    assert all(0.0 <= v <= 1.0 for v in ref.values())
    assert any(line.startswith("fid: skipped: no weights at") for line in out["skipped"])
    assert "psnr" not in ref and "lpips" not in out["results"][0]
    # beside every checkpoint, the trivial baselines of the same generated frames
    assert set(out["baselines"]) == {checkpoints["soft"], checkpoints["hard"]}
    for r in out["results"]:
        b = out["baselines"][r["checkpoint_id"]]
        check_baselines(b, gt_grids)
        assert b["rows"]["model"]["psnr"] == pytest.approx(r["psnr"], abs=0.5)
    assert json.loads(rows[0]["details_json"])["baselines"]["rows"].keys() == b["rows"].keys()


def test_cli_evaluate_prints_the_baselines_and_a_verdict(prefect_harness, checkpoints, heldout):
    from typer.testing import CliRunner

    from fourreal.cli import app

    ds = heldout["dataset"]["dataset_id"]
    args = ["evaluate", "--checkpoint", checkpoints["soft"], "--dataset", ds, "--steps", "2"]
    res = CliRunner().invoke(app, [*args, "--max-samples", "1"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    at = next(i for i, line in enumerate(lines) if "beside the trivial baselines" in line)
    assert lines[at + 1].split() == ["psnr", "psnr_object", "ssim"]
    assert [line.split()[0] for line in lines[at + 2 : at + 7]] == [
        "model", "same_time", "same_view", "oracle", "background",
    ]  # fmt: skip
    # one sample: the verdict reports the side and says nothing is decided
    assert lines[at + 7].startswith("psnr_object: model ") and "one grid" in lines[at + 7]
    out = CliRunner().invoke(app, [*args, "--max-samples", "1", "--json"])
    result = json.loads(out.output.strip().splitlines()[-1])
    assert set(result) >= {"dataset_id", "results", "reference", "table", "skipped", "run_id"}
    assert result["baselines"][checkpoints["soft"]]["grids"] == 1


def test_evaluate_refuses_leaks_and_wrong_splits(
    prefect_harness, home_catalog, checkpoints, heldout
):
    from tasks.evaluation.evaluate import check_not_trained_on, load_heldout

    with pytest.raises(ValueError, match="split 'all', not 'heldout'"):
        load_heldout(home_catalog, heldout["all"]["dataset_id"], False, None)
    ckpt = get_checkpoint(home_catalog, checkpoints["soft"])
    with pytest.raises(ValueError, match="are in the training snapshot"):
        check_not_trained_on(home_catalog, ckpt, heldout["all"])
    check_not_trained_on(home_catalog, ckpt, heldout["dataset"])  # no overlap: fine
    assert checkpoint_file(ckpt).exists()


def test_cli_generate_and_errors(prefect_harness, checkpoints, heldout):
    from typer.testing import CliRunner

    from fourreal.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "generate",
            "--checkpoint",
            checkpoints["soft"],
            "--sample",
            heldout["sample_ids"][1],
            "--steps",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "mosaic mp4:" in res.output and "contact sheet:" in res.output
    res = runner.invoke(
        app, ["generate", "--checkpoint", checkpoints["base"], "--sample", heldout["sample_ids"][1]]
    )
    assert res.exit_code == 2 and "'base' checkpoint" in res.output
    res = runner.invoke(app, ["generate", "--checkpoint", "x", "--steps", "0", "--sample", "s"])
    assert res.exit_code == 2 and "steps" in res.output


# ------------------------------------------------------------------ sampling options
def _inputs(gt):
    return GenerationInputs(gt[0, :].copy(), gt[:, 0].copy(), np.arange(T), {})


def test_guidance_and_shift_reach_the_sampler(home_catalog, checkpoints, gt_grids):
    """What the real network sees: shifted times, and an unconditional pass per step with CFG."""
    from model.flow import sampling_times

    model, _, _ = load_sync_checkpoint(home_catalog, checkpoints["soft"])
    seen = []
    hook = model.register_forward_pre_hook(
        lambda mod, args: seen.append((float(args[1][0]), bool(args[2].any())))
    )
    try:
        plain = sample_grid(model, _inputs(gt_grids[0]), 4, 0)
        assert [s for s, _ in seen] == pytest.approx(sampling_times(4).tolist()[:-1])
        seen.clear()
        shifted = sample_grid(model, _inputs(gt_grids[0]), 4, 0, shift=3.0)
        assert [s for s, _ in seen] == pytest.approx(sampling_times(4, 3.0).tolist()[:-1])
        assert seen[1][0] > sampling_times(4).tolist()[1]  # shift > 1 lingers at high noise
        seen.clear()
        guided = sample_grid(model, _inputs(gt_grids[0]), 4, 0, guidance_scale=3.0)
        assert len(seen) == 8  # conditional + unconditional pass per step
        assert [k for _, k in seen] == [True, False] * 4  # the second sees no known frame
    finally:
        hook.remove()
    for other in (shifted, guided):
        assert not np.array_equal(other[1:, 1:], plain[1:, 1:])
        assert np.array_equal(other[0, :], plain[0, :]) and np.array_equal(other[:, 0], plain[:, 0])


def test_generate_flow_passes_options_and_uses_ema(
    prefect_harness, home_catalog, ema_checkpoint, heldout, gt_grids
):
    from flows.generate import GenerateParams, generate
    from tasks.checkpoint_loading import load_checkpoint

    sid = heldout["sample_ids"][0]
    opts = dict(guidance_scale=2.5, shift=2.0, steps=3, seed=1)
    out = generate(GenerateParams(checkpoint=ema_checkpoint["id"], sample_id=sid, **opts))
    assert out["weights"] == "ema" and not out["warnings"]
    grid, _ = read_grid_npz(out["grid"])
    assert grid.dtype == np.uint8
    # the same sampling by hand, with the EMA weights and the raw ones
    ema_model = load_checkpoint(home_catalog, ema_checkpoint["id"], "sync", ema=True)[0].eval()
    raw_model = load_checkpoint(home_catalog, ema_checkpoint["id"], "sync")[0].eval()
    kw = dict(guidance_scale=2.5, shift=2.0)
    assert np.array_equal(grid, sample_grid(ema_model, _inputs(gt_grids[0]), 3, 1, **kw))
    assert not np.array_equal(grid, sample_grid(raw_model, _inputs(gt_grids[0]), 3, 1, **kw))
    assert not np.array_equal(grid, sample_grid(ema_model, _inputs(gt_grids[0]), 3, 1))
    raw = generate(
        GenerateParams(checkpoint=ema_checkpoint["id"], sample_id=sid, ema=False, **opts)
    )
    assert raw["weights"] == "raw"
    assert np.array_equal(
        read_grid_npz(raw["grid"])[0], sample_grid(raw_model, _inputs(gt_grids[0]), 3, 1, **kw)
    )
    params = json.loads(
        home_catalog.rows("SELECT * FROM samples WHERE sample_id = ?", [out["sample_ids"][0]])[0][
            "params_json"
        ]
    )
    assert (params["guidance_scale"], params["shift"], params["weights"]) == (2.5, 2.0, "ema")


def test_checkpoint_without_ema_falls_back_with_a_warning(
    home_catalog, checkpoints, ema_checkpoint
):
    _, _, row = load_sync_checkpoint(home_catalog, checkpoints["soft"])
    assert row["weights"] == "raw" and "has no EMA weights" in row["warnings"][0]
    _, _, row = load_sync_checkpoint(home_catalog, ema_checkpoint["id"], ema=False)
    assert row["weights"] == "raw" and row["warnings"] == []


def test_tampered_ema_weights_are_refused(home_catalog, ema_checkpoint, tmp_path):
    import shutil

    from tasks.checkpoint_loading import ema_file

    path = ema_file(get_checkpoint(home_catalog, ema_checkpoint["id"]))
    backup = tmp_path / "ema.bak"
    shutil.copy(path, backup)
    try:
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(ValueError, match="do not match their sidecar"):
            load_sync_checkpoint(home_catalog, ema_checkpoint["id"])
    finally:
        shutil.copy(backup, path)


def test_upsampler_noise_is_shared_across_views(home_catalog, checkpoints, gt_grids):
    import torch

    from core.grid import to_model
    from model import upsample
    from model.upsampler import upsampler_loss

    up, _, _ = load_upsampler_checkpoint(home_catalog, checkpoints["up_match"], H, W)
    gt = gt_grids[0]
    # A few real steps: the zero-initialised output layer of the saved (step 0) upsampler
    # ignores its condition, and then every view is its noise whatever the views are.
    high = torch.nn.functional.interpolate(to_model(gt[0]), scale_factor=4, mode="bilinear")
    opt = torch.optim.AdamW(up.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        loss = upsampler_loss(up, high[None], generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    up.eval()
    same = np.broadcast_to(gt[1:2], gt.shape).copy()  # every view is view 1
    out = upsample(up, to_model(same), steps=2, seed=3)  # (V, T, 3, 4H, 4W)
    for v in range(1, V):
        assert torch_equal(out[v], out[0])
    varied = upsample(up, to_model(gt), steps=2, seed=3)
    assert not torch_equal(varied[1], varied[2])  # different views stay different
    assert torch_equal(varied[1], upsample(up, to_model(gt), steps=2, seed=3)[1])  # seeded


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_cli_sampling_options(prefect_harness, ema_checkpoint, heldout):
    from typer.testing import CliRunner

    from fourreal.cli import app

    runner = CliRunner()
    base = ["generate", "--checkpoint", ema_checkpoint["id"], "--sample", heldout["sample_ids"][1]]
    res = runner.invoke(
        app,
        [*base, "--steps", "2", "--guidance-scale", "1.5", "--shift", "2", "--no-ema", "--json"],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["weights"] == "raw"
    for bad, field in (("--shift", "shift"), ("--guidance-scale", "guidance_scale")):
        res = runner.invoke(app, [*base, bad, "-1"])
        assert res.exit_code == 2 and field in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1


def test_object_pixels_come_from_the_samples_alpha(home_catalog):
    """A rendered grid's alpha marks its object: a model exact there and wrong elsewhere
    scores the PSNR cap on the object's pixels, a poor whole-frame PSNR."""
    from catalog.ids import sample_id
    from core.io import save_npz_atomic, sha256_file
    from core.paths import data_root, relative_to_root
    from tasks.baselines import PSNR_CAP
    from tasks.evaluation.evaluate import baseline_summary, fit_alpha, load_alphas

    gt = plane_grid(V, T, H, W, seed=3)
    alpha = np.zeros((V, T, H, W), np.uint8)
    alpha[:, :, 4:12, 8:24] = 255
    path = data_root() / "test_grids" / "with_alpha.npz"
    eye = np.tile(np.eye(4), (V, 1, 1))
    save_npz_atomic(path, rgb=gt, alpha=alpha, depth=np.zeros((V, T, H, W), np.float32),
                    K=np.tile(np.eye(3), (V, 1, 1)), w2c=eye, times=np.arange(T, dtype=float))  # fmt: skip
    digest = sha256_file(path)
    sid = sample_id(digest, "test_alpha", "1", {})
    home_catalog.append(
        "samples",
        [{"sample_id": sid, "kind": "grid_objaverse", "recipe": "test_alpha", "recipe_version": "1",
          "v": V, "t": T, "h": H, "w": W, "path": relative_to_root(path), "sha256": digest,
          "status": "ok"}],
    )  # fmt: skip
    alphas = load_alphas(home_catalog, [sid])
    np.testing.assert_array_equal(alphas[sid], alpha)
    pred = gt.copy()
    pred[alpha == 0] = 255 - pred[alpha == 0]  # wrong everywhere but on the object
    rows = baseline_summary([(sid, gt)], [pred], alphas, resamples=100)["rows"]
    assert rows["model"]["psnr_object"] == PSNR_CAP and rows["model"]["psnr"] < 20
    guessed = baseline_summary([(sid, gt)], [pred], {}, resamples=100)["rows"]  # no alpha
    assert guessed["model"]["psnr_object"] < 20  # the textured plane is all "object"
    half = fit_alpha(alpha, 2, H // 2, W // 2)  # fitted as fit_grid fits the frames
    assert half.shape == (2, 2, H // 2, W // 2)
    assert (half[:, :, 2:6, 4:12] == 255).all() and half.sum() == 255 * 4 * 4 * 8
