"""Process environment defaults, applied before Prefect, Ray or OpenGL load.

Embedded defaults: no Prefect server (ephemeral mode), local Ray without
auth tokens, headless OpenGL chosen from the machine (EGL when an NVIDIA
device is present, OSMesa otherwise). Anything the user set wins.
"""

from __future__ import annotations

import os
from pathlib import Path


def gpu_present(dev: Path = Path("/dev")) -> bool:
    """An NVIDIA GPU this process may use: a device node, not hidden by CUDA_VISIBLE_DEVICES.

    Read from the device nodes, not from CUDA: this runs before anything imports
    torch or OpenGL, and must stay cheap.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return any(p.name[len("nvidia") :].isdigit() for p in dev.glob("nvidia[0-9]*"))


def default_gl_platform(dev: Path = Path("/dev")) -> str:
    """``egl`` (GPU rendering, no display) when a GPU is present, else ``osmesa`` (CPU).

    PyOpenGL reads ``PYOPENGL_PLATFORM`` once, at its first import: it must be
    set before then, in every process (Ray workers get it via ``runtime_env``).
    """
    return "egl" if gpu_present(dev) else "osmesa"


def configure_environment() -> dict[str, str]:
    """Set defaults in ``os.environ`` (never overriding) and return what Ray workers need."""
    defaults = {
        "PYOPENGL_PLATFORM": default_gl_platform(),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
        # the ephemeral API starts slowly on a busy 2-core machine (default 20 s)
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        # training shapes change (progressive resolution, grids vs clips): fewer stranded blocks
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DEDUP_LOGS": "0",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    passthrough = (
        "PYOPENGL_PLATFORM",
        "PYTORCH_CUDA_ALLOC_CONF",
        "FOURREAL_HOME",
        "FOURREAL_LOCAL",
        # an S3 data root: workers on every node write samples straight to it
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        # the Hugging Face hub client on the workers: a mirror, a token, offline mode, its cache
        "HF_ENDPOINT",
        "HF_TOKEN",
        "HF_HUB_OFFLINE",
        "HF_HOME",
        "HF_HUB_CACHE",
        "RAY_AUTH_MODE",
        "PREFECT_API_URL",
        "PREFECT_HOME",
        "PREFECT_SERVER_ANALYTICS_ENABLED",
    )
    return {k: os.environ[k] for k in passthrough if k in os.environ}
