"""Animated glTF objects -> V x T grids (docs/data.md#animated-objects---grids). No Prefect in here.

- ``gltf_io``: GLB/JSON, buffers, accessors, images, validated (``GltfError``).
- ``animation``: samplers (STEP / LINEAR with slerp / CUBICSPLINE), clips.
- ``gltf``: ``AnimatedAsset.load(path).pose(t, clip)`` -> world-space ``PosedPrimitive``s
  (hierarchy, skinning, morph targets, materials, textures, vertex colours).
- ``camera``: ``CameraArc`` and ``arc_cameras`` (OpenCV K and w2c in the glTF world).
- ``render``: ``GridRenderer`` (pyrender offscreen, one context reused).
- ``job``: ``RenderSpec``, ``render_object``, ``render_job`` (writes the grid .npz).
- ``pool``: ``RenderPool`` / ``run_jobs`` on Ray actors (timeouts, crash retries).
- ``sources``: local folders/globs, Objaverse selection and download.
- ``filters``: silhouette motion, active fraction of a clip.
- ``procedural``: ``GltfBuilder`` and ``write_demo_objects`` (animated GLBs).
"""
