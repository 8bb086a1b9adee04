"""Reading a glTF 2.0 document: GLB / JSON, buffers, accessors, images.

Everything is validated while it is read (byte ranges, indices, counts) and
every problem raises :class:`GltfError` with the offending field named.
pygltflib parses the JSON into dataclasses; numpy reads the binary data.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pygltflib

from renderers.errors import GltfError

GLB_MAGIC = b"glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942

COMPONENT_DTYPES: dict[int, np.dtype] = {
    5120: np.dtype("<i1"),
    5121: np.dtype("<u1"),
    5122: np.dtype("<i2"),
    5123: np.dtype("<u2"),
    5125: np.dtype("<u4"),
    5126: np.dtype("<f4"),
}
TYPE_SIZES: dict[str, int] = {
    "SCALAR": 1,
    "VEC2": 2,
    "VEC3": 3,
    "VEC4": 4,
    "MAT2": 4,
    "MAT3": 9,
    "MAT4": 16,
}
# Extensions whose absence of support would draw the asset wrongly.
SUPPORTED_REQUIRED = {"KHR_mesh_quantization", "KHR_materials_unlit", "KHR_texture_transform"}
MAX_TEXTURE_SIDE = 1024  # textures are downscaled to this; outputs are at most 512 wide


def parse_container(data: bytes) -> tuple[str, bytes | None]:
    """Split a file's bytes into (JSON text, GLB binary chunk or None)."""
    if data[:4] == GLB_MAGIC:
        if len(data) < 12:
            raise GltfError("truncated GLB: shorter than its 12-byte header")
        _, version, length = struct.unpack_from("<4sII", data, 0)
        if version != 2:
            raise GltfError(f"GLB header version {version} is not 2")
        if length > len(data):
            raise GltfError(f"truncated GLB: header says {length} bytes, file has {len(data)}")
        text, blob, off = None, None, 12
        while off + 8 <= length:
            chunk_len, chunk_type = struct.unpack_from("<II", data, off)
            off += 8
            if off + chunk_len > length:
                raise GltfError(f"truncated GLB: chunk at byte {off - 8} runs past the end")
            chunk = data[off : off + chunk_len]
            off += chunk_len
            if chunk_type == CHUNK_JSON and text is None:
                text = _decode_text(chunk)
            elif chunk_type == CHUNK_BIN and blob is None:
                blob = bytes(chunk)
        if text is None:
            raise GltfError("GLB has no JSON chunk")
        return text, blob
    text = _decode_text(data)
    if not text.lstrip().startswith("{"):
        raise GltfError("not a glTF file: neither the GLB magic 'glTF' nor a JSON object")
    return text, None


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GltfError("not a glTF file: neither the GLB magic 'glTF' nor UTF-8 JSON") from None


def parse_document(text: str) -> tuple[pygltflib.GLTF2, dict]:
    """The pygltflib document and the raw JSON (for fields pygltflib drops, e.g. node.weights)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise GltfError(f"invalid glTF JSON: {e}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("asset"), dict):
        raise GltfError("invalid glTF JSON: missing the 'asset' object")
    version = str(raw["asset"].get("version", ""))
    if not version.startswith("2"):
        raise GltfError(f"asset.version {version!r}: only glTF 2.x is supported")
    for ext in raw.get("extensionsRequired") or []:
        if ext not in SUPPORTED_REQUIRED:
            raise GltfError(f"extensionsRequired: {ext} is not supported")
    try:
        return pygltflib.GLTF2.from_json(text, infer_missing=True), raw
    except Exception as e:  # pygltflib raises many types on malformed fields
        raise GltfError(f"invalid glTF JSON structure: {type(e).__name__}: {e}") from None


def _local_file(base_dir: Path, uri: str, what: str) -> Path:
    """A URI relative to the glTF's folder; never outside it."""
    rel = urllib.parse.unquote(uri)
    if "://" in rel or rel.startswith("/") or Path(rel).is_absolute():
        raise GltfError(f"{what}: uri {uri!r} is not a relative file path")
    base = base_dir.resolve()
    path = (base / rel).resolve()
    if base not in path.parents:
        raise GltfError(f"{what}: uri {uri!r} points outside the asset's folder")
    if not path.exists():
        raise GltfError(f"{what}: external file {uri!r} is missing")
    return path


