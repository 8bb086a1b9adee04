"""Where the learned metrics find their weights, and the gate that skips them cleanly.

Nothing is ever downloaded: every network is built from a local file, and a
metric whose file is missing is reported as ``<metric>: skipped: no weights at
PATH`` while the evaluation goes on. ``PATH`` is what was given (a file or a
folder), or ``<data root>/weights/<metric>/`` by default; a folder is searched
for the file names below, in order.

=========  ==========================================  ===============================
metric     file (put it in <data root>/weights/<m>/)   where it comes from
=========  ==========================================  ===============================
fid        weights-inception-2015-12-05-6726825d.pth   torch-fidelity release v0.2.0
           (FID and KID: the TF-FID Inception-v3)      (the file torchmetrics fetches)
clip       open_clip_pytorch_model.bin or              open_clip ViT-B-32, e.g. the
           open_clip_model.safetensors                 laion2b_s34b_b79k release
fvd        i3d_pretrained_400.pt (I3D, the FVD         the files cd-fvd fetches:
           standard) or                                TATS' I3D, VideoMAE-v2 ViT-g
           vit_g_hybrid_pt_1200e_ssv2_ft.pth
lpips      alexnet-owt-7be5be79.pth                    torchvision's AlexNet weights
           (the linear heads ship in the lpips wheel)
dust3r     DUSt3R_ViTLarge_BaseDecoder_512_dpt.pth     naver/dust3r README, and the
           plus the repository: see tasks/evaluation/dust3r.py
=========  ==========================================  ===============================

The networks come from packages that need torchvision (torch-fidelity,
lpips, open_clip, cd-fvd): the ``metrics`` extra, ``pip install -e
'.[metrics]'``, on a machine whose torch build torchvision supports (PyPI's
torch 2.13.0 wheels on a GPU machine). torchvision's wheels are built against
the CUDA torch, so a CPU-only torch (``2.13.0+cpu``) cannot import them: there
those metrics say ``skipped: ... not importable`` and everything else runs.
torchmetrics itself (the statistics) needs no torchvision and is always there.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

LEARNED_METRICS = ("lpips", "fid", "fvd", "clip", "dust3r")

WEIGHT_FILES: dict[str, tuple[str, ...]] = {
    "fid": ("weights-inception-2015-12-05-6726825d.pth",),
    "clip": ("open_clip_pytorch_model.bin", "open_clip_model.safetensors"),
    "fvd": ("i3d_pretrained_400.pt", "vit_g_hybrid_pt_1200e_ssv2_ft.pth"),
    "lpips": ("alexnet-owt-7be5be79.pth",),
    "dust3r": (
        "DUSt3R_ViTLarge_BaseDecoder_512_dpt.pth",
        "DUSt3R_ViTLarge_BaseDecoder_512_linear.pth",
        "DUSt3R_ViTLarge_BaseDecoder_224_linear.pth",
    ),
}


def default_weight_dir(metric: str) -> Path:
    """``<data root>/weights/<metric>``."""
    from core.paths import data_root

    return data_root() / "weights" / metric


@dataclass(frozen=True)
class WeightStatus:
    """The file a metric will load, or why it is skipped."""

    metric: str
    file: Path | None
    looked_at: Path

    @property
    def line(self) -> str:
        return f"{self.metric}: skipped: no weights at {self.looked_at}"


def locate(metric: str, given: str | Path | None = None) -> WeightStatus:
    """The weight file of ``metric``: ``given`` (a file, or a folder holding one of
    :data:`WEIGHT_FILES`), else the default folder. Never downloads."""
    if metric not in WEIGHT_FILES:
        raise ValueError(f"metric must be one of {LEARNED_METRICS}, got {metric!r}")
    if not given:  # the default folder: name the file it should hold
        path = default_weight_dir(metric)
        given_dir = True
    else:
        path, given_dir = Path(given).expanduser(), False
    if path.is_file():
        return WeightStatus(metric, path, path)
    if path.is_dir():
        for name in WEIGHT_FILES[metric]:
            if (path / name).is_file():
                return WeightStatus(metric, path / name, path / name)
        return WeightStatus(metric, None, path / WEIGHT_FILES[metric][0])
    return WeightStatus(metric, None, path / WEIGHT_FILES[metric][0] if given_dir else path)


# The modules a metric's network needs (importable only with the ``metrics`` extra).
PACKAGES: dict[str, tuple[str, ...]] = {
    "fid": ("torch_fidelity.feature_extractor_inceptionv3",),
    "clip": ("open_clip",),
    "fvd": ("cdfvd.third_party.i3d.utils", "cdfvd.third_party.VideoMAEv2.utils"),
    "lpips": ("lpips",),
    "dust3r": ("huggingface_hub", "einops", "scipy"),
}


def import_problem(metric: str) -> str | None:
    """Why the network of ``metric`` cannot be built here, or ``None``.

    A torchvision built for another torch raises ``RuntimeError`` (not
    ``ImportError``) at import, hence the broad except: any failure to import
    means the metric cannot run, and the message says which module failed.
    """
    for module in PACKAGES[metric]:
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 (see the docstring)
            return f"{module} is not importable ({type(e).__name__}: {e})"
    return None


def metric_status(metric: str, given: str | Path | None = None) -> tuple[Path | None, str | None]:
    """``(weight file, None)`` when ``metric`` can run, else ``(None, skipped line)``."""
    status = locate(metric, given)
    if status.file is None:
        return None, status.line
    problem = import_problem(metric)
    if problem:
        return None, (
            f"{metric}: skipped: weights at {status.file}, but {problem}; install the metrics "
            "extra (pip install -e '.[metrics]') with a torch build torchvision supports"
        )
    return status.file, None
