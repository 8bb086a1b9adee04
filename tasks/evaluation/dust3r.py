"""τ-consistency with DUSt3R: how much of each view pair DUSt3R reconstructs confidently.

DUSt3R regresses a 3D point map for both images of a pair plus a per-pixel
confidence (``1 + exp(x)``, >= 1); a pair of views of one consistent scene is
reconstructed confidently, an inconsistent pair is not. The score of a grid is
the share of pixels whose confidence exceeds ``tau``, averaged over both
images of every neighbouring view pair ``(grid[v, t], grid[v + 1, t])`` of
every freeze-time slice (the multi-view geometry the 4D model must get right).

DUSt3R is not on PyPI. To enable the metric:

1. ``git clone --recursive https://github.com/naver/dust3r <REPO>`` (the
   ``croco`` submodule is needed; default ``<REPO>`` is
   ``<data root>/weights/dust3r/repo``, or pass ``dust3r_repo`` /
   ``--dust3r-repo``, or set ``DUST3R_REPO``);
2. ``pip install huggingface-hub einops scipy`` into the venv (what its model
   code imports; torchvision is *not* needed for inference);
3. download ``DUSt3R_ViTLarge_BaseDecoder_512_dpt.pth`` (linked from the
   repository's README, "Checkpoints") into ``<data root>/weights/dust3r/``
   or pass ``dust3r_weights`` / ``--dust3r-weights``.

Without either, the evaluation prints ``dust3r: skipped: ...`` and goes on.
Frames are resized to 512 px wide (height rounded to a multiple of 16, as the
512 checkpoints take); ``tau`` defaults to 3.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

DEFAULT_TAU = 3.0
WIDTH = 512
PATCH = 16

# predict(frame_a, frame_b) -> (confidence map of a, confidence map of b), float [H, W]
PairPredictor = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def default_repo() -> Path:
    from tasks.evaluation.weights import default_weight_dir

    return Path(os.environ.get("DUST3R_REPO") or default_weight_dir("dust3r") / "repo")


def repo_problem(repo: str | Path | None) -> str | None:
    """Why ``repo`` is not a usable DUSt3R checkout (with its croco submodule), or ``None``."""
    repo = Path(repo).expanduser() if repo else default_repo()
    if not (repo / "dust3r" / "model.py").is_file():
        return f"dust3r: skipped: no repository at {repo} (git clone --recursive https://github.com/naver/dust3r)"
    if not (repo / "croco" / "models" / "croco.py").is_file():
        return f"dust3r: skipped: {repo}/croco is empty (git submodule update --init)"
    return None


def confident_share(conf_a: np.ndarray, conf_b: np.ndarray, tau: float) -> float:
    """Share of the pixels of both confidence maps above ``tau``."""
    return float(np.concatenate([np.ravel(conf_a), np.ravel(conf_b)]).__gt__(tau).mean())


def tau_consistency(grid: np.ndarray, predict: PairPredictor, tau: float = DEFAULT_TAU) -> float:
    """Mean confident share over neighbouring view pairs of every freeze-time slice of ``grid``."""
    if grid.ndim != 5 or grid.shape[0] < 2:
        raise ValueError(f"grid must be [V >= 2, T, H, W, 3], got {grid.shape}")
    V, T = grid.shape[:2]
    shares = [confident_share(*predict(grid[v, t], grid[v + 1, t]), tau)
              for t in range(T) for v in range(V - 1)]  # fmt: skip
    return float(np.mean(shares))


def load_dust3r(repo: str | Path, checkpoint: str | Path, device: str = "cpu") -> PairPredictor:
    """A :data:`PairPredictor` running DUSt3R from a local checkout and checkpoint file."""
    repo = str(Path(repo).expanduser().resolve())
    if repo not in sys.path:
        sys.path.insert(0, repo)
    from dust3r.inference import inference
    from dust3r.model import AsymmetricCroCo3DStereo

    if not Path(checkpoint).is_file():  # from_pretrained would try the hub with a name
        raise ValueError(f"dust3r_weights: no file at {checkpoint}")
    model = AsymmetricCroCo3DStereo.from_pretrained(str(checkpoint)).to(device).eval()

    def view(frame: np.ndarray, idx: int) -> dict:
        h, w = frame.shape[:2]
        H = max(PATCH, round(WIDTH * h / w / PATCH) * PATCH)
        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float()
        x = torch.nn.functional.interpolate(x, (H, WIDTH), mode="bicubic", align_corners=False)
        x = (x / 127.5 - 1.0).clamp(-1, 1)
        return {"img": x, "true_shape": np.int32([[H, WIDTH]]), "idx": idx, "instance": str(idx)}

    def predict(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = inference([(view(a, 0), view(b, 1))], model, device, batch_size=1, verbose=False)
        return out["pred1"]["conf"][0].numpy(), out["pred2"]["conf"][0].numpy()

    return predict
