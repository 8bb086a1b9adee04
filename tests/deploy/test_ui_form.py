"""The Prefect UI renders train_sync's run form from its pydantic model (headless Chromium).

Chromium (Debian's ``chromium``, installed by scripts/install.sh) loads the
deployment's "custom run" page, lets the single-page app run on virtual time,
and dumps the DOM; a second call saves a screenshot under ``test-artifacts/``.
No driver, no network beyond loopback.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from core.paths import REPO_ROOT
from model.variants import VARIANT_NAMES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=30000",
    "--window-size=1280,3000",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"


class FormParser(HTMLParser):
    """Field labels, <select> options and number inputs of a Prefect schema form."""

    def __init__(self):
        super().__init__()
        self.labels: list[str] = []
        self.selects: list[list[str]] = []
        self.number_inputs = 0
        self._in_label = False
        self._in_select = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag == "span" and "schema-form-property__label" in cls:
            self._in_label = True
        elif tag == "select" and "placeholder" not in cls:
            self._in_select = True
            self.selects.append([])
        elif tag == "option" and self._in_select:
            self.selects[-1].append(a.get("value", ""))
        elif tag == "div" and "p-number-input" in cls:
            self.number_inputs += 1

    def handle_endtag(self, tag):
        if tag == "span":
            self._in_label = False
        elif tag == "select":
            self._in_select = False

    def handle_data(self, data):
        if self._in_label and data.strip():
            self.labels.append(data.replace("(Optional)", "").strip())


def chromium(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install.sh "
                    "installs Debian's chromium when run as root)")  # fmt: skip
def test_train_sync_run_form_shows_typed_fields(stack):
    dep = stack.api.deployment("train_sync", "gpu")
    url = f"{stack.ui_url}/deployments/deployment/{dep['id']}/run"

    dom = chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    form = FormParser()
    form.feed(dom.stdout)
    assert "Create Flow Run" in dom.stdout, dom.stdout[:2000]
    for label in ("Parent Checkpoint", "Sync", "Preset", "Batch Size", "Pseudo4D Steps", "Lr"):
        assert label in form.labels, f"{label!r} not among the form fields {form.labels}"
    assert ["tiny", "small", "paper"] in form.selects  # Literal -> a select
    assert list(VARIANT_NAMES) in form.selects  # the 4D variants, from their registry
    assert form.number_inputs >= 10  # ints and floats with bounds -> number inputs
    assert "Samples per micro-batch per worker" in dom.stdout  # Field descriptions shown

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "train_sync_run_form.png"
    shot.unlink(missing_ok=True)
    res = chromium(f"--screenshot={shot}", url)
    assert res.returncode == 0 and shot.is_file() and shot.stat().st_size > 10_000, res.stderr
    assert Path(shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
