"""Process environment defaults, applied before Prefect, Ray or OpenGL load.

Embedded defaults: no Prefect server (ephemeral mode), local Ray without
auth tokens, headless OpenGL chosen from the machine (EGL when an NVIDIA
device is present, OSMesa otherwise). Anything the user set wins.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_gl_platform() -> str:
    return "egl" if Path("/dev/nvidia0").exists() else "osmesa"


def configure_environment() -> dict[str, str]:
    """Set defaults in ``os.environ`` (never overriding) and return what Ray workers need."""
    defaults = {
        "PYOPENGL_PLATFORM": default_gl_platform(),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
        # the ephemeral API starts slowly on a busy 2-core machine (default 20 s)
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DEDUP_LOGS": "0",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    passthrough = (
        "PYOPENGL_PLATFORM",
        "FOURREAL_HOME",
        "RAY_AUTH_MODE",
        "PREFECT_API_URL",
        "PREFECT_HOME",
        "PREFECT_SERVER_ANALYTICS_ENABLED",
    )
    return {k: os.environ[k] for k in passthrough if k in os.environ}
