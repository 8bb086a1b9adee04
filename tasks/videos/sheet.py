"""Contact sheet of a curated video: one frame per shot, with its mode and scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.videos.curate import Shot

MODE_COLOURS = {"static": (120, 120, 120), "freeze_time": (40, 110, 220), "dynamic": (220, 90, 30)}


def shot_sheet(frames: np.ndarray, shots: list[Shot], out: Path, tile_width: int = 192) -> Path:
    """A PNG: the middle frame of every shot (bars cropped), captioned, in one row per 4 shots."""
    from PIL import Image

    from core.io import atomic_path

    tiles = [_tile(frames, s, tile_width) for s in shots]
    cols = min(4, len(tiles))
    rows = -(-len(tiles) // cols)
    tw, th = tile_width, max(t.height for t in tiles)
    sheet = Image.new("RGB", (cols * (tw + 4), rows * (th + 4)), (255, 255, 255))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % cols) * (tw + 4), (k // cols) * (th + 4)))
    with atomic_path(out, suffix=".png") as tmp:
        sheet.save(tmp, format="PNG")
    return out


def _tile(frames: np.ndarray, shot: Shot, width: int):
    from PIL import Image, ImageDraw

    middle = shot.borders.crop(
        frames[(shot.start + shot.end - 1) // 2 : (shot.start + shot.end + 1) // 2]
    )
    img = Image.fromarray(np.ascontiguousarray(middle[0]))
    img = img.resize((width, max(1, round(img.height * width / img.width))), Image.BILINEAR)
    lines = [
        f"[{shot.start},{shot.end}) {shot.mode}" + (" DUP" if shot.duplicate_of else ""),
        f"motion {shot.motion:.2f} scene {shot.scene_motion:.2f}",
        f"camera {shot.camera_motion:.2f} blank {shot.blank_fraction:.2f}",
    ]
    caption = 12 * len(lines) + 4
    tile = Image.new("RGB", (width, img.height + caption), (255, 255, 255))
    tile.paste(img, (0, 0))
    draw = ImageDraw.Draw(tile)
    draw.rectangle([0, img.height, width - 1, img.height + 3], fill=MODE_COLOURS[shot.mode])
    for k, text in enumerate(lines):
        draw.text((2, img.height + 4 + 12 * k), text, fill=(0, 0, 0))
    return tile
