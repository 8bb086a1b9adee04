"""Procedural animated glTF assets, written with pygltflib.

:class:`GltfBuilder` assembles a document (geometry, materials, textures,
nodes, skins, morph targets, animations) and writes it as ``.glb`` or as
``.gltf`` with an external ``.bin``. Three families of demo objects exercise
what Objaverse files contain: a hierarchical arm (node TRS channels), a
skinned tube (linear-blend skinning, cubic-spline rotations) and a textured
morphing blob (morph targets with animated weights). Tests build their own
precise assets with the same builder.
"""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path

import numpy as np
import pygltflib as G

from core.io import atomic_write_bytes

FLOAT, UBYTE, USHORT, UINT = 5126, 5121, 5123, 5125
_KIND = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}


def _pad4(data: bytes | bytearray, fill: bytes = b"\x00") -> bytes:
    return bytes(data) + fill * (-len(data) % 4)


def quat_axis_angle(axis, degrees: float) -> np.ndarray:
    """Quaternion ``(x, y, z, w)`` of a rotation of ``degrees`` about ``axis``."""
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    h = math.radians(degrees) / 2
    return np.array([*(a * math.sin(h)), math.cos(h)])


class GltfBuilder:
    """Accumulates one glTF document and its single binary buffer."""

    def __init__(self):
        self.gltf = G.GLTF2(asset=G.Asset(version="2.0", generator="fourreal.procedural"))
        self.blob = bytearray()

    # ---- raw data --------------------------------------------------------
    def view(self, data: bytes, target: int | None = None, stride: int | None = None) -> int:
        self.blob += b"\x00" * (-len(self.blob) % 4)
        self.gltf.bufferViews.append(
            G.BufferView(
                buffer=0,
                byteOffset=len(self.blob),
                byteLength=len(data),
                target=target,
                byteStride=stride,
            )
        )
        self.blob += data
        return len(self.gltf.bufferViews) - 1

    def accessor(
        self,
        array,
        component: int = FLOAT,
        normalized: bool = False,
        target: int | None = None,
        bounds: bool = False,
    ) -> int:
        """Append ``array`` (``(count,)`` or ``(count, k)``; 4x4 matrices as ``(count, 4, 4)``)."""
        a = np.asarray(array)
        if a.ndim == 3:  # matrices: column-major in the file
            a = a.transpose(0, 2, 1).reshape(len(a), 16)
        if a.ndim == 1:
            a = a[:, None]
        dtype = {FLOAT: "<f4", UBYTE: "<u1", USHORT: "<u2", UINT: "<u4"}[component]
        a = np.ascontiguousarray(a.astype(dtype))
        bv = self.view(a.tobytes(), target=target)
        acc = G.Accessor(
            bufferView=bv,
            byteOffset=0,
            componentType=component,
            count=len(a),
            type=_KIND[a.shape[1]],
            normalized=normalized or None,
        )
        if bounds:
            finite = np.where(np.isfinite(a), a, 0)  # JSON has no NaN (bad-input tests)
            acc.min = finite.min(0).astype(float).tolist()
            acc.max = finite.max(0).astype(float).tolist()
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1

    # ---- scene content ---------------------------------------------------
    def texture(self, rgba: np.ndarray | None = None, png: bytes | None = None) -> int:
        """A texture from an RGBA image (encoded as PNG) or from raw image bytes."""
        if png is None:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(np.asarray(rgba, np.uint8)).save(buf, format="PNG")
            png = buf.getvalue()
        bv = self.view(png)
        self.gltf.images.append(G.Image(bufferView=bv, mimeType="image/png"))
        self.gltf.samplers = self.gltf.samplers or [G.Sampler()]
        self.gltf.textures.append(G.Texture(source=len(self.gltf.images) - 1, sampler=0))
        return len(self.gltf.textures) - 1

    def material(
        self,
        base_color=(0.8, 0.8, 0.8, 1.0),
        texture: int | None = None,
        metallic: float = 0.0,
        roughness: float = 0.7,
    ) -> int:
        pbr = G.PbrMetallicRoughness(
            baseColorFactor=list(map(float, base_color)),
            metallicFactor=metallic,
            roughnessFactor=roughness,
            baseColorTexture=G.TextureInfo(index=texture) if texture is not None else None,
        )
        self.gltf.materials.append(G.Material(pbrMetallicRoughness=pbr, doubleSided=True))
        return len(self.gltf.materials) - 1

    def primitive(
        self,
        positions,
        faces,
        *,
        normals=None,
        colors=None,
        uv=None,
        material: int | None = None,
        targets=None,
        joints=None,
        weights=None,
        joints1=None,
        weights1=None,
    ) -> G.Primitive:
        attrs = G.Attributes(POSITION=self.accessor(positions, target=34962, bounds=True))
        if normals is not None:
            attrs.NORMAL = self.accessor(normals, target=34962)
        if colors is not None:
            attrs.COLOR_0 = self.accessor(colors, target=34962)
        if uv is not None:
            attrs.TEXCOORD_0 = self.accessor(uv, target=34962)
        if joints is not None:
            attrs.JOINTS_0 = self.accessor(joints, component=USHORT, target=34962)
            attrs.WEIGHTS_0 = self.accessor(weights, target=34962)
        if joints1 is not None:
            attrs.JOINTS_1 = self.accessor(joints1, component=USHORT, target=34962)
            attrs.WEIGHTS_1 = self.accessor(weights1, target=34962)
        prim = G.Primitive(
            attributes=attrs,
            material=material,
            mode=4,
            indices=self.accessor(np.asarray(faces).reshape(-1), component=UINT, target=34963),
        )
        if targets:
            prim.targets = [{"POSITION": self.accessor(t, bounds=True)} for t in targets]
        return prim

    def mesh(self, *primitives: G.Primitive, weights=None) -> int:
        self.gltf.meshes.append(
            G.Mesh(primitives=list(primitives), weights=None if weights is None else list(weights))
        )
        return len(self.gltf.meshes) - 1

    def node(
        self,
        *,
        mesh=None,
        skin=None,
        children=(),
        translation=None,
        rotation=None,
        scale=None,
        matrix=None,
        name=None,
    ) -> int:
        self.gltf.nodes.append(
            G.Node(
                mesh=mesh,
                skin=skin,
                children=list(children),
                name=name,
                translation=None if translation is None else [float(x) for x in translation],
                rotation=None if rotation is None else [float(x) for x in rotation],
                scale=None if scale is None else [float(x) for x in scale],
                matrix=None if matrix is None else [float(x) for x in np.asarray(matrix).T.ravel()],
            )
        )
        return len(self.gltf.nodes) - 1

    def skin(self, joints, inverse_bind_matrices=None) -> int:
        ibm = None if inverse_bind_matrices is None else self.accessor(inverse_bind_matrices)
        self.gltf.skins.append(G.Skin(joints=list(joints), inverseBindMatrices=ibm))
        return len(self.gltf.skins) - 1

    def animation(self, channels, name: str | None = None) -> int:
        """``channels``: iterable of ``(node, path, times, values, interpolation)``.

        ``values`` is ``(keys, C)``; for CUBICSPLINE ``(keys, 3, C)`` as
        (in-tangent, value, out-tangent).
        """
        anim = G.Animation(name=name, samplers=[], channels=[])
        for node, path, times, values, interp in channels:
            v = np.asarray(values, float)
            v = v.reshape(-1, v.shape[-1]) if v.ndim == 3 else v
            anim.samplers.append(
                G.AnimationSampler(
                    input=self.accessor(np.asarray(times, float), bounds=True),
                    output=self.accessor(v),
                    interpolation=interp,
                )
            )
            anim.channels.append(
                G.AnimationChannel(
                    sampler=len(anim.samplers) - 1,
                    target=G.AnimationChannelTarget(node=node, path=path),
                )
            )
        self.gltf.animations.append(anim)
        return len(self.gltf.animations) - 1

    def scene(self, *roots: int) -> None:
        self.gltf.scenes = [G.Scene(nodes=list(roots))]
        self.gltf.scene = 0

    # ---- output ----------------------------------------------------------
    def json_text(self, buffer_uri: str | None = None) -> str:
        self.gltf.buffers = [G.Buffer(byteLength=len(self.blob), uri=buffer_uri)]
        return self.gltf.gltf_to_json(separators=(",", ":"), indent=None)

    def glb_bytes(self) -> bytes:
        js = _pad4(self.json_text().encode(), b" ")
        bin_ = _pad4(self.blob)
        total = 12 + 8 + len(js) + 8 + len(bin_)
        return b"".join(
            [
                struct.pack("<4sII", b"glTF", 2, total),
                struct.pack("<I4s", len(js), b"JSON"),
                js,
                struct.pack("<I4s", len(bin_), b"BIN\x00"),
                bin_,
            ]
        )

    def write_glb(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_bytes(path, self.glb_bytes())
        return path

    def write_gltf(self, path: str | Path) -> Path:
        """``path`` (.gltf JSON) plus ``<stem>.bin`` beside it."""
        path = Path(path)
        bin_name = path.with_suffix(".bin").name
        atomic_write_bytes(path.with_suffix(".bin"), bytes(self.blob))
        atomic_write_bytes(path, self.json_text(buffer_uri=bin_name).encode())
        return path


# ---- geometry ---------------------------------------------------------------
def box(size=(1.0, 1.0, 1.0), center=(0.0, 0.0, 0.0)):
    """Flat-shaded box: positions (24, 3), normals, uv, faces (12, 3)."""
    s = np.asarray(size, float) / 2
    c = np.asarray(center, float)
    pos, nrm, uv, faces = [], [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            n = np.zeros(3)
            n[axis] = sign
            u_ax, v_ax = [a for a in range(3) if a != axis]
            base = len(pos)
            for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis], p[u_ax], p[v_ax] = sign, du, dv
                pos.append(c + p * s)
                nrm.append(n)
                uv.append(((du + 1) / 2, (dv + 1) / 2))
            quad = [(0, 1, 2), (0, 2, 3)]
            if sign * (1 if (v_ax - u_ax) % 3 == 1 else -1) < 0:
                quad = [(0, 2, 1), (0, 3, 2)]
            faces += [[base + a, base + b, base + c_] for a, b, c_ in quad]
    return (np.array(pos), np.array(nrm), np.array(uv), np.array(faces, np.uint32))


def uv_sphere(radius=1.0, rings=12, segments=24):
    """Positions, normals, uv, faces of a UV sphere."""
    th = np.linspace(0, np.pi, rings + 1)
    ph = np.linspace(0, 2 * np.pi, segments + 1)
    T, P = np.meshgrid(th, ph, indexing="ij")
    n = np.stack([np.sin(T) * np.cos(P), np.cos(T), np.sin(T) * np.sin(P)], -1).reshape(-1, 3)
    uv = np.stack([P / (2 * np.pi), T / np.pi], -1).reshape(-1, 2)
    faces = []
    w = segments + 1
    for i in range(rings):
        for j in range(segments):
            a, b = i * w + j, i * w + j + 1
            c, d = (i + 1) * w + j, (i + 1) * w + j + 1
            faces += [[a, b, c], [b, d, c]]
    return n * radius, n, uv, np.array(faces, np.uint32)


def tube(radius=0.2, height=2.0, rings=8, segments=12):
    """Open cylinder along +Y from 0 to ``height``: positions, normals, faces."""
    y = np.linspace(0, height, rings + 1)
    a = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    Y, A = np.meshgrid(y, a, indexing="ij")
    pos = np.stack([radius * np.cos(A), Y, radius * np.sin(A)], -1).reshape(-1, 3)
    nrm = np.stack([np.cos(A), np.zeros_like(A), np.sin(A)], -1).reshape(-1, 3)
    faces = []
    for i in range(rings):
        for j in range(segments):
            k = (j + 1) % segments
            a0, a1 = i * segments + j, i * segments + k
            b0, b1 = (i + 1) * segments + j, (i + 1) * segments + k
            faces += [[a0, b0, a1], [a1, b0, b1]]
    return pos, nrm, np.array(faces, np.uint32)


def checker(size=16, squares=4, a=(230, 60, 40, 255), b=(250, 230, 90, 255)) -> np.ndarray:
    idx = np.arange(size) * squares // size
    mask = (idx[:, None] + idx[None, :]) % 2 == 0
    return np.where(mask[..., None], np.array(a, np.uint8), np.array(b, np.uint8))


# ---- demo objects -----------------------------------------------------------
def hierarchical_arm(rng: np.random.Generator) -> GltfBuilder:
    """Three links, each a child of the last; LINEAR rotations and a STEP scale."""
    b = GltfBuilder()
    colors = rng.uniform(0.2, 0.9, (3, 3))
    links, meshes = [], []
    for i in range(3):
        p, n, _, f = box((0.3, 1.0, 0.3), center=(0, 0.5, 0))
        col = np.concatenate([np.tile(colors[i], (len(p), 1)), np.ones((len(p), 1))], 1)
        meshes.append(b.mesh(b.primitive(p, f, normals=n, colors=col, material=b.material())))
    links.append(b.node(mesh=meshes[2]))
    links.append(b.node(mesh=meshes[1], children=[links[0]], translation=(0, 1, 0)))
    links.append(b.node(mesh=meshes[0], children=[links[1]], translation=(0, 1, 0)))
    root = b.node(mesh=None, children=[links[2]], translation=(0, -1.5, 0))
    b.scene(root)
    dur = float(rng.uniform(1.0, 3.0))
    times = np.linspace(0, dur, 5)
    chans = []
    for k, node in enumerate(links):
        amp = float(rng.uniform(25, 60)) * (1 if k % 2 else -1)
        angles = amp * np.sin(np.linspace(0, 2 * np.pi, 5) + k)
        chans.append(
            (
                node,
                "rotation",
                times,
                np.stack([quat_axis_angle((0, 0, 1), a) for a in angles]),
                "LINEAR",
            )
        )
    chans.append((root, "scale", [0, dur / 2], [[1, 1, 1], [1.2, 1.2, 1.2]], "STEP"))
    b.animation(chans, name="wave")
    return b


def skinned_tube(rng: np.random.Generator) -> GltfBuilder:
    """A tube skinned to a 3-joint chain bending with CUBICSPLINE rotations."""
    b = GltfBuilder()
    height, rings = 2.0, 12
    pos, nrm, faces = tube(height=height, rings=rings)
    y = pos[:, 1] / height * 2  # 0..2 along the chain of two bones
    j0 = np.clip(np.floor(y), 0, 1).astype(int)
    frac = np.clip(y - j0, 0, 1)
    joints = np.stack([j0, j0 + 1, np.zeros_like(j0), np.zeros_like(j0)], 1)
    weights = np.stack([1 - frac, frac, np.zeros_like(frac), np.zeros_like(frac)], 1)
    color = (*rng.uniform(0.2, 0.9, 3), 1.0)
    mesh = b.mesh(
        b.primitive(
            pos, faces, normals=nrm, material=b.material(color), joints=joints, weights=weights
        )
    )
    j2 = b.node(translation=(0, 1, 0))
    j1 = b.node(translation=(0, 1, 0), children=[j2])
    j0n = b.node(children=[j1])
    ibm = np.stack([np.linalg.inv(_translate((0, float(i), 0))) for i in range(3)])
    skin = b.skin([j0n, j1, j2], ibm)
    body = b.node(mesh=mesh, skin=skin, translation=(5, 0, 0))  # ignored: skinned
    b.scene(j0n, body)
    dur = float(rng.uniform(1.0, 2.5))
    times = np.array([0, dur / 2, dur])
    chans = []
    for node, amp in ((j1, rng.uniform(30, 70)), (j2, rng.uniform(20, 60))):
        q = np.stack([quat_axis_angle((1, 0, 0), a) for a in (0, amp, 0)])
        tangent = np.zeros_like(q)
        chans.append((node, "rotation", times, np.stack([tangent, q, tangent], 1), "CUBICSPLINE"))
    b.animation(chans, name="bend")
    return b


def morphing_blob(rng: np.random.Generator) -> GltfBuilder:
    """A textured sphere with two morph targets and animated weights."""
    b = GltfBuilder()
    pos, nrm, uv, faces = uv_sphere(0.8)
    bulge = np.where(pos[:, 1:2] > 0, pos * 0.6, 0.0)
    squash = pos * np.array([0.4, -0.5, 0.4])
    tex = b.texture(checker(squares=int(rng.integers(2, 6))))
    mesh = b.mesh(
        b.primitive(
            pos,
            faces,
            normals=nrm,
            uv=uv,
            material=b.material(texture=tex),
            targets=[bulge, squash],
        ),
        weights=[0.0, 0.0],
    )
    node = b.node(mesh=mesh)
    b.scene(node)
    dur = float(rng.uniform(1.0, 2.5))
    times = np.linspace(0, dur, 4)
    w = np.array([[0, 0], [1, 0], [0, 1], [0, 0]], float)
    b.animation(
        [
            (node, "weights", times, w.reshape(-1, 1), "LINEAR"),
            (node, "translation", times[[0, -1]], [[0, 0, 0], [0.5, 0, 0]], "LINEAR"),
        ],
        name="morph",
    )
    return b


def _translate(t) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = t
    return m


DEMO_KINDS = {
    "arm": hierarchical_arm,
    "skinned": skinned_tube,
    "morph": morphing_blob,
}


def write_demo_objects(folder: str | Path, count: int = 3, seed: int = 0) -> list[Path]:
    """Write ``count`` procedural animated GLBs (cycling through the kinds) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    kinds = list(DEMO_KINDS)
    paths = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        paths.append(DEMO_KINDS[kind](rng).write_glb(folder / f"{kind}_{seed}_{i:03d}.glb"))
    return paths
