"""Reading glTF data exactly: accessors, buffers, skinning, morph targets, real files."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from renderers.errors import GltfError
from renderers.gltf import AnimatedAsset
from renderers.gltf_io import GltfFile
from synthetic.objects import FLOAT, GltfBuilder, box, skinned_tube
from tests.renderers.assets import accessor, pivot_box


def test_interleaved_stride_offsets_normalised_ints_sparse_and_mat4(tmp_path):
    b = GltfBuilder()
    pos = np.arange(12, dtype=np.float32).reshape(4, 3)
    col = np.array([[0, 255, 128, 255]] * 4, np.uint8)
    # interleaved: 12 bytes of position, 4 of colour, 4 of padding -> stride 20
    rows = [p.tobytes() + c.tobytes() + b"\0\0\0\0" for p, c in zip(pos, col, strict=True)]
    view = b.view(b"".join(rows), stride=20)
    a_pos = accessor(b, view, FLOAT, "VEC3", 4)
    a_col = accessor(b, view, 5121, "VEC4", 4, byteOffset=12, normalized=True)
    shorts = b.view(np.array([-32767, 0, 32767, -32768], "<i2").tobytes())
    a_short = accessor(b, shorts, 5122, "SCALAR", 4, normalized=True)
    idx = b.view(np.array([1, 3], "<u2").tobytes())
    vals = b.view(np.array([[7, 7, 7], [9, 9, 9]], "<f4").tobytes())
    import pygltflib as G

    sparse = G.Sparse(
        count=2,
        indices=G.AccessorSparseIndices(bufferView=idx, componentType=5123),
        values=G.AccessorSparseValues(bufferView=vals),
    )
    a_sparse_zero = accessor(b, None, FLOAT, "VEC3", 4, sparse=sparse)
    a_sparse_base = accessor(b, view, FLOAT, "VEC3", 4, sparse=sparse)
    m = np.arange(16, dtype=np.float32).reshape(4, 4)
    a_mat = b.accessor(m[None])
    f = GltfFile.load(b.write_glb(tmp_path / "acc.glb"))
    assert np.array_equal(f.accessor(a_pos), pos)
    assert np.allclose(f.accessor(a_col), col / 255.0)
    assert np.allclose(f.accessor(a_short)[:, 0], [-1, 0, 1, -1])  # signed: max(x/32767, -1)
    expect = np.zeros((4, 3))
    expect[[1, 3]] = [[7, 7, 7], [9, 9, 9]]
    assert np.array_equal(f.accessor(a_sparse_zero), expect)
    base = pos.copy()
    base[[1, 3]] = [[7, 7, 7], [9, 9, 9]]
    assert np.array_equal(f.accessor(a_sparse_base), base)
    assert np.array_equal(f.accessor(a_mat)[0], m)  # column-major round trip


def test_data_uri_and_external_buffers_agree(tmp_path):
    b = pivot_box()
    glb = AnimatedAsset.load(b.write_glb(tmp_path / "a.glb"))
    ext = AnimatedAsset.load(b.write_gltf(tmp_path / "b.gltf"))
    doc = json.loads((tmp_path / "b.gltf").read_text())
    doc["buffers"][0]["uri"] = (
        "data:application/octet-stream;base64,"
        + base64.b64encode((tmp_path / "b.bin").read_bytes()).decode()
    )
    (tmp_path / "c.gltf").write_text(json.dumps(doc))
    uri = AnimatedAsset.load(tmp_path / "c.gltf")
    for asset in (ext, uri):
        for pa, pb in zip(glb.pose(0.3, glb.clip()), asset.pose(0.3, asset.clip()), strict=True):
            assert np.array_equal(pa.positions, pb.positions)


def test_external_buffer_outside_the_folder_is_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    pivot_box().write_gltf(tmp_path / "secret.gltf")
    doc = json.loads((tmp_path / "secret.gltf").read_text())
    doc["buffers"][0]["uri"] = "../secret.bin"
    (tmp_path / "sub" / "x.gltf").write_text(json.dumps(doc))
    with pytest.raises(GltfError, match="outside the asset's folder"):
        AnimatedAsset.load(tmp_path / "sub" / "x.gltf")


def test_skinned_node_translation_is_ignored(tmp_path):
    moved = skinned_tube(np.random.default_rng(0))
    still = skinned_tube(np.random.default_rng(0))
    body = len(still.gltf.nodes) - 1
    assert moved.gltf.nodes[body].translation == [5.0, 0.0, 0.0]
    still.gltf.nodes[body].translation = None
    a = AnimatedAsset.load(moved.write_glb(tmp_path / "moved.glb"))
    b = AnimatedAsset.load(still.write_glb(tmp_path / "still.glb"))
    for t in (0.0, 0.7):
        pa, pb = a.pose(t, a.clip())[0].positions, b.pose(t, b.clip())[0].positions
        assert np.array_equal(pa, pb)
    rest = a.pose(0.0, a.clip())[0].positions
    assert np.abs(rest[:, 0]).max() < 0.25  # the tube's radius is 0.2, not 5 away
    bent = a.pose(a.clip().end / 2, a.clip())[0].positions
    assert np.abs(bent - rest).max() > 0.3  # joints do move it


def test_two_weight_sets_and_inverse_bind_matrices(tmp_path):
    b = GltfBuilder()
    p, n, _, f = box()
    j_a = np.tile([0, 0, 0, 0], (len(p), 1))
    w_a = np.tile([0.5, 0, 0, 0], (len(p), 1))
    j_b = np.tile([1, 0, 0, 0], (len(p), 1))
    w_b = np.tile([0.5, 0, 0, 0], (len(p), 1))
    mesh = b.mesh(b.primitive(p, f, normals=n, joints=j_a, weights=w_a, joints1=j_b, weights1=w_b))
    j0, j1 = b.node(translation=(0, 0, 0)), b.node(translation=(0, 2, 0))
    ibm = np.stack([np.eye(4), np.eye(4)])
    ibm[1][:3, 3] = [0, -2, 0]  # joint 1 bound where it stands: no rest offset
    skin = b.skin([j0, j1], ibm)
    body = b.node(mesh=mesh, skin=skin)
    b.scene(j0, j1, body)
    b.animation([(j1, "translation", [0, 1], [[0, 2, 0], [0, 4, 0]], "LINEAR")])
    asset = AnimatedAsset.load(b.write_glb(tmp_path / "two_sets.glb"))
    rest = asset.pose(0.0, asset.clip())[0].positions
    assert np.allclose(rest, p, atol=1e-6)
    moved = asset.pose(1.0, asset.clip())[0].positions
    assert np.allclose(moved - p, [0, 1.0, 0], atol=1e-6)  # half the weight on a joint moved 2


def test_morph_weights_animate_positions(tmp_path):
    b = GltfBuilder()
    p, n, _, f = box()
    up = np.tile([0.0, 1.0, 0.0], (len(p), 1))
    node = b.node(mesh=b.mesh(b.primitive(p, f, normals=n, targets=[up]), weights=[0.25]))
    b.scene(node)
    asset_static = AnimatedAsset.load(b.write_glb(tmp_path / "static.glb"))
    assert np.allclose(asset_static.pose(0.0)[0].positions, p + [0, 0.25, 0])  # mesh.weights
    b.animation([(node, "weights", [0.0, 1.0], [[0.0], [1.0]], "LINEAR")])
    asset = AnimatedAsset.load(b.write_glb(tmp_path / "morph.glb"))
    clip = asset.clip()
    assert np.allclose(asset.pose(0.5, clip)[0].positions, p + [0, 0.5, 0], atol=1e-6)
    assert np.allclose(asset.pose(1.0, clip)[0].positions, p + [0, 1.0, 0], atol=1e-6)


def test_khronos_files_load_and_move(shared_gltf_dir):
    for name, joints in (
        ("BoxAnimated.glb", False),
        ("RiggedSimple.glb", True),
        ("BrainStem.glb", True),
    ):
        asset = AnimatedAsset.load(shared_gltf_dir / name)
        clip = asset.clip()
        assert clip is not None and clip.duration > 0
        a = np.concatenate([p.positions for p in asset.pose(clip.start, clip)])
        b = np.concatenate([p.positions for p in asset.pose((clip.start + clip.end) / 3, clip)])
        assert np.isfinite(a).all() and np.abs(a - b).max() > 1e-3
        assert any(d.skin is not None for d in asset._draws) == joints
