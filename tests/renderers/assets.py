"""Procedural glTF assets for the renderer tests: precise ones and broken ones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pygltflib as G

from synthetic.objects import (
    GltfBuilder,
    box,
    quat_axis_angle,
    uv_sphere,
)

TINY = dict(views=3, times=3, height=48, width=48)


def pivot_box(angles=(0.0, 90.0), key_times=(0.0, 1.0), interpolation="LINEAR") -> GltfBuilder:
    """A 0.4-wide box at x=+1, child of a pivot rotating about +Y through ``angles``."""
    b = GltfBuilder()
    p, n, _, f = box((0.4, 0.4, 0.4))
    mesh = b.mesh(b.primitive(p, f, normals=n, material=b.material((0.2, 0.6, 0.9, 1))))
    arm = b.node(mesh=mesh, translation=(1, 0, 0))
    pivot = b.node(children=[arm])
    b.scene(pivot)
    q = np.stack([quat_axis_angle((0, 1, 0), a) for a in angles])
    b.animation([(pivot, "rotation", key_times, q, interpolation)], name="spin")
    return b


def dense_sphere(rings=50, segments=60) -> GltfBuilder:
    """An animated sphere with rings * segments * 2 triangles (6000 by default)."""
    b = GltfBuilder()
    p, n, _, f = uv_sphere(1.0, rings, segments)
    node = b.node(mesh=b.mesh(b.primitive(p, f, normals=n)))
    b.scene(node)
    b.animation([(node, "translation", [0, 1], [[0, 0, 0], [1, 0, 0]], "LINEAR")])
    return b


def write_bad_inputs(folder: Path, *, hang: bool = True) -> dict[str, str]:
    """One file per kind of broken input; returns {file name: expected error fragment}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}

    good = pivot_box().glb_bytes()
    (folder / "truncated.glb").write_bytes(good[: len(good) // 2])
    expected["truncated.glb"] = "truncated GLB"

    (folder / "not_gltf.glb").write_bytes(b"PK\x03\x04 this is a zip, not a glTF" * 10)
    expected["not_gltf.glb"] = "not a glTF file"

    b = pivot_box()
    b.gltf.accessors[0].byteOffset = 10_000_000  # POSITION far past its bufferView
    b.write_glb(folder / "accessor_range.glb")
    expected["accessor_range.glb"] = "outside bufferView"

    b = pivot_box()
    b.gltf.meshes[0].primitives[0].indices = 999  # no such accessor
    b.write_glb(folder / "accessor_index.glb")
    expected["accessor_index.glb"] = "accessor 999 out of range"

    b = GltfBuilder()
    p, n, _, f = box()
    p[3] = [np.nan, 0, np.inf]
    node = b.node(mesh=b.mesh(b.primitive(p, f, normals=n)))
    b.scene(node)
    b.animation([(node, "translation", [0, 1], [[0, 0, 0], [1, 0, 0]], "LINEAR")])
    b.write_glb(folder / "nan_vertices.glb")
    expected["nan_vertices.glb"] = "NaN/inf"

    b = pivot_box()
    b.gltf.meshes[0].primitives[0].mode = 1  # LINES: nothing to fill
    b.write_glb(folder / "zero_triangles.glb")
    expected["zero_triangles.glb"] = "no triangles"

    b = GltfBuilder()
    p, n, _, f = box()
    joints = np.zeros((len(p), 4), int)
    weights = np.tile([1.0, 0, 0, 0], (len(p), 1))
    mesh = b.mesh(b.primitive(p, f, normals=n, joints=joints, weights=weights))
    j0 = b.node()
    skin = b.skin([j0, 42])  # node 42 does not exist
    body = b.node(mesh=mesh, skin=skin)
    b.scene(j0, body)
    b.animation([(j0, "translation", [0, 1], [[0, 0, 0], [1, 0, 0]], "LINEAR")])
    b.write_glb(folder / "missing_joint.glb")
    expected["missing_joint.glb"] = "joint node 42 does not exist"

    path = pivot_box().write_gltf(folder / "missing_bin.gltf")
    path.with_suffix(".bin").unlink()
    expected["missing_bin.gltf"] = "external file 'missing_bin.bin' is missing"

    b = pivot_box()
    tex = b.texture(png=b"\x89PNG\r\n\x1a\n but then garbage")
    b.gltf.meshes[0].primitives[0].material = b.material(texture=tex)
    b.write_glb(folder / "bad_texture.glb")
    expected["bad_texture.glb"] = "texture failed to decode"

    dense_sphere().write_glb(folder / "too_many_triangles.glb")
    expected["too_many_triangles.glb"] = "over the cap"

    if hang:
        # Reading the external buffer blocks forever: a FIFO nobody writes to.
        b = pivot_box()
        b.write_gltf(folder / "hang.gltf")
        (folder / "hang.bin").unlink()
        os.mkfifo(folder / "hang.bin")
        expected["hang.gltf"] = "timeout"
    return expected


def accessor(b: GltfBuilder, view: int, ctype: int, type_: str, count: int, **kw) -> int:
    b.gltf.accessors.append(
        G.Accessor(bufferView=view, componentType=ctype, type=type_, count=count, **kw)
    )
    return len(b.gltf.accessors) - 1
