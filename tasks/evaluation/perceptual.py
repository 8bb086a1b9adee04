"""Paired perceptual metrics of generated frames against ground truth: LPIPS and CLIP score.

* LPIPS (the ``lpips`` package, v0.1, AlexNet trunk): the calibrated linear
  heads ship in the wheel; the AlexNet trunk is torchvision's
  ``alexnet-owt-7be5be79.pth`` from a local file (lpips itself would download
  it). Frames are upscaled (bilinear) so the short side is at least 64 px:
  AlexNet's strides leave nothing of a 16 px frame. Lower is closer.
* CLIP score (``open_clip``): the generation is conditioned on videos, not on
  text, so this is the image-image form (CLIP-I): ``100 * cos(E(generated),
  E(ground truth))`` of the CLIP image embeddings, averaged over frames, with
  the model's own preprocessing (resize, centre crop, normalise). Higher is
  closer; 100 means the same embedding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

LPIPS_MIN_SIDE = 64
CLIP_MODEL = "ViT-B-32"


# ------------------------------------------------------------------ LPIPS
def load_lpips(backbone: str | Path, device: str = "cpu") -> nn.Module:
    """``lpips.LPIPS(net="alex")`` with the packaged linear heads and a local AlexNet trunk."""
    import lpips

    net = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    state = torch.load(backbone, map_location="cpu", weights_only=True)
    trunk = net.net  # slices slice1..slice5 hold torchvision's features[i] under the name "i"
    for k in range(1, trunk.N_slices + 1):
        for name, layer in getattr(trunk, f"slice{k}").named_children():
            for p in ("weight", "bias"):
                key = f"features.{name}.{p}"
                if hasattr(layer, p) and getattr(layer, p) is not None:
                    if key not in state:
                        raise ValueError(f"lpips_weights: {backbone} has no {key} (not AlexNet?)")
                    getattr(layer, p).data.copy_(state[key])
    return net.eval().requires_grad_(False).to(device)


def _to_unit(frames: np.ndarray, device) -> Tensor:
    """uint8 ``[N, H, W, 3]`` -> float ``[N, 3, H', W']`` in [-1, 1], short side >= 64."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1
    h, w = x.shape[-2:]
    k = max(1.0, LPIPS_MIN_SIDE / min(h, w))
    if k > 1:
        x = nn.functional.interpolate(
            x, (round(h * k), round(w * k)), mode="bilinear", align_corners=False
        )
    return x.to(device)


@torch.no_grad()
def lpips_distances(net: nn.Module, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """LPIPS ``[N]`` of paired uint8 frames ``a, b [N, H, W, 3]``."""
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} vs {b.shape}")
    device = next(net.parameters()).device
    return net(_to_unit(a, device), _to_unit(b, device)).flatten().cpu().numpy()


# ------------------------------------------------------------------ CLIP
class ClipImages(nn.Module):
    """An open_clip model and its preprocessing: uint8 frames -> unit image embeddings."""

    def __init__(self, model: nn.Module, preprocess):
        super().__init__()
        self.model, self.preprocess = model, preprocess

    @torch.no_grad()
    def forward(self, frames: np.ndarray) -> Tensor:
        device = next(self.model.parameters()).device
        x = torch.stack([self.preprocess(Image.fromarray(f)) for f in frames]).to(device)
        e = self.model.encode_image(x).float()
        return e / e.norm(dim=-1, keepdim=True)


def load_clip(path: str | Path, model_name: str = CLIP_MODEL, device: str = "cpu") -> ClipImages:
    """An open_clip ``model_name`` with the weights of the local file ``path`` (never a hub tag)."""
    import open_clip

    path = Path(path)
    if not path.is_file():  # a non-file string would be taken for a download tag
        raise ValueError(f"clip_weights: no file at {path}")
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=str(path), pretrained_text=False, device=device
    )
    return ClipImages(model.eval().requires_grad_(False), preprocess)


def clip_score(net: ClipImages, generated: np.ndarray, reference: np.ndarray) -> float:
    """Mean of ``100 * cos`` between the CLIP embeddings of paired frames ``[N, H, W, 3]``."""
    if generated.shape != reference.shape:
        raise ValueError(f"frames differ in shape: {generated.shape} vs {reference.shape}")
    cos = (net(generated) * net(reference)).sum(-1)
    return float(100.0 * cos.mean())
