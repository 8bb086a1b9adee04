"""glTF 2.0 animation playback: an asset posed at any time, as world-space meshes.

``AnimatedAsset.load(path)`` parses and validates everything once (buffers,
accessors, hierarchy, skins, morph targets, materials, textures, clips);
``asset.pose(t, clip)`` then evaluates the node TRS channels, morph weights
and linear-blend skinning at ``t`` seconds and returns :class:`PosedPrimitive`
objects in the scene's world coordinates, ready for pyrender.

Rules followed (docs/gltf.md): local matrix = ``matrix`` or ``T @ R @ S``;
animated values replace the node's own per path; morph targets before
skinning; the skinned node's own transform is ignored; joint indices index
``skin.joints``; nodes drawn are those reachable from the default scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from renderers.animation import INTERPOLATIONS, Channel, Clip, Sampler, trs_matrix
from renderers.errors import GltfError
from renderers.gltf_io import GltfFile

TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN = 4, 5, 6
DENSE_SKIN_MAX = 8_000_000  # vertices x joints below which skinning is one matmul (64 MB)


@dataclass(frozen=True, eq=False)
class MaterialSpec:
    """What pyrender needs of a glTF material (base colour + PBR factors)."""

    index: int | None
    base_color: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 1.0)
    texture: np.ndarray | None = None  # uint8 [h, w, 4]
    metallic: float = 0.0
    roughness: float = 0.8
    emissive: tuple[float, float, float] = (0.0, 0.0, 0.0)
    alpha_mode: str = "OPAQUE"
    alpha_cutoff: float = 0.5


@dataclass(frozen=True, eq=False)
class PosedPrimitive:
    """One primitive posed at one time, in world coordinates."""

    key: tuple[int, int, int]  # (node, mesh, primitive)
    positions: np.ndarray  # (N, 3) float32
    normals: np.ndarray  # (N, 3) float32
    faces: np.ndarray  # (F, 3) uint32
    colors: np.ndarray | None  # (N, 4) float32 vertex colours
    uv: np.ndarray | None  # (N, 2) float32 for material.texture
    material: MaterialSpec


@dataclass(eq=False)
class _Primitive:
    """Static data of one mesh primitive, read once."""

    positions: np.ndarray  # (N, 3) float64
    normals: np.ndarray | None  # (N, 3)
    faces: np.ndarray  # (F, 3) uint32
    colors: np.ndarray | None
    uv: np.ndarray | None
    material: MaterialSpec
    target_positions: np.ndarray | None = None  # (K, N, 3)
    target_normals: np.ndarray | None = None  # (K, N, 3)
    joints: np.ndarray | None = None  # (N, S) int64, indices into skin.joints
    weights: np.ndarray | None = None  # (N, S) float64, rows sum to 1


@dataclass(eq=False)
class _Draw:
    node: int
    mesh: int
    skin: int | None
    primitives: list[tuple[int, _Primitive]]
    default_weights: np.ndarray  # (K,) node.weights, else mesh.weights, else zeros
    # all primitives skinned: their joints/weights stacked, so one skinning pass per pose
    joints: np.ndarray | None = None  # (sum N, S)
    weights: np.ndarray | None = None  # (sum N, S)
    splits: np.ndarray | None = None  # vertex offsets between primitives
    dense: np.ndarray | None = None  # (sum N, J) weights as a matrix, when small enough


@dataclass(eq=False)
class AnimatedAsset:
    """A validated glTF asset that can be posed at any animation time."""

    path: Path
    clips: list[Clip]
    num_triangles: int
    _parents: np.ndarray = field(repr=False)
    _order: list[int] = field(repr=False)
    _rest: list[tuple] = field(repr=False)  # per node: (matrix or None, t, r, s)
    _draws: list[_Draw] = field(repr=False)
    _skins: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)  # (joint nodes, IBMs)

    @classmethod
    def load(cls, path: str | Path, max_triangles: int | None = None) -> AnimatedAsset:
        return _Loader(Path(path), max_triangles).build()

    # ---- clips -----------------------------------------------------------
    def clip(self, which: int | str | None = None) -> Clip | None:
        """Clip by index or name; ``None`` picks the longest (None when there is none)."""
        if not self.clips:
            if which is not None:
                raise GltfError(f"animation {which!r}: the asset has no animations")
            return None
        if which is None:
            return max(self.clips, key=lambda c: (c.end - c.start, -c.index))
        if isinstance(which, int) or (isinstance(which, str) and which.isdigit()):
            i = int(which)
            if not 0 <= i < len(self.clips):
                raise GltfError(f"animation {i}: out of range ({len(self.clips)} animations)")
            return self.clips[i]
        for c in self.clips:
            if c.name == which:
                return c
        raise GltfError(f"animation {which!r}: no animation with that name")

    # ---- posing ----------------------------------------------------------
    def node_world_matrices(self, t: float, clip: Clip | None) -> tuple[np.ndarray, dict]:
        """World matrices of every node ``[nodes, 4, 4]`` and animated morph weights."""
        overrides: dict[int, dict[str, np.ndarray]] = {}
        if clip is not None:
            for ch in clip.channels:
                overrides.setdefault(ch.node, {})[ch.path] = ch.sampler(t)
        n = len(self._rest)
        world = np.empty((n, 4, 4))
        for i in self._order:
            matrix, tr, rot, sc = self._rest[i]
            o = overrides.get(i)
            if o and ("translation" in o or "rotation" in o or "scale" in o):
                local = trs_matrix(
                    o.get("translation", tr), o.get("rotation", rot), o.get("scale", sc)
                )
            elif matrix is not None:
                local = matrix
            else:
                local = trs_matrix(tr, rot, sc)
            p = self._parents[i]
            world[i] = local if p < 0 else world[p] @ local
        weights = {node: o["weights"] for node, o in overrides.items() if "weights" in o}
        return world, weights

    def pose(self, t: float, clip: Clip | None = None) -> list[PosedPrimitive]:
        """Every drawn primitive at time ``t`` (seconds), in world coordinates."""
        world, anim_weights = self.node_world_matrices(t, clip)
        out = []
        for draw in self._draws:
            w = anim_weights.get(draw.node, draw.default_weights)
            if draw.skin is not None:
                joint_nodes, ibm = self._skins[draw.skin]
                joint_mats = world[joint_nodes] @ ibm  # (J, 4, 4)
            morphed = [_morph(prim, w) for _, prim in draw.primitives]
            if draw.joints is not None:  # one skinning pass over all primitives
                pos = np.concatenate([m[0] for m in morphed])
                has_n = all(m[1] is not None for m in morphed)
                nrm = np.concatenate([m[1] for m in morphed]) if has_n else None
                pos, nrm = _skin(pos, nrm, draw.joints, draw.weights, joint_mats, draw.dense)
                morphed = list(
                    zip(
                        np.split(pos, draw.splits),
                        np.split(nrm, draw.splits) if has_n else [None] * len(morphed),
                        strict=True,
                    )
                )
            else:
                morphed = [
                    _skin(p, n, prim.joints, prim.weights, joint_mats)
                    if draw.skin is not None and prim.joints is not None
                    else _rigid(p, n, world[draw.node])
                    for (_, prim), (p, n) in zip(draw.primitives, morphed, strict=True)
                ]
            for (pi, prim), (pos, nrm) in zip(draw.primitives, morphed, strict=True):
                if nrm is None or prim.normals is None:
                    nrm = vertex_normals(pos, prim.faces)
                out.append(
                    PosedPrimitive(
                        key=(draw.node, draw.mesh, pi),
                        positions=pos.astype(np.float32),
                        normals=nrm.astype(np.float32),
                        faces=prim.faces,
                        colors=prim.colors,
                        uv=prim.uv,
                        material=prim.material,
                    )
                )
        return out


def _morph(prim: _Primitive, w: np.ndarray):
    pos, nrm = prim.positions, prim.normals
    if prim.target_positions is not None and len(w):
        k = min(len(w), len(prim.target_positions))
        if np.any(w[:k]):
            pos = pos + np.tensordot(w[:k], prim.target_positions[:k], axes=1)
            if nrm is not None and prim.target_normals is not None:
                nrm = nrm + np.tensordot(w[:k], prim.target_normals[:k], axes=1)
    return pos, nrm


def _blend(joints, weights, joint_mats, dense=None) -> np.ndarray:
    """Per-vertex skinning matrices ``(N, 3, 4)``: ``sum_k w_k * world(joint_k) @ IBM_k``."""
    if dense is not None:  # (N, J) weights: one matrix product
        J = len(joint_mats)
        return (dense @ joint_mats[:, :3, :].reshape(J, 12)).reshape(-1, 3, 4)
    blend = np.zeros((len(joints), 3, 4))
    for s in range(joints.shape[1]):
        ws = weights[:, s]
        if np.any(ws):
            blend += ws[:, None, None] * joint_mats[joints[:, s], :3, :]  # (N, 3, 4)
    return blend


def _skin(pos, nrm, joints, weights, joint_mats, dense=None):
    """Linear-blend skinning: ``p' = sum_k w_k * (world(joint_k) @ IBM_k) @ p``."""
    blend = _blend(joints, weights, joint_mats, dense)
    lin = blend[:, :, :3]
    out = (lin @ pos[:, :, None])[:, :, 0] + blend[:, :, 3]
    if nrm is not None:
        nrm = _unit((lin @ nrm[:, :, None])[:, :, 0])
    return out, nrm


