"""Flow ``build_objaverse_grids``: animated glTF objects -> V x T grids (docs/data.md#animated-objects---grids).

Run it from Python::

    from flows.build_objaverse import BuildObjaverseParams, build_grids
    build_grids(BuildObjaverseParams(source="objects/", views=4, times=4, height=64, width=64))

from the Prefect UI (the parameter model renders as a form), or through a
deployment. Idempotent: a rerun skips sample ids already ``ok`` in the
catalog with their file present. A broken object becomes a ``failed`` row
with the reason; the build goes on.
"""

from __future__ import annotations

from prefect import flow
from prefect.utilities.annotations import quote
from pydantic import Field, model_validator

from core.flow_params import FlowParams, RayAddress, Seed
from core.flow_params import output_path as resolve_output
from flows.common import interrupted_by, recorded_build
from flows.grid_params import GridSizeMixin, StoreQualityMixin
from renderers.sources import Selection
from renderers.spec import render_spec
from tasks.objects.animations import ALL, DEFAULT_MAX_ANIMATIONS
from tasks.objects.build import OK, BuildConfig, node_counts, summary_table
from tasks.objects.tasks import (
    discover_sources_task,
    plan_jobs_task,
    publish_summary_task,
    render_jobs_task,
)

FLOW_NAME = "build_objaverse_grids"


class BuildObjaverseParams(GridSizeMixin, StoreQualityMixin, FlowParams):
    """Parameters of ``build_objaverse_grids``."""

    source: str = Field(
        "objaverse",
        min_length=1,
        description="'objaverse' (from the Hugging Face hub: HF_ENDPOINT, HF_TOKEN, "
        "HF_HUB_OFFLINE apply), or a folder / glob of .glb/.gltf files",
    )
    # -- Objaverse selection
    objaverse_cache: str | None = Field(
        None, description="Hugging Face hub cache folder for Objaverse (default: the hub's own)"
    )
    uids: list[str] | None = Field(None, description="Only these Objaverse uids (curated subset)")
    min_animations: int = Field(1, ge=0, description="Keep objects with this many animations")
    max_faces: int | None = Field(200_000, ge=1, description="Objaverse faceCount cap")
    licenses: list[str] | None = Field(
        None, description="Licences to keep, e.g. ['by', 'by-sa', 'cc0'] (None: any)"
    )
    limit: int | None = Field(None, ge=0, description="At most this many objects")
    download_processes: int = Field(
        1,
        ge=1,
        le=64,
        description="Unused: Objaverse objects are fetched by the Ray workers, one task each",
    )
    # -- what each grid shows
    animation: str | None = Field(
        None,
        description="Animation index or name (None: the longest); 'all': one sample per "
        "animation, up to max_animations",
    )
    max_animations: int = Field(
        DEFAULT_MAX_ANIMATIONS, ge=1, le=256, description="With --animation all: at most this many"
    )
    azimuth_deg: float = Field(0.0, ge=-360, le=360, description="Middle of the camera arc")
    azimuth_span_deg: float = Field(90.0, ge=0, le=360, description="First to last view")
    azimuth_jitter_deg: float = Field(
        180.0, ge=0, le=180, description="Seeded random offset of the arc per object"
    )
    elevation_deg: float = Field(15.0, ge=-89, le=89, description="Camera elevation")
    yfov_deg: float = Field(40.0, ge=1, le=150, description="Vertical field of view")
    background: float = Field(1.0, ge=0, le=1, description="Background grey level of rgb")
    # -- filters
    max_triangles: int | None = Field(500_000, ge=1, description="Fail objects with more")
    min_motion: float = Field(
        0.02, ge=0, le=1, description="Drop objects whose silhouettes change less than this"
    )
    min_active_fraction: float = Field(
        0.0, ge=0, le=1, description="Drop animations that stop before this fraction of the clip"
    )
    # -- execution
    seed: Seed = 0
    ray_address: RayAddress = None
    num_workers: int | None = Field(None, ge=1, le=4096, description="Actors (None: Ray CPUs)")
    timeout_s: float = Field(300.0, gt=0, le=86400, description="Per-object time limit")
    max_retries: int = Field(2, ge=0, le=10, description="Retries of a crashed worker's object")
    output_dir: str = Field("grids/objaverse", description="Output folder under the data root")
    recipe_version: str = Field(
        "1", pattern=r"^[A-Za-z0-9._-]{1,32}$", description="Bump to rebuild everything"
    )
    contact_sheet_grids: int = Field(4, ge=0, le=64, description="Grids on the contact sheet")

    @model_validator(mode="after")
    def _check(self):
        resolve_output(self.output_dir, "output_dir")
        return self

    def selection(self) -> Selection:
        return Selection(
            min_animations=self.min_animations,
            max_faces=self.max_faces,
            licenses=None if self.licenses is None else tuple(self.licenses),
            uids=None if self.uids is None else tuple(self.uids),
            limit=self.limit,
        )

    def build_config(self) -> BuildConfig:
        animation = None if self.animation == ALL else self.animation
        spec = render_spec(
            views=self.views,
            times=self.times,
            height=self.height,
            width=self.width,
            animation=animation,
            azimuth_deg=self.azimuth_deg,
            azimuth_span_deg=self.azimuth_span_deg,
            elevation_deg=self.elevation_deg,
            yfov_deg=self.yfov_deg,
            max_triangles=self.max_triangles,
            min_motion=self.min_motion,
            min_active_fraction=self.min_active_fraction,
            background=self.background,
        )
        return BuildConfig(
            spec=spec,
            recipe_version=self.recipe_version,
            out_dir=str(resolve_output(self.output_dir, "output_dir")),
            seed=self.seed,
            azimuth_jitter_deg=self.azimuth_jitter_deg,
            quality=self.store_quality(),
            all_animations=self.animation == ALL,
            max_animations=self.max_animations,
        )


