"""The learned metrics of an evaluation: load what the local weights allow, score grids.

``load_networks(weights)`` builds the networks whose weights and packages are
present and returns one ``skipped`` line for each of the others;
``learned_metrics(ground_truth, generated, networks)`` scores lists of uint8
grids ``[V, T, H, W, 3]`` over the *generated* frames (``grid[0, :]`` and
``grid[:, 0]`` condition the model and are left out):

=====================  =====================================================
``fid``, ``kid``       generated frames vs ground-truth frames (sets)
``fvd``                fixed-view videos ``grid[v, :]``, ``v >= 1`` (sets)
``lpips``              paired frames, mean (lower is closer)
``clip_score``         paired frames, ``100 cos`` of CLIP image embeddings
``dust3r_consistency`` τ-consistency of the generated grids (no ground truth)
=====================  =====================================================

A network is anything with the call signature the metric uses, so tests drive
the whole path with tiny random networks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tasks.evaluation import distribution, dust3r, perceptual
from tasks.evaluation.weights import LEARNED_METRICS, metric_status


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_networks(
    weights: dict[str, str | None],
    dust3r_repo: str | Path | None = None,
    clip_model: str = perceptual.CLIP_MODEL,
) -> tuple[dict, list[str]]:
    """``(networks {metric: network}, skipped lines)``; never downloads."""
    device = _device()
    loaders = {
        "fid": lambda p: distribution.load_inception(p, device),
        "fvd": lambda p: distribution.load_video_network(p, device),
        "lpips": lambda p: perceptual.load_lpips(p, device),
        "clip": lambda p: perceptual.load_clip(p, clip_model, device),
        "dust3r": lambda p: dust3r.load_dust3r(dust3r_repo or dust3r.default_repo(), p, device),
    }
    nets, skipped = {}, []
    for metric in LEARNED_METRICS:
        path, line = metric_status(metric, weights.get(metric))
        if line is None and metric == "dust3r":
            line = dust3r.repo_problem(dust3r_repo)
        if line:
            skipped.append(line)
        else:
            nets[metric] = loaders[metric](path)
    return nets, skipped


def generated_mask(V: int, T: int) -> np.ndarray:
    """bool ``[V, T]``: the frames the model generates (not ``grid[0, :]`` nor ``grid[:, 0]``)."""
    unknown = np.ones((V, T), bool)
    unknown[0, :] = unknown[:, 0] = False
    return unknown


def _frames(grids: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([g[generated_mask(*g.shape[:2])] for g in grids])  # (N, H, W, 3)


def learned_metrics(
    ground_truth: list[np.ndarray],
    generated: list[np.ndarray],
    networks: dict,
    tau: float = dust3r.DEFAULT_TAU,
) -> dict[str, float]:
    """The metrics of the networks given (see the module table)."""
    if len(ground_truth) != len(generated):
        raise ValueError(f"{len(ground_truth)} ground-truth grids but {len(generated)} generated")
    for gt, pred in zip(ground_truth, generated, strict=True):
        if gt.shape != pred.shape:
            raise ValueError(
                f"generated grid {pred.shape} differs from its ground truth {gt.shape}"
            )
    out: dict[str, float] = {}
    real, fake = _frames(ground_truth), _frames(generated)
    if "fid" in networks:
        out.update(distribution.fid_kid(real, fake, networks["fid"]))
    if "fvd" in networks:
        real_v = np.concatenate([g[1:] for g in ground_truth])  # (N, T, H, W, 3)
        fake_v = np.concatenate([g[1:] for g in generated])
        out["fvd"] = distribution.fvd(real_v, fake_v, networks["fvd"])
    if "lpips" in networks:
        out["lpips"] = float(perceptual.lpips_distances(networks["lpips"], fake, real).mean())
    if "clip" in networks:
        out["clip_score"] = perceptual.clip_score(networks["clip"], fake, real)
    if "dust3r" in networks:
        out["dust3r_consistency"] = reference_dust3r(generated, networks, tau)["dust3r_consistency"]
    return out


def reference_dust3r(
    grids: list[np.ndarray], networks: dict, tau: float = dust3r.DEFAULT_TAU
) -> dict:
    """τ-consistency of grids (for the ground-truth reference row); ``{}`` without DUSt3R."""
    if "dust3r" not in networks:
        return {}
    scores = [dust3r.tau_consistency(g, networks["dust3r"], tau) for g in grids]
    return {"dust3r_consistency": float(np.mean(scores))}
