"""Video manifests of remote sources (issue 25): ``url`` + ``spans`` + ``caption``.

Real servers on loopback, each on a free port and stopped by pid: an HTTP file
server (``tests.loopback_http``: one URL is a 404, one truncates its body, one
stays silent past the timeout) and the session's SeaweedFS for ``s3://`` URLs.
Real H.264 videos (``synthetic.videos``), real Prefect, real Ray, real catalog.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.store import Catalog
from synthetic.videos import write_video
from tests.loopback_http import start
from tests.servers import stop

FPS = 30  # synthetic.videos' default
SIZE = {"times": 4, "height": 32, "width": 64, "stride": 2}
SPANS_A = [[0.5, 1.5]]  # frames [15, 45)
SPANS_B = [[0.2, 0.9], [1.1, 1.9]]  # frames [6, 27) and [33, 57)
SLOW_S = 4.0  # the slow route's silence; the builds wait 1 s


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("remote-corpus")
    write_video(folder / "a.mp4", 60, 48, 64, seed=11)
    write_video(folder / "b.mp4", 60, 48, 64, seed=12)
    (folder / "not_a_video.mp4").write_text("a text file with a video's name\n")
    return folder


@pytest.fixture(scope="module")
def http(corpus, tmp_path_factory):
    server = start(corpus, tmp_path_factory.mktemp("http-log") / "requests.log", SLOW_S)
    yield server
    stop(server.proc)


def _etag(path: Path) -> str:
    return '"' + hashlib.sha256(path.read_bytes()).hexdigest() + '"'


# ---- the download client -----------------------------------------------------------


def test_fetch_records_what_the_server_said_and_cleans_its_scratch(http, corpus):
    from core.fetch import FetchLimits, fetched, scratch_root

    with fetched(f"{http.url}/a.mp4", FetchLimits(timeout_s=5)) as got:
        assert got.path.read_bytes() == (corpus / "a.mp4").read_bytes()
        assert got.path.parent.parent == scratch_root()
        record = got.record()
    assert not got.path.parent.exists()  # deleted after use
    assert record["status"] == 200 and record["bytes"] == (corpus / "a.mp4").stat().st_size
    assert record["etag"] == _etag(corpus / "a.mp4") and record["url"] == f"{http.url}/a.mp4"


@pytest.mark.parametrize(
    "route, reason, tries",
    [
        ("/missing.mp4", "HTTP 404", 1),  # permanent: never retried
        ("/truncated/a.mp4", "truncated", 2),  # transient: retried once, then failed
        ("/slow/b.mp4", "timed out after 1s", 2),
    ],
)
def test_fetch_failures_are_one_line_reasons(http, route, reason, tries):
    from core.fetch import FetchError, FetchLimits, fetched, scratch_root

    before = len(http.requests())
    limits = FetchLimits(timeout_s=1, retries=1, backoff_s=0.05)
    with pytest.raises(FetchError, match=reason) as e:
        with fetched(http.url + route, limits):
            pass
    assert "\n" not in str(e.value)
    assert len(http.requests()) - before == tries
    assert not any(scratch_root().iterdir())  # nothing left behind


def test_fetch_refuses_a_file_over_the_cap(http):
    from core.fetch import FetchError, FetchLimits, download

    with pytest.raises(FetchError, match="larger than the cap"):
        download(f"{http.url}/a.mp4", Path(tempfile.mkdtemp()) / "x", FetchLimits(max_bytes=100))


# ---- manifests -----------------------------------------------------------------------


def test_manifest_columns_url_spans_caption(tmp_path):
    from tasks.videos.build import discover_sources

    csv = tmp_path / "m.csv"
    csv.write_text(
        "url,spans,caption,license,mode\n"
        'http://127.0.0.1:9/a.mp4,"[[1.5, 3], [0.5, 1.0]]",a cat,cc-by,dynamic\n'
        "ftp://example/b.mp4,,,,\n"
        's3://bucket/c.mp4,"[[2, 1]]",,,\n'
    )
    a, b, c = discover_sources(str(csv))
    assert (a.url, a.uri, a.spans) == (a.path, "http://127.0.0.1:9/a.mp4", ((0.5, 1.0), (1.5, 3.0)))
    assert (a.caption, a.license, a.mode, a.error) == ("a cat", "cc-by", "dynamic", None)
    assert "not http(s):// or s3://" in b.error
    assert "0 <= start < end" in c.error

    jsonl = tmp_path / "m.jsonl"
    rows = [{"url": "s3://bucket/c.mp4", "spans": [[0, 2]]}, {"path": "local.mp4"}]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    c, d = discover_sources(str(jsonl))
    assert c.spans == ((0.0, 2.0),) and c.source_id("x") != "x"  # keyed by bytes and spans
    assert d.url is None and d.path == str(tmp_path / "local.mp4") and d.source_id("x") == "x"


def test_spans_key_the_source_and_the_samples(corpus, tmp_path):
    """Two rows of one video with other spans are two sources with other clips; no spans:
    the ids a plain build always gave."""
    from catalog.ids import sample_id
    from tasks.videos.build import SourceSpec, VideoJob, process_source

    job = VideoJob(kind="clip", out_dir=str(tmp_path / "out"), stride=2, **{
        k: SIZE[k] for k in ("times", "height", "width")
    })  # fmt: skip
    video = str(corpus / "a.mp4")
    plain = process_source(SourceSpec(video), job)
    first = process_source(SourceSpec(video, spans=((0.0, 0.5),)), job)
    second = process_source(SourceSpec(video, spans=((1.0, 1.9),)), job)
    sha = plain.source_row["sha256"]
    assert plain.source_row["source_id"] == sha
    assert plain.sample_rows[0]["sample_id"] == sample_id(
        sha, "clip", "1", job.sample_params(0, "dynamic")
    )
    ids = [r.source_row["source_id"] for r in (plain, first, second)]
    samples = [r.sample_rows[0]["sample_id"] for r in (plain, first, second)]
    assert len(set(ids)) == 3 and len(set(samples)) == 3
    _frames_inside(first.sample_rows, [(0, 15)])
    _frames_inside(second.sample_rows, [(30, 57)])
    outside = process_source(SourceSpec(video, spans=((5.0, 6.0),)), job)
    assert "no span" in outside.sample_rows[0]["error"]


# ---- builds ---------------------------------------------------------------------------


def _manifest(path: Path, rows: list[dict]) -> Path:
    columns = ("url", "spans", "caption", "license")
    table = pa.table(
        {c: [r.get(c) for r in rows] for c in columns},
        schema=pa.schema(
            [
                ("url", pa.string()),
                ("spans", pa.list_(pa.list_(pa.float64()))),
                ("caption", pa.string()),
                ("license", pa.string()),
            ]
        ),
    )
    pq.write_table(table, path)
    return path


def _build_clips(manifest: Path, **options):
    from flows.build_pseudo4d import ClipParams, build_clips

    return build_clips(ClipParams(source=str(manifest), **SIZE, **options))


def _frames_inside(rows: list[dict], segments: list[tuple[int, int]]) -> None:
    assert rows
    for r in rows:
        idx = json.loads(r["params_json"])["derived"]["frame_indices"]
        assert any(a <= min(idx) and max(idx) < b for a, b in segments), (idx, segments)


def test_build_clips_from_http_urls_with_spans(
    prefect_harness, ray_session, http, corpus, tmp_path
):
    from core.paths import data_root
    from core.sample_store import open_sample

    url = http.url
    manifest = _manifest(
        tmp_path / "remote.parquet",
        [
            {
                "url": f"{url}/a.mp4",
                "spans": SPANS_A,
                "caption": "a spinning thing",
                "license": "cc-by",
            },
            {"url": f"{url}/b.mp4", "spans": SPANS_B, "caption": "b"},
            {"url": f"{url}/missing.mp4"},
            {"url": f"{url}/truncated/a.mp4"},
            {"url": f"{url}/slow/b.mp4"},
            {"url": f"{url}/not_a_video.mp4"},
        ],
    )
    options = {"recipe_version": "issue25-http", "clips_per_video": 3, "fetch_timeout_s": 1.0}
    options |= {"fetch_retries": 1}
    first = _build_clips(manifest, **options)
    assert first["sources_failed"] == 4 and first["failed"] == 4, first["failures"]
    assert first["sources_fetched"] == 3  # a, b and the text file arrived whole
    assert first["samples_written"] >= 3

    cat = Catalog()
    sources = {
        r["uri"]: r for r in cat.rows("SELECT * FROM sources WHERE run_id = ?", [first["run_id"]])
    }
    reasons = {
        uri.removeprefix(url): r["error"] for uri, r in sources.items() if r["status"] == "failed"
    }
    assert set(reasons) == {"/missing.mp4", "/truncated/a.mp4", "/slow/b.mp4", "/not_a_video.mp4"}
    assert "HTTP 404" in reasons["/missing.mp4"]
    assert "truncated" in reasons["/truncated/a.mp4"]
    assert "timed out" in reasons["/slow/b.mp4"]
    assert not reasons["/not_a_video.mp4"].startswith("fetch")  # fetched fine, not a video

    a = sources[f"{url}/a.mp4"]  # searchable by its URL, with what the server said
    meta = json.loads(a["meta_json"])
    assert meta["fetch"]["status"] == 200 and meta["fetch"]["etag"] == _etag(corpus / "a.mp4")
    assert meta["fetch"]["bytes"] == a["bytes"] == (corpus / "a.mp4").stat().st_size
    assert a["sha256"] == hashlib.sha256((corpus / "a.mp4").read_bytes()).hexdigest()
    assert (meta["caption"], meta["spans"], a["license"]) == ("a spinning thing", SPANS_A, "cc-by")

    samples = cat.rows(
        "SELECT x.*, s.uri FROM samples x JOIN sources s USING (source_id) "
        "WHERE x.run_id = ? AND x.status = 'ok'",
        [first["run_id"]],
    )
    of_a = [r for r in samples if r["uri"].endswith("/a.mp4")]
    of_b = [r for r in samples if r["uri"].endswith("/b.mp4")]
    _frames_inside(of_a, [(15, 45)])  # clips only inside the spans
    _frames_inside(of_b, [(6, 27), (33, 57)])
    assert len(of_a) + len(of_b) == first["samples_written"]
    for r in of_a:  # the caption reaches the catalog row and the stored sample
        assert json.loads(r["params_json"])["derived"]["caption"] == "a spinning thing"
        assert open_sample(data_root() / r["path"]).attrs["caption"] == "a spinning thing"
    # ... and what training reads of a dataset snapshot
    from catalog.datasets import create_dataset
    from tasks.train.data import resolve_snapshot

    ids = ", ".join(f"'{r['sample_id']}'" for r in samples)
    create_dataset(cat, "issue25-captions", f"sample_id IN ({ids})")
    refs = resolve_snapshot(cat, "issue25-captions", kinds=("clip",)).samples
    captions = {ref.caption for ref in refs}
    assert captions == {"a spinning thing", "b"} and len(refs) == len(samples)

    # a rebuild decides from the catalog: it downloads nothing at all
    before = len(http.requests())
    second = _build_clips(manifest, **options)
    assert len(http.requests()) == before, http.requests()[before:]
    assert second["sources_fetched"] == 0 and second["samples_written"] == 0
    assert sorted(second["skipped_ids"]) == sorted(first["sample_ids"])
    assert second["failed"] == 4  # the bad URLs are still reported, not fetched again

    # asked to, it tries the failed ones again (and only them)
    third = _build_clips(manifest, **options, retry_failed=True)
    fetched = {line.split(" ", 1)[1] for line in http.requests()[before:]}
    assert fetched == {"/missing.mp4", "/truncated/a.mp4", "/slow/b.mp4", "/not_a_video.mp4"}
    assert third["sources_fetched"] == 1 and third["failed"] == 4


def _cli(home: Path, extra_env: dict, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, FOURREAL_HOME=str(home), PREFECT_HOME=str(home / "prefect"), **extra_env)
    env.pop("PREFECT_API_URL", None)
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short socket paths
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    cmd = [sys.executable, "-m", "fourreal.cli", *args]
    return subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=900)


@pytest.mark.slow
def test_cli_builds_clips_from_an_s3_manifest(seaweedfs, corpus, tmp_path):
    """``fourreal build clips manifest.csv --json`` with ``s3://`` URLs, against SeaweedFS."""
    s3 = seaweedfs.filesystem()
    prefix = f"{seaweedfs.bucket}/issue25-corpus"
    for name in ("a.mp4", "not_a_video.mp4"):
        with s3.open_output_stream(f"{prefix}/{name}") as out:
            out.write((corpus / name).read_bytes())
    manifest = tmp_path / "remote.csv"
    manifest.write_text(
        "url,spans,caption\n"
        f's3://{prefix}/a.mp4,"{SPANS_A}",a spinning thing\n'
        f"s3://{prefix}/missing.mp4,,\n"
        f"s3://{prefix}/not_a_video.mp4,,\n"
    )
    home = tmp_path / "home"
    size = [f"--{k}={v}" for k, v in SIZE.items()]
    done = _cli(
        home,
        seaweedfs.env(),
        "build", "clips", str(manifest), *size, "--clips-per-video=2", "--no-curate", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["failed"] == 2 and line["ok"] == 2, line
    cat = Catalog(home / "catalog")
    rows = {
        r["uri"]: r for r in cat.rows("SELECT * FROM sources WHERE run_id = ?", [line["run_id"]])
    }
    assert "not found" in rows[f"s3://{prefix}/missing.mp4"]["error"]
    assert rows[f"s3://{prefix}/a.mp4"]["status"] == "ok"
    samples = cat.rows("SELECT params_json FROM samples WHERE run_id = ?", [line["run_id"]])
    _frames_inside(samples, [(15, 45)])
