"""A two-node Ray cluster on this machine renders into a data root on a real S3 server.

``ray start --head`` plus ``ray start --address ...`` (one CPU each, and a custom
resource per node), then ``build_objaverse_grids`` against that cluster with
``FOURREAL_HOME=s3://...`` (SeaweedFS): every render names the cluster node it ran on (one of the two;
which ones get work depends on how fast each worker starts, so the test does not
demand both), every sample is in the bucket and in the catalog. The test stops exactly the processes the two ``ray start`` made
(found by the cluster's own temp dir and port), never another Ray on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from synthetic.objects import write_demo_objects
from tests.servers import RayNodes

N_OBJECTS = 6

DRIVER = textwrap.dedent(
    """
    import json, sys
    from flows.build_objaverse import BuildObjaverseParams, build_objaverse_grids

    out = build_objaverse_grids(BuildObjaverseParams(
        source=sys.argv[1], ray_address=sys.argv[2], num_workers=2, views=2, times=2,
        height=32, width=32, min_motion=0.0,
    ))
    import ray

    result = {k: out[k] for k in ("ok", "failed", "sample_ids", "nodes")}
    result["cluster_nodes"] = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    print(json.dumps(result))
    """
)


@pytest.mark.slow
def test_two_node_build_writes_every_sample_to_s3(seaweedfs, prefect_api_url, tmp_path):
    objects = tmp_path / "objects"
    write_demo_objects(objects, count=N_OBJECTS, seed=5)
    cluster = RayNodes()
    try:
        cluster.start(resources={"head_node": 1})
        cluster.start(resources={"second_node": 1})

        prefix = "multinode"
        run_env = dict(cluster.env(), **seaweedfs.env())
        run_env.update(
            FOURREAL_HOME=f"s3://{seaweedfs.bucket}/{prefix}",
            FOURREAL_LOCAL=str(tmp_path / "local"),
            PREFECT_HOME=str(tmp_path / "prefect"),
            # the session's API: a temporary server costs ~20 s; the cluster is the point
            PREFECT_API_URL=prefect_api_url,
        )
        res = subprocess.run(
            [sys.executable, "-c", DRIVER, str(objects), cluster.address],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        out = json.loads(res.stdout.strip().splitlines()[-1])
    finally:
        cluster.stop()
    assert out["ok"] == N_OBJECTS and out["failed"] == 0
    # rendered on the cluster (a local Ray would name a node of its own), all counted
    assert len(out["cluster_nodes"]) == 2, out["cluster_nodes"]
    assert set(out["nodes"]) <= set(out["cluster_nodes"]), out
    assert sum(out["nodes"].values()) == N_OBJECTS, out["nodes"]

    # every sample is in the bucket (written by the workers) and in the catalog
    from catalog.store import Catalog

    rows = Catalog(tmp_path / "local" / "catalog").rows(
        "SELECT sample_id, path, bytes FROM samples WHERE status = 'ok'"
    )
    assert sorted(r["sample_id"] for r in rows) == sorted(out["sample_ids"])
    s3 = seaweedfs.filesystem()
    for r in rows:
        info = s3.get_file_info(f"{seaweedfs.bucket}/{prefix}/{r['path']}")
        assert info.size == r["bytes"] > 0, r
    assert not cluster.pids()  # exactly what we started is gone