def _rigid(pos, nrm, m):
    out = pos @ m[:3, :3].T + m[:3, 3]
    if nrm is not None:
        try:
            nm = np.linalg.inv(m[:3, :3]).T
        except np.linalg.LinAlgError:
            nm = m[:3, :3]
        nrm = _unit(nrm @ nm.T)
    return out, nrm


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.sqrt(np.einsum("...i,...i->...", v, v))[..., None]
    return v / np.maximum(n, 1e-12)


def vertex_normals(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (for primitives without NORMAL)."""
    tri = pos[faces]  # (F, 3, 3)
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = np.zeros_like(pos)
    for c in range(3):
        np.add.at(vn, faces[:, c], fn)
    n = np.linalg.norm(vn, axis=1, keepdims=True)
    return np.where(n > 0, vn / np.maximum(n, 1e-12), np.array([0.0, 1.0, 0.0]))


def triangles(indices: np.ndarray, mode: int) -> np.ndarray:
    """Triangle list ``(F, 3)`` from a TRIANGLES / STRIP / FAN index stream."""
    n = len(indices)
    if mode == TRIANGLES:
        return indices[: n - n % 3].reshape(-1, 3)
    if n < 3:
        return np.zeros((0, 3), indices.dtype)
    i = np.arange(n - 2)
    if mode == TRIANGLE_STRIP:
        odd = (i % 2).astype(bool)
        a = np.where(odd, indices[i + 1], indices[i])
        b = np.where(odd, indices[i], indices[i + 1])
        return np.stack([a, b, indices[i + 2]], axis=1)
    return np.stack([np.full(n - 2, indices[0]), indices[i + 1], indices[i + 2]], axis=1)


class _Loader:
    """Builds an :class:`AnimatedAsset`, validating as it reads."""

    def __init__(self, path: Path, max_triangles: int | None):
        self.path = path
        self.max_triangles = max_triangles
        self.f = GltfFile.load(path)
        self.doc = self.f.doc
        self.nodes = self.doc.nodes or []
        self.materials: dict[int | None, MaterialSpec] = {}

    def build(self) -> AnimatedAsset:
        parents, order = self._hierarchy()
        drawn = self._drawn_nodes()
        self._check_triangle_cap(drawn)
        rest = [self._rest(i) for i in range(len(self.nodes))]
        skins = self._skins()
        draws = []
        for i in drawn:
            node = self.nodes[i]
            if node.mesh is None:
                continue
            draws.append(self._draw(i, node, skins))
        num_tris = sum(len(p.faces) for d in draws for _, p in d.primitives)
        if num_tris == 0:
            raise GltfError("no triangles to render (the scene draws no triangle primitives)")
        clips = self._clips(draws)
        return AnimatedAsset(
            path=self.path,
            clips=clips,
            num_triangles=num_tris,
            _parents=parents,
            _order=order,
            _rest=rest,
            _draws=draws,
            _skins=skins,
        )

    # ---- scene graph -----------------------------------------------------
    def _hierarchy(self) -> tuple[np.ndarray, list[int]]:
        n = len(self.nodes)
        parents = np.full(n, -1, np.int64)
        for i, node in enumerate(self.nodes):
            for c in node.children or []:
                if not 0 <= c < n:
                    raise GltfError(f"nodes[{i}].children: node {c} does not exist")
                if parents[c] >= 0 or c == i:
                    raise GltfError(f"nodes[{c}] has more than one parent")
                parents[c] = i
        order, stack = [], [i for i in range(n) if parents[i] < 0][::-1]
        while stack:
            i = stack.pop()
            order.append(i)
            stack.extend(reversed(self.nodes[i].children or []))
        if len(order) != n:
            raise GltfError("node hierarchy contains a cycle")
        return parents, order

    def _drawn_nodes(self) -> list[int]:
        scenes = self.doc.scenes or []
        if scenes:
            s = self.doc.scene if self.doc.scene is not None else 0
            if not 0 <= s < len(scenes):
                raise GltfError(f"scene: scene {s} does not exist")
            roots = scenes[s].nodes or []
        else:  # no scene: draw every root node
            roots = [i for i in range(len(self.nodes))]
        out, stack = [], list(roots)[::-1]
        for r in roots:
            if not 0 <= r < len(self.nodes):
                raise GltfError(f"scenes[{s}].nodes: node {r} does not exist")
        while stack:
            i = stack.pop()
            out.append(i)
            stack.extend(reversed(self.nodes[i].children or []))
        return out

    def _check_triangle_cap(self, drawn: list[int]) -> None:
        if self.max_triangles is None:
            return
        meshes = self.doc.meshes or []
        total = 0
        for i in drawn:
            m = self.nodes[i].mesh
            if m is None or not 0 <= m < len(meshes):
                continue
            for pi, p in enumerate(meshes[m].primitives or []):
                mode = TRIANGLES if p.mode is None else p.mode
                what = f"meshes[{m}].primitives[{pi}]"
                src = p.indices if p.indices is not None else p.attributes.POSITION
                n = self.f.accessor_count(src, what)
                total += n // 3 if mode == TRIANGLES else max(n - 2, 0) if mode in (5, 6) else 0
        if total > self.max_triangles:
            raise GltfError(f"triangle count {total} is over the cap of {self.max_triangles}")

    def _rest(self, i: int) -> tuple:
        node = self.nodes[i]
        if node.matrix is not None and len(node.matrix) == 16:
            m = np.asarray(node.matrix, np.float64).reshape(4, 4).T  # column-major
            if not np.all(np.isfinite(m)):
                raise GltfError(f"nodes[{i}].matrix contains NaN/inf")
            return (m, np.zeros(3), np.array([0.0, 0, 0, 1]), np.ones(3))
        t = np.asarray(node.translation if node.translation is not None else [0, 0, 0], float)
        r = np.asarray(node.rotation if node.rotation is not None else [0, 0, 0, 1], float)
        s = np.asarray(node.scale if node.scale is not None else [1, 1, 1], float)
        if t.shape != (3,) or r.shape != (4,) or s.shape != (3,):
            raise GltfError(f"nodes[{i}]: malformed translation/rotation/scale")
        if not all(np.all(np.isfinite(a)) for a in (t, r, s)):
            raise GltfError(f"nodes[{i}]: TRS contains NaN/inf")
        return (None, t, r, s)

    def _skins(self) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for si, skin in enumerate(self.doc.skins or []):
            joints = np.asarray(skin.joints or [], np.int64)
            if len(joints) == 0:
                raise GltfError(f"skins[{si}]: no joints")
            bad = [int(j) for j in joints if not 0 <= j < len(self.nodes)]
            if bad:
                raise GltfError(f"skins[{si}].joints: joint node {bad[0]} does not exist")
            if skin.inverseBindMatrices is None:
                ibm = np.tile(np.eye(4), (len(joints), 1, 1))
            else:
                ibm = self.f.accessor(skin.inverseBindMatrices, f"skins[{si}].inverseBindMatrices")
                if ibm.ndim != 3 or len(ibm) < len(joints):
                    raise GltfError(
                        f"skins[{si}].inverseBindMatrices: {len(ibm)} matrices for "
                        f"{len(joints)} joints"
                    )
                ibm = np.asarray(ibm[: len(joints)], np.float64)
                if not np.all(np.isfinite(ibm)):
                    raise GltfError(f"skins[{si}].inverseBindMatrices contains NaN/inf")
            out.append((joints, ibm))
        return out

    # ---- meshes ----------------------------------------------------------
    def _draw(self, i: int, node, skins) -> _Draw:
        meshes = self.doc.meshes or []
        if not 0 <= node.mesh < len(meshes):
            raise GltfError(f"nodes[{i}].mesh: mesh {node.mesh} does not exist")
        mesh = meshes[node.mesh]
        skin = node.skin
        if skin is not None and not 0 <= skin < len(skins):
            raise GltfError(f"nodes[{i}].skin: skin {skin} does not exist")
        prims = []
        for pi, p in enumerate(mesh.primitives or []):
            mode = TRIANGLES if p.mode is None else p.mode
            if mode not in (TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN):
                continue  # points and lines are not surfaces
            prim = self._primitive(
                node.mesh, pi, p, mode, skins[skin] if skin is not None else None
            )
            if len(prim.faces):
                prims.append((pi, prim))
        k = max(
            (len(p.target_positions) for _, p in prims if p.target_positions is not None), default=0
        )
        raw_node = (self.f.raw.get("nodes") or [])[i]
        default = raw_node.get("weights")
        if default is None:
            default = (self.f.raw.get("meshes") or [])[node.mesh].get("weights")
        w = np.zeros(k)
        if default is not None:
            d = np.asarray(default, float)[:k]
            w[: len(d)] = d
        draw = _Draw(node=i, mesh=node.mesh, skin=skin, primitives=prims, default_weights=w)
        if skin is not None and prims and all(p.joints is not None for _, p in prims):
            width = max(p.joints.shape[1] for _, p in prims)

            def pad(a):
                return np.pad(a, ((0, 0), (0, width - a.shape[1])))

            draw.joints = np.concatenate([pad(p.joints) for _, p in prims])
            draw.weights = np.concatenate([pad(p.weights) for _, p in prims])
            draw.splits = np.cumsum([len(p.positions) for _, p in prims])[:-1]
            num_joints = len(skins[skin][0])
            if len(draw.joints) * num_joints <= DENSE_SKIN_MAX:
                dense = np.zeros((len(draw.joints), num_joints))
                rows = np.repeat(np.arange(len(draw.joints)), width)
                np.add.at(dense, (rows, draw.joints.ravel()), draw.weights.ravel())
                draw.dense = dense
        return draw

    def _primitive(self, m: int, pi: int, p, mode: int, skin) -> _Primitive:
        what = f"meshes[{m}].primitives[{pi}]"
        attrs = p.attributes
        if attrs.POSITION is None:
            raise GltfError(f"{what}: no POSITION attribute")
        pos = self._attr(attrs.POSITION, f"{what}.POSITION", 3)
        n = len(pos)
        if not np.all(np.isfinite(pos)):
            raise GltfError(f"{what}.POSITION contains NaN/inf vertices")
        nrm = self._attr(attrs.NORMAL, f"{what}.NORMAL", 3, n) if attrs.NORMAL is not None else None
        if nrm is not None and not np.all(np.isfinite(nrm)):
            nrm = None  # broken normals: recompute from the geometry
        if p.indices is not None:
            idx = self.f.accessor(p.indices, f"{what}.indices")
            if idx.shape[1] != 1 or idx.dtype.kind != "u":
                raise GltfError(f"{what}.indices: must be unsigned integer scalars")
            idx = idx[:, 0].astype(np.int64)
            if idx.size and idx.max() >= n:
                raise GltfError(f"{what}.indices: index {idx.max()} >= vertex count {n}")
        else:
            idx = np.arange(n, dtype=np.int64)
        faces = triangles(idx, mode).astype(np.uint32)
        mat = self._material(p.material)
        colors = None
        if attrs.COLOR_0 is not None:
            c = self._attr(attrs.COLOR_0, f"{what}.COLOR_0", None, n)
            if c.shape[1] not in (3, 4):
                raise GltfError(f"{what}.COLOR_0: must be VEC3 or VEC4")
            if c.shape[1] == 3:
                c = np.concatenate([c, np.ones((n, 1))], axis=1)
            colors = np.clip(c, 0, 1).astype(np.float32)
        uv = None
        if mat.texture is not None:
            tc = self._tex_coord_set(p.material)
            uv_acc = getattr(attrs, f"TEXCOORD_{tc}", None)
            if uv_acc is not None:
                uv = self._attr(uv_acc, f"{what}.TEXCOORD_{tc}", 2, n).astype(np.float32)
        prim = _Primitive(
            positions=pos,
            normals=nrm,
            faces=faces,
            colors=colors,
            uv=uv,
            material=mat if uv is not None else _untextured(mat),
        )
        if p.targets:
            tp, tn = [], []
            for ti, target in enumerate(p.targets):
                get = (
                    target.get
                    if isinstance(target, dict)
                    else lambda k, t=target: getattr(t, k, None)
                )
                a = get("POSITION")
                tp.append(
                    self._attr(a, f"{what}.targets[{ti}].POSITION", 3, n)
                    if a is not None
                    else np.zeros((n, 3))
                )
                b = get("NORMAL")
                tn.append(
                    self._attr(b, f"{what}.targets[{ti}].NORMAL", 3, n)
                    if b is not None
                    else np.zeros((n, 3))
                )
            prim.target_positions = np.stack(tp)
            if not np.all(np.isfinite(prim.target_positions)):
                raise GltfError(f"{what}.targets: POSITION displacements contain NaN/inf")
            prim.target_normals = np.stack(tn) if nrm is not None else None
        if skin is not None:
            self._skin_attributes(prim, attrs, what, n, len(skin[0]))
        return prim

    def _skin_attributes(self, prim: _Primitive, attrs, what: str, n: int, num_joints: int):
        js, ws, s = [], [], 0
        while True:
            ja = getattr(attrs, f"JOINTS_{s}", None)  # pygltflib keeps extra sets as attributes
            wa = getattr(attrs, f"WEIGHTS_{s}", None)
            if ja is None or wa is None:
                break
            j = self.f.accessor(ja, f"{what}.JOINTS_{s}")
            w = self._attr(wa, f"{what}.WEIGHTS_{s}", 4, n)
            if j.shape != (n, 4) or j.dtype.kind != "u":
                raise GltfError(f"{what}.JOINTS_{s}: must be unsigned VEC4 with {n} entries")
            js.append(j.astype(np.int64))
            ws.append(w)
            s += 1
        if not js:
            return
        joints, weights = np.concatenate(js, 1), np.concatenate(ws, 1)
        weights = np.where(np.isfinite(weights), np.maximum(weights, 0), 0)
        used = weights > 0
        if np.any(joints[used] >= num_joints):
            bad = int(joints[used].max())
            raise GltfError(f"{what}.JOINTS_0: joint index {bad} but the skin has {num_joints}")
        joints = np.where(used, joints, 0)
        total = weights.sum(1, keepdims=True)
        if np.any(total <= 0):
            raise GltfError(f"{what}.WEIGHTS_0: a vertex has no positive skin weight")
        prim.joints, prim.weights = joints, weights / total

    def _attr(self, index, what: str, ncomp: int | None, count: int | None = None) -> np.ndarray:
        a = self.f.accessor(index, what)
        if ncomp is not None and a.shape[1] != ncomp:
            raise GltfError(f"{what}: expected {ncomp} components, got {a.shape[1]}")
        if count is not None and len(a) != count:
            raise GltfError(f"{what}: {len(a)} entries for {count} vertices")
        return np.asarray(a, np.float64)

    def _tex_coord_set(self, mi: int | None) -> int:
        pbr = (self.doc.materials or [])[mi].pbrMetallicRoughness
        return int(pbr.baseColorTexture.texCoord or 0)

    def _material(self, mi: int | None) -> MaterialSpec:
        if mi in self.materials:
            return self.materials[mi]
        mats = self.doc.materials or []
        if mi is None:
            spec = MaterialSpec(index=None)
        else:
            if not 0 <= mi < len(mats):
                raise GltfError(f"material {mi} does not exist")
            m = mats[mi]
            pbr = m.pbrMetallicRoughness
            tex = None
            bc = (1.0, 1.0, 1.0, 1.0)
            metallic, rough = 1.0, 1.0
            if pbr is not None:
                if pbr.baseColorFactor is not None:
                    bc = tuple(float(x) for x in pbr.baseColorFactor)
                metallic = 1.0 if pbr.metallicFactor is None else float(pbr.metallicFactor)
                rough = 1.0 if pbr.roughnessFactor is None else float(pbr.roughnessFactor)
                if pbr.baseColorTexture is not None:
                    tex = self._texture(pbr.baseColorTexture.index, mi)
            spec = MaterialSpec(
                index=mi,
                base_color=bc,
                texture=tex,
                metallic=metallic,
                roughness=rough,
                emissive=tuple(float(x) for x in (m.emissiveFactor or (0, 0, 0))),
                alpha_mode=m.alphaMode or "OPAQUE",
                alpha_cutoff=0.5 if m.alphaCutoff is None else float(m.alphaCutoff),
            )
        self.materials[mi] = spec
        return spec

    def _texture(self, ti: int | None, mi: int) -> np.ndarray | None:
        texs = self.doc.textures or []
        if ti is None or not 0 <= ti < len(texs):
            raise GltfError(f"materials[{mi}].baseColorTexture: texture {ti} does not exist")
        src = texs[ti].source
        if src is None:
            return None  # only an extension's source (e.g. basisu): draw untextured
        return self.f.image_rgba(src)

    # ---- animations ------------------------------------------------------
    def _clips(self, draws: list[_Draw]) -> list[Clip]:
        targets = {d.node: len(d.default_weights) for d in draws}
        clips = []
        for ai, anim in enumerate(self.doc.animations or []):
            channels = []
            for ci, ch in enumerate(anim.channels or []):
                what = f"animations[{ai}].channels[{ci}]"
                tgt = ch.target
                if tgt is None or tgt.node is None:
                    continue  # e.g. KHR_animation_pointer targets: not played
                if not 0 <= tgt.node < len(self.nodes):
                    raise GltfError(f"{what}.target.node: node {tgt.node} does not exist")
                if tgt.path not in ("translation", "rotation", "scale", "weights"):
                    continue
                samplers = anim.samplers or []
                if ch.sampler is None or not 0 <= ch.sampler < len(samplers):
                    raise GltfError(f"{what}.sampler: sampler {ch.sampler} does not exist")
                s = samplers[ch.sampler]
                ncomp = {"translation": 3, "rotation": 4, "scale": 3}.get(tgt.path)
                if tgt.path == "weights":
                    ncomp = targets.get(tgt.node, 0)
                    if ncomp == 0:
                        continue  # weights of a node without morph targets
                channels.append(
                    Channel(
                        tgt.node, tgt.path, self._sampler(s, ncomp, tgt.path, f"{what} sampler")
                    )
                )
            name = anim.name or f"animation_{ai}"
            if channels:
                clips.append(Clip(index=ai, name=name, channels=tuple(channels)))
        return clips

    def _sampler(self, s, ncomp: int, path: str, what: str) -> Sampler:
        interp = s.interpolation or "LINEAR"
        if interp not in INTERPOLATIONS:
            raise GltfError(f"{what}: interpolation {interp!r} unknown")
        times = np.asarray(self.f.accessor(s.input, f"{what}.input"), np.float64)
        if times.shape[1] != 1 or len(times) == 0:
            raise GltfError(f"{what}.input: must be a non-empty SCALAR accessor")
        times = times[:, 0]
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
            raise GltfError(f"{what}.input: key times must be finite and increasing")
        out = np.asarray(self.f.accessor(s.output, f"{what}.output"), np.float64)
        n = len(times)
        per_key = 3 if interp == "CUBICSPLINE" else 1
        values = out.reshape(-1)
        if values.size != n * per_key * ncomp:
            raise GltfError(
                f"{what}.output: {values.size} values for {n} keys x {per_key} x {ncomp}"
            )
        if not np.all(np.isfinite(values)):
            raise GltfError(f"{what}.output contains NaN/inf")
        values = values.reshape(n, 3, ncomp) if per_key == 3 else values.reshape(n, ncomp)
        return Sampler(times, values, interp, is_rotation=path == "rotation")


def _untextured(mat: MaterialSpec) -> MaterialSpec:
    """The material without its texture (a primitive without the UV set it needs)."""
    if mat.texture is None:
        return mat
    return MaterialSpec(
        index=mat.index,
        base_color=mat.base_color,
        texture=None,
        metallic=mat.metallic,
        roughness=mat.roughness,
        emissive=mat.emissive,
        alpha_mode=mat.alpha_mode,
        alpha_cutoff=mat.alpha_cutoff,
    )