def _data_uri(uri: str, what: str) -> bytes:
    head, _, payload = uri.partition(",")
    if not head.endswith(";base64"):
        raise GltfError(f"{what}: data URI is not base64")
    try:
        return base64.b64decode(payload, validate=False)
    except ValueError as e:
        raise GltfError(f"{what}: bad base64 data URI: {e}") from None


@dataclass
class GltfFile:
    """A parsed document with its buffers loaded and an accessor cache."""

    doc: pygltflib.GLTF2
    raw: dict
    buffers: list[bytes]
    base_dir: Path
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> GltfFile:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise GltfError(f"cannot read {path.name}: {e}") from None
        text, blob = parse_container(data)
        doc, raw = parse_document(text)
        buffers = []
        for i, buf in enumerate(doc.buffers or []):
            what = f"buffers[{i}]"
            if buf.uri is None:
                if i != 0 or blob is None:
                    raise GltfError(f"{what}: no uri and no GLB binary chunk")
                content = blob
            elif buf.uri.startswith("data:"):
                content = _data_uri(buf.uri, what)
            else:
                content = _local_file(path.parent, buf.uri, what).read_bytes()
            if buf.byteLength is None or len(content) < buf.byteLength:
                raise GltfError(
                    f"{what}: has {len(content)} bytes, byteLength says {buf.byteLength}"
                )
            buffers.append(content)
        return cls(doc=doc, raw=raw, buffers=buffers, base_dir=path.parent)

    # ---- accessors -------------------------------------------------------
    def _view_bytes(self, view_index: int, what: str) -> tuple[bytes, int, int, int | None]:
        views = self.doc.bufferViews or []
        if not 0 <= view_index < len(views):
            raise GltfError(f"{what}: bufferView {view_index} out of range ({len(views)} views)")
        bv = views[view_index]
        if not 0 <= bv.buffer < len(self.buffers):
            raise GltfError(f"bufferViews[{view_index}]: buffer {bv.buffer} out of range")
        buf = self.buffers[bv.buffer]
        start = bv.byteOffset or 0
        if bv.byteLength is None or start < 0 or start + bv.byteLength > len(buf):
            raise GltfError(
                f"bufferViews[{view_index}]: bytes {start}..{start + (bv.byteLength or 0)} "
                f"outside buffer {bv.buffer} of {len(buf)} bytes"
            )
        return buf, start, bv.byteLength, bv.byteStride

    def _read_strided(
        self, view_index: int, offset: int, dtype: np.dtype, ncomp: int, count: int, what: str
    ) -> np.ndarray:
        buf, start, length, stride = self._view_bytes(view_index, what)
        elem = dtype.itemsize * ncomp
        stride = stride or elem
        if stride < elem:
            raise GltfError(f"{what}: byteStride {stride} smaller than the element ({elem} bytes)")
        if count == 0:
            return np.zeros((0, ncomp), dtype)
        need = offset + stride * (count - 1) + elem
        if offset < 0 or need > length:
            raise GltfError(
                f"{what}: byte range {offset}..{need} outside bufferView {view_index} "
                f"of {length} bytes"
            )
        arr = np.ndarray(
            (count, ncomp),
            dtype=dtype,
            buffer=buf,
            offset=start + offset,
            strides=(stride, dtype.itemsize),
        )
        return arr.copy()

    def accessor(self, index: int | None, what: str = "accessor") -> np.ndarray:
        """Accessor ``index`` as ``(count, ncomp)`` (floats for float/normalised data)."""
        accessors = self.doc.accessors or []
        if index is None or not 0 <= index < len(accessors):
            raise GltfError(f"{what}: accessor {index} out of range ({len(accessors)} accessors)")
        if index in self._cache:
            return self._cache[index]
        acc = accessors[index]
        what = f"{what} (accessors[{index}])"
        dtype = COMPONENT_DTYPES.get(acc.componentType)
        ncomp = TYPE_SIZES.get(acc.type)
        if dtype is None or ncomp is None:
            raise GltfError(f"{what}: bad componentType {acc.componentType} / type {acc.type}")
        if acc.type in ("MAT2", "MAT3") and dtype.itemsize < 4:
            raise GltfError(f"{what}: padded {acc.type} of {dtype} is not supported")
        count = acc.count or 0
        if count < 0:
            raise GltfError(f"{what}: negative count")
        if acc.bufferView is None:
            arr = np.zeros((count, ncomp), dtype)
        else:
            arr = self._read_strided(acc.bufferView, acc.byteOffset or 0, dtype, ncomp, count, what)
        if acc.sparse is not None and acc.sparse.count:
            sp = acc.sparse
            idx_dtype = COMPONENT_DTYPES.get(sp.indices.componentType)
            if idx_dtype is None or idx_dtype.kind != "u":
                raise GltfError(f"{what}: sparse indices componentType {sp.indices.componentType}")
            idx = self._read_strided(
                sp.indices.bufferView,
                sp.indices.byteOffset or 0,
                idx_dtype,
                1,
                sp.count,
                f"{what} sparse indices",
            )[:, 0].astype(np.int64)
            if idx.size and idx.max() >= count:
                raise GltfError(f"{what}: sparse index {idx.max()} >= count {count}")
            vals = self._read_strided(
                sp.values.bufferView,
                sp.values.byteOffset or 0,
                dtype,
                ncomp,
                sp.count,
                f"{what} sparse values",
            )
            arr[idx] = vals
        if acc.normalized and dtype.kind in "iu":
            bits = dtype.itemsize * 8
            if dtype.kind == "u":
                arr = arr.astype(np.float32) / np.float32(2**bits - 1)
            else:
                arr = np.maximum(arr.astype(np.float32) / np.float32(2 ** (bits - 1) - 1), -1.0)
        if acc.type == "MAT4":
            arr = arr.reshape(count, 4, 4).transpose(0, 2, 1)  # column-major in the file
        arr.setflags(write=False)
        self._cache[index] = arr
        return arr

    def accessor_count(self, index: int | None, what: str) -> int:
        accessors = self.doc.accessors or []
        if index is None or not 0 <= index < len(accessors):
            raise GltfError(f"{what}: accessor {index} out of range ({len(accessors)} accessors)")
        return int(accessors[index].count or 0)

    # ---- images ----------------------------------------------------------
    def image_rgba(self, index: int) -> np.ndarray:
        """Image ``index`` decoded to uint8 ``[h, w, 4]`` (downscaled to MAX_TEXTURE_SIDE)."""
        from PIL import Image

        images = self.doc.images or []
        what = f"images[{index}]"
        if not 0 <= index < len(images):
            raise GltfError(f"{what}: out of range ({len(images)} images)")
        img = images[index]
        if img.bufferView is not None:
            buf, start, length, _ = self._view_bytes(img.bufferView, what)
            raw = buf[start : start + length]
        elif img.uri and img.uri.startswith("data:"):
            raw = _data_uri(img.uri, what)
        elif img.uri:
            raw = _local_file(self.base_dir, img.uri, what).read_bytes()
        else:
            raise GltfError(f"{what}: neither bufferView nor uri")
        try:
            with Image.open(io.BytesIO(raw)) as im:
                im.draft("RGB", (MAX_TEXTURE_SIDE, MAX_TEXTURE_SIDE))
                im = im.convert("RGBA")
                if max(im.size) > MAX_TEXTURE_SIDE:
                    im.thumbnail((MAX_TEXTURE_SIDE, MAX_TEXTURE_SIDE))
                return np.asarray(im, dtype=np.uint8).copy()
        except Exception as e:  # PIL raises many types on bad data
            raise GltfError(f"{what}: texture failed to decode: {type(e).__name__}: {e}") from None
