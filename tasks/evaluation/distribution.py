"""Distribution metrics: FID and KID over frames, FVD over videos (torchmetrics, cd-fvd).

Both compare the feature distribution of generated content with that of
ground truth. Features come from a frozen network built from a local file
(:mod:`tasks.evaluation.weights`); the statistics are torchmetrics'
``FrechetInceptionDistance`` (Fréchet distance of the two Gaussian fits,
float64) and ``KernelInceptionDistance`` (unbiased polynomial-kernel MMD over
random subsets), fed the features through an identity extractor so the
network runs once per input.

* FID / KID: frames through torch-fidelity's TF-FID Inception-v3 (2048-d pool
  features), as torchmetrics builds it, from
  ``weights-inception-2015-12-05-6726825d.pth``; frames are resized to 299 px
  inside the network.
* FVD: videos through cd-fvd's I3D (400 logits, the FVD standard) or
  VideoMAE-v2 (1408-d), with cd-fvd's own preprocessing (224 x 224). Both
  networks take 16 frames: shorter videos are stretched by repeating frames
  (nearest index), which any FVD over short clips must do somehow.

With few samples the covariance estimates are poor (FID / FVD are biased
upwards for small N): compare numbers measured on the same N only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

FVD_FRAMES = 16
KID_SUBSETS = 100
KID_MAX_SUBSET = 1000


class _Given(nn.Module):
    """Identity "extractor": torchmetrics then works on features computed beforehand."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def frechet_and_kernel(real: Tensor, fake: Tensor, seed: int = 0) -> dict[str, float]:
    """FID-style Fréchet distance and KID (mean, std) of two feature sets ``[N, d]``."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"features must be [N, d] of one d, got {tuple(real.shape)}, {tuple(fake.shape)}"
        )
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("Fréchet distance needs at least 2 samples on each side")
    d = real.shape[1]
    fid = FrechetInceptionDistance(feature=_Given(d))
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    subset = min(KID_MAX_SUBSET, len(real), len(fake))
    with warnings.catch_warnings():  # "KID keeps every feature in memory": ours are few
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=_Given(d), subsets=KID_SUBSETS, subset_size=subset)
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global RNG
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {
        "frechet": float(fid.compute()),
        "kid_mean": float(kid_mean),
        "kid_std": float(kid_std),
    }


@torch.no_grad()
def extract(extractor: Callable[[Tensor], Tensor], batch: Tensor, batch_size: int = 16) -> Tensor:
    """Features ``[N, d]`` of ``batch`` (any leading N), ``batch_size`` inputs at a time."""
    out = [extractor(batch[i : i + batch_size]).reshape(len(batch[i : i + batch_size]), -1)
           for i in range(0, len(batch), batch_size)]  # fmt: skip
    return torch.cat(out).double().cpu()


# ------------------------------------------------------------------ FID / KID
def frame_tensor(frames: np.ndarray) -> Tensor:
    """uint8 ``[N, H, W, 3]`` -> uint8 ``[N, 3, H, W]`` (what the FID Inception takes)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()


def fid_kid(real_frames: np.ndarray, fake_frames: np.ndarray, extractor: nn.Module) -> dict:
    """``{"fid", "kid", "kid_std"}`` of uint8 frame sets ``[N, H, W, 3]``."""
    real = extract(extractor, frame_tensor(real_frames))
    fake = extract(extractor, frame_tensor(fake_frames))
    out = frechet_and_kernel(real, fake)
    return {"fid": out["frechet"], "kid": out["kid_mean"], "kid_std": out["kid_std"]}


def load_inception(path, device: str = "cpu") -> nn.Module:
    """torchmetrics' FID Inception-v3 (2048-d features) from a local torch-fidelity weight file."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    net = NoTrainInceptionV3(
        name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path)
    )
    net.num_features = 2048
    return net.to(device)


# ------------------------------------------------------------------ FVD
def stretch_video(videos: np.ndarray, frames: int = FVD_FRAMES) -> np.ndarray:
    """uint8 ``[B, T, H, W, 3]`` -> ``[B, frames, H, W, 3]`` by nearest-index resampling."""
    T = videos.shape[1]
    if T == frames:
        return videos
    idx = np.minimum((np.arange(frames) * T) // frames, T - 1)
    return videos[:, idx]


class VideoFeatures(nn.Module):
    """cd-fvd's network plus its preprocessing: uint8 videos ``[B, T, H, W, 3]`` -> ``[B, d]``."""

    def __init__(self, net: nn.Module, preprocess: Callable, forward: Callable, num_features: int):
        super().__init__()
        self.net, self.preprocess, self.fwd = net, preprocess, forward
        self.num_features = num_features

    @torch.no_grad()
    def forward(self, videos: Tensor) -> Tensor:
        device = next(self.net.parameters()).device
        x = self.preprocess(stretch_video(videos.cpu().numpy())).to(device, torch.float32)
        return self.fwd(self.net, x)


def load_video_network(path, device: str = "cpu") -> VideoFeatures:
    """cd-fvd's I3D (``i3d*`` files) or VideoMAE-v2 (any other name) from a local file."""
    from pathlib import Path

    from cdfvd.third_party.i3d.utils import load_i3d_model, preprocess_i3d
    from cdfvd.third_party.VideoMAEv2.utils import load_videomae_model, preprocess_videomae

    path = Path(path)
    if not path.is_file():  # cd-fvd downloads when the file is missing: never let it
        raise ValueError(f"fvd_weights: no file at {path}")
    dev = torch.device(device)
    if path.name.startswith("i3d"):
        net = load_i3d_model(dev, str(path)).eval()
        return VideoFeatures(net, preprocess_i3d, lambda n, x: n(x), 400)
    net = load_videomae_model(dev, str(path)).eval()
    return VideoFeatures(net, preprocess_videomae, lambda n, x: n.forward_features(x), 1408)


def fvd(real_videos: np.ndarray, fake_videos: np.ndarray, extractor: nn.Module) -> float:
    """Fréchet video distance of uint8 video sets ``[B, T, H, W, 3]``."""
    real = extract(extractor, torch.from_numpy(np.ascontiguousarray(real_videos)), 4)
    fake = extract(extractor, torch.from_numpy(np.ascontiguousarray(fake_videos)), 4)
    return frechet_and_kernel(real, fake)["frechet"]