@flow(name=FLOW_NAME, log_prints=True)
def build_objaverse_grids(params: BuildObjaverseParams) -> dict:
    """Render animated objects to grids; returns counts, sample ids and the run id."""
    with recorded_build(FLOW_NAME, params) as rec:
        cfg = params.build_config()
        items = discover_sources_task(
            params.source, params.selection(), params.objaverse_cache, params.ray_address
        )
        # quote(): Prefect walks every task argument looking for futures; over 10,000
        # sources that walk cost more than all the rest of a no-op rebuild
        jobs, skipped = plan_jobs_task(quote(items), cfg)
        # rows are recorded as results arrive: a killed build keeps what it recorded
        results = render_jobs_task(
            quote(items),
            quote(jobs),
            cfg,
            rec.run_id,
            params.ray_address,
            params.num_workers,
            params.timeout_s,
            params.max_retries,
        )
        # a stopped build (SIGTERM/SIGINT) has None for the renders it never finished
        tried = {j.get("item", j["key"]) for j, r in zip(jobs, results, strict=True) if r}
        for i, item in enumerate(items):
            if i in tried or item.sha256 is None:  # skipped objects are not this run's inputs
                rec.add_input("sources", item.source_id)
        ok = [j for j, r in zip(jobs, results, strict=True) if r is not None and r["status"] == OK]
        for job in ok:
            rec.add_output("samples", job["sample_id"])
        table = summary_table(items, jobs, results, skipped)
        finished = [r for r in results if r is not None]
        grids = [r["out"] for r in finished if r["status"] == OK][: params.contact_sheet_grids]
        sheet = publish_summary_task(
            quote(table), grids, f"{cfg.out_dir}/contact_sheets/{rec.run_id}.png", FLOW_NAME
        )
        return {
            "run_id": rec.run_id,
            "ok": len(ok),
            "failed": sum(r["status"] == "failed" for r in table),
            "skipped": len(skipped),
            "sample_ids": [j["sample_id"] for j in ok],
            "skipped_ids": [s["sample_id"] for s in skipped],
            "failures": {r["source"]: r["error"] for r in table if r["status"] == "failed"},
            "contact_sheet": sheet,
            # renders per Ray node: how the work spread over the cluster
            "nodes": node_counts(results),
            "interrupted": interrupted_by(),  # SIGTERM | SIGINT | None
        }


def build_grids(params: BuildObjaverseParams | dict | None = None, **overrides) -> dict:
    """Plain entry point (demo, scripts): validate the parameters, run the flow."""
    if params is None or isinstance(params, dict):
        params = BuildObjaverseParams(**{**(params or {}), **overrides})
    elif overrides:
        params = params.model_copy(update=overrides)
        params = BuildObjaverseParams(**params.model_dump())
    return build_objaverse_grids(params)
