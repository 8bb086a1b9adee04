"""Headless OpenGL is chosen from the machine: EGL when a GPU is present, OSMesa otherwise,
and Ray workers are started with the same choice."""

from __future__ import annotations

from core.env import default_gl_platform, gpu_present
from core.raycluster import runtime_env


def test_egl_when_an_nvidia_device_node_exists(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    (tmp_path / "nvidiactl").touch()  # the control node alone is no GPU
    assert not gpu_present(tmp_path) and default_gl_platform(tmp_path) == "osmesa"
    (tmp_path / "nvidia0").touch()
    assert gpu_present(tmp_path) and default_gl_platform(tmp_path) == "egl"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # GPUs hidden from this process
    assert default_gl_platform(tmp_path) == "osmesa"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert default_gl_platform(tmp_path) == "egl"


def test_ray_workers_get_the_platform_of_the_driver(monkeypatch):
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    assert runtime_env(ship_code=False)["env_vars"]["PYOPENGL_PLATFORM"] == "egl"
