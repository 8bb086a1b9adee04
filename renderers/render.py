"""pyrender offscreen rendering of posed meshes from V cameras at T times.

One :class:`GridRenderer` holds one OpenGL context (OSMesa on CPU, EGL on
GPU, from ``PYOPENGL_PLATFORM``, which must be set before this module is
imported) and is reused for many objects. Lighting is fixed in the world
(directional key/fill/rim + ambient) so appearance agrees across views.
Faces are drawn double-sided (culling off); the background is a float colour.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.env import configure_environment
from renderers.camera import Cameras, look_at_w2c
from renderers.gltf import MaterialSpec, PosedPrimitive

configure_environment()  # PYOPENGL_PLATFORM before OpenGL loads

import pyrender  # noqa: E402

# (direction the light travels, intensity): fixed in world coordinates.
WORLD_LIGHTS: tuple[tuple[tuple[float, float, float], float], ...] = (
    ((-0.5, -0.8, -0.6), 3.0),  # key: from upper front right
    ((0.7, -0.3, -0.4), 1.2),  # fill: from the left
    ((0.0, -0.4, 1.0), 1.5),  # rim: from behind
)
AMBIENT = (0.35, 0.35, 0.35)


@dataclass
class GridFrames:
    """Rendered frames of one grid (the disk layout of core.grid)."""

    rgb: np.ndarray  # (V, T, H, W, 3) uint8
    alpha: np.ndarray  # (V, T, H, W) uint8 coverage: 255 where a surface is drawn, else 0
    depth: np.ndarray  # (V, T, H, W) float32, camera z in scene units, 0 on background


class _ProgramCache(pyrender.shader_program.ShaderProgramCache):
    """pyrender's shader cache, keyed without the GL context handle.

    pyrender keys programs by ``OpenGL.contextdata.getContext()``; under
    OSMesa that returns a fresh ctypes pointer on every call, which never
    compares equal, so every primitive recompiled its shaders on every frame
    (~70% of render time). One renderer owns one context, so the key can omit it.
    """

    def get_program(self, vertex_shader, fragment_shader, geometry_shader=None, defines=None):
        defines = defines or {}
        key = (vertex_shader, fragment_shader, geometry_shader, tuple(sorted(defines.items())))
        if key not in self._program_cache:
            names = [vertex_shader, fragment_shader, geometry_shader]
            vs, fs, gs = (None if n is None else os.path.join(self.shader_dir, n) for n in names)
            self._program_cache[key] = pyrender.shader_program.ShaderProgram(
                vertex_shader=vs, fragment_shader=fs, geometry_shader=gs, defines=defines
            )
        return self._program_cache[key]


def _light_pose(direction: Sequence[float]) -> np.ndarray:
    """Pose whose -z axis points along ``direction`` (pyrender lights shine down -z)."""
    d = np.asarray(direction, float)
    w2c = look_at_w2c(np.zeros(3), d / np.linalg.norm(d), up=(0.0, 1.0, 0.01))
    from renderers.camera import CV_TO_GL

    return np.linalg.inv(w2c) @ CV_TO_GL


class GridRenderer:
    """One offscreen renderer, kept alive across objects; resized when needed."""

    def __init__(self):
        self._renderer: pyrender.OffscreenRenderer | None = None
        self._size: tuple[int, int] | None = None

    @property
    def platform(self) -> str:
        return os.environ.get("PYOPENGL_PLATFORM", "")

    def _offscreen(self, height: int, width: int) -> pyrender.OffscreenRenderer:
        if self._size != (height, width):
            self.close()
            self._renderer = pyrender.OffscreenRenderer(width, height)
            self._renderer._renderer._program_cache = _ProgramCache()  # see _ProgramCache
            self._size = (height, width)
        return self._renderer

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.delete()
        self._renderer, self._size = None, None

    def render(
        self,
        poses: Sequence[Sequence[PosedPrimitive]],
        cameras: Cameras,
        height: int,
        width: int,
        background: float = 1.0,
    ) -> GridFrames:
        """Render ``poses[t]`` (T lists of posed primitives) from every camera."""
        r = self._offscreen(height, width)
        V, T = len(cameras.K), len(poses)
        rgb = np.empty((V, T, height, width, 3), np.uint8)
        alpha = np.empty((V, T, height, width), np.uint8)
        depth = np.empty((V, T, height, width), np.float32)
        scene = pyrender.Scene(bg_color=[background] * 3 + [0.0], ambient_light=AMBIENT)
        for direction, intensity in WORLD_LIGHTS:
            light = pyrender.DirectionalLight(color=np.ones(3), intensity=intensity)
            scene.add(light, pose=_light_pose(direction))
        poses_gl = cameras.c2w_gl()
        cam_nodes = []
        for v in range(V):
            K = cameras.K[v]
            cam = pyrender.IntrinsicsCamera(
                fx=K[0, 0],
                fy=K[1, 1],
                cx=K[0, 2] + 0.5,
                cy=K[1, 2] + 0.5,
                znear=cameras.znear,
                zfar=cameras.zfar,
            )
            cam_nodes.append(scene.add(cam, pose=poses_gl[v]))
        materials: dict[int, pyrender.Material] = {}
        # OSMesa reads RGB only; alpha is the coverage mask from the depth buffer,
        # identical on every platform (no anti-aliasing: it is 0 or 255).
        flags = pyrender.RenderFlags.SKIP_CULL_FACES
        for t, prims in enumerate(poses):
            mesh = pyrender.Mesh([_primitive(p, materials) for p in prims])
            node = scene.add(mesh)
            for v in range(V):
                scene.main_camera_node = cam_nodes[v]
                color, z = r.render(scene, flags=flags)
                rgb[v, t] = color[..., :3]
                alpha[v, t] = np.where(z > 0, 255, 0)
                depth[v, t] = z
            scene.remove_node(node)
        return GridFrames(rgb=rgb, alpha=alpha, depth=depth)


def _material(spec: MaterialSpec, cache: dict[int, pyrender.Material]) -> pyrender.Material:
    key = id(spec)
    if key not in cache:
        tex = None
        if spec.texture is not None:
            tex = pyrender.Texture(source=spec.texture, source_channels="RGBA")
        cache[key] = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=np.asarray(spec.base_color, np.float32),
            baseColorTexture=tex,
            metallicFactor=spec.metallic,
            roughnessFactor=spec.roughness,
            emissiveFactor=np.asarray(spec.emissive, np.float32),
            alphaMode=spec.alpha_mode,
            alphaCutoff=spec.alpha_cutoff,
            doubleSided=True,
        )
    return cache[key]


def _primitive(p: PosedPrimitive, materials: dict) -> pyrender.Primitive:
    uv = None
    if p.uv is not None:
        uv = np.stack([p.uv[:, 0], 1.0 - p.uv[:, 1]], axis=1)  # pyrender flips images
    return pyrender.Primitive(
        positions=p.positions,
        normals=p.normals,
        texcoord_0=uv,
        color_0=p.colors,
        indices=p.faces,
        material=_material(p.material, materials),
        mode=pyrender.constants.GLTF.TRIANGLES,
    )
