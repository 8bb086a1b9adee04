"""The custom event a finished dataset emits, which deployment triggers chain on.

Event ``fourreal.dataset.built``::

    resource  prefect.resource.id   fourreal.dataset.<name>
              prefect.resource.name <name>
              fourreal.dataset.new  "true" when this build made a new snapshot,
                                    "false" when an identical one existed (a
                                    no-op rebuild); triggers match on "true" so
                                    an unchanged corpus does not retrain.
    related   fourreal.snapshot.<dataset_id>  (role: snapshot)
              the emitting flow run / deployment (added by Prefect)
    payload   dataset_id, name, num_samples, content_hash, new, counts

A trigger in ``prefect.yaml`` picks it up and templates the snapshot id into
the training flow's parameters (Jinja, rendered by the server)::

    triggers:
      - type: event
        expect: [fourreal.dataset.built]
        match: {prefect.resource.id: fourreal.dataset.demo, fourreal.dataset.new: "true"}
        parameters:
          params: {dataset: "{{ event.payload.dataset_id }}", ...}

Without a Prefect API (plain library use) nothing is sent and nothing fails.
"""

from __future__ import annotations

from collections.abc import Mapping

DATASET_BUILT = "fourreal.dataset.built"
RESOURCE_PREFIX = "fourreal.dataset."


def dataset_resource_id(name: str) -> str:
    return f"{RESOURCE_PREFIX}{name}"


def dataset_event_payload(
    name: str,
    dataset_id: str,
    counts: Mapping[str, int] | None = None,
    *,
    num_samples: int | None = None,
    content_hash: str | None = None,
    new: bool = True,
) -> dict:
    """The event payload (JSON-able): what a trigger template can read."""
    if not name:
        raise ValueError("name: a dataset event needs the dataset name")
    if not dataset_id:
        raise ValueError("dataset_id: a dataset event needs the snapshot id")
    counts = {str(k): int(v) for k, v in (counts or {}).items()}
    if num_samples is None:
        num_samples = counts.get("samples", counts.get("ok", 0))
    return {
        "dataset_id": dataset_id,
        "name": name,
        "num_samples": int(num_samples),
        "content_hash": content_hash,
        "new": bool(new),
        "counts": counts,
    }


def emit_dataset_event(
    name: str,
    dataset_id: str,
    counts: Mapping[str, int] | None = None,
    *,
    num_samples: int | None = None,
    content_hash: str | None = None,
    new: bool = True,
):
    """Emit ``fourreal.dataset.built``; returns the Event (None when events are off).

    ``counts`` is whatever the build counted (``ok``, ``failed``, ``skipped``,
    per kind, ...); ``num_samples`` defaults to ``counts["samples"]`` or
    ``counts["ok"]``.
    """
    from prefect.events import emit_event

    payload = dataset_event_payload(
        name, dataset_id, counts, num_samples=num_samples, content_hash=content_hash, new=new
    )
    return emit_event(
        event=DATASET_BUILT,
        resource={
            "prefect.resource.id": dataset_resource_id(name),
            "prefect.resource.name": name,
            "fourreal.dataset.new": "true" if new else "false",
        },
        related=[
            {
                "prefect.resource.id": f"fourreal.snapshot.{dataset_id}",
                "prefect.resource.role": "snapshot",
                "prefect.resource.name": f"{name}@{dataset_id[:12]}",
            }
        ],
        payload=payload,
    )


def emit_for_snapshot(row: Mapping, *, new: bool, counts: Mapping[str, int] | None = None):
    """Emit for a ``datasets`` catalog row (as ``create_dataset`` returns it)."""
    return emit_dataset_event(
        row["name"],
        row["dataset_id"],
        counts if counts is not None else {"samples": row["num_samples"]},
        num_samples=row["num_samples"],
        content_hash=row.get("content_hash"),
        new=new,
    )
