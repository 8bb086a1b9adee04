"""Reading recordings back with Rerun's own tools: the ``rerun`` CLI and ``rerun.chunk``."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
from rerun.chunk import RrdReader

from fourreal.commands.view import rerun_binary, rerun_env


def rerun_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    """Run the wheel's ``rerun`` binary (analytics off) and capture its output."""
    return subprocess.run(
        [str(rerun_binary()), *args], env=rerun_env(home), capture_output=True, text=True
    )


def read_rrd(path: Path) -> dict[str, list[dict]]:
    """Every logged row per entity path: ``static``, timeline values (int) and components."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for chunk in RrdReader(path).stream():
        batch = chunk.to_record_batch()
        columns = {}
        for field, column in zip(batch.schema, batch.columns, strict=True):
            if pa.types.is_duration(field.type) or pa.types.is_timestamp(field.type):
                column = column.cast(pa.int64())  # nanoseconds, exactly
            columns[field.name] = column.to_pylist()
        for i in range(batch.num_rows):
            row = {name: values[i] for name, values in columns.items()}
            rows[chunk.entity_path].append({"static": chunk.is_static, **row})
    return rows


def components(rows: list[dict], name: str) -> list[dict]:
    """The rows that hold component ``name`` (e.g. ``Pinhole:image_from_camera``)."""
    return [r for r in rows if r.get(name) is not None]


def mat3(flat: list[float]) -> np.ndarray:
    """Rerun stores 3x3 matrices column-major."""
    return np.asarray(flat, np.float64).reshape(3, 3).T


def decode(blob: list[int], flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    image = cv2.imdecode(np.asarray(blob, np.uint8), flags)
    assert image is not None
    return image[..., ::-1] if image.ndim == 3 else image


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
