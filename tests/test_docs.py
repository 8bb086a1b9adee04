"""The design documents live in the repository and stay in step with the code.

* No tracked file names a document (``*.md``, ``*.rst``) that is not in the
  repository: every such name must resolve, from the file's folder or the
  repository root, to a file inside the repository; with a ``#anchor``, to a
  heading of that file. (So ``docs/model.md#rectified-flow`` in a docstring is
  checked, and a pointer to a notes file kept elsewhere fails.)
* Every relative link of README.md and docs/*.md points to an existing file,
  and its anchor to an existing heading.
* Every repository path (``tasks/videos/clips.py``) and dotted module name
  (``model.flow.flow_loss``) the docs cite in backticks exists, so a moved or
  renamed module shows up here instead of misleading a reader.

* The "where each stage lives" tables (README.md, docs/README.md) hold: every library
  path is Prefect-free, every Prefect-tasks path holds ``@task``s, every flow named is
  a flow of ``flows/``, and every ``fourreal ...`` command of the CLI column answers
  ``--help`` (the one test here that imports the project: the CLI itself).

Plain text scanning otherwise, no imports of the project: cheap enough for every run.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A document name: no scheme or path before it (URLs are not ours to check).
DOC_REF = re.compile(r"(?<![\w/.:-])([\w./-]*[\w-]\.(?:md|rst))\b(#[\w-]+)?")
MD_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(r"^[\w.-]+(?:/[\w.-]+)*/?$")
MODULE = re.compile(
    r"^(fourreal|core|flows|tasks|renderers|model|catalog|synthetic)(\.[A-Za-z_]\w*)+$"
)
# Dotted names that are not modules: Prefect event and resource names, file names.
NOT_MODULES = ("fourreal.dataset.", "fourreal.snapshot.")
FILE_SUFFIXES = {"py", "json", "yaml", "toml", "duckdb", "safetensors", "npz", "parquet", "png"}
SKIP_DIRS = {".git", ".venv", "data", "__pycache__", "node_modules"}


@functools.cache
def tracked_files() -> tuple[Path, ...]:
    """Files of the repository: ``git ls-files``, or a walk when git is unavailable."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = [
            str(p.relative_to(REPO))
            for p in REPO.rglob("*")
            if p.is_file() and not SKIP_DIRS & set(p.relative_to(REPO).parts)
        ]
    return tuple(REPO / n for n in names if (REPO / n).is_file())


def read_text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def doc_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    """Anchors of the headings of a Markdown file (code fences skipped)."""
    found, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)):
            base = slug(m.group(1))
            name, n = base, 0
            while name in found:  # repeated headings get -1, -2, ...
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return frozenset(found)


def inside_repo(path: Path) -> bool:
    path = path.resolve()
    return path == REPO or REPO in path.parents


def check_target(target: str, anchor: str | None, candidates: list[Path]) -> str | None:
    """None if ``target`` names a file inside the repository (and ``anchor`` a heading of it)."""
    if Path(target).is_absolute():
        candidates = [Path(target)]
    for cand in candidates:
        if not (inside_repo(cand) and cand.exists()):
            continue
        if anchor and cand.suffix == ".md" and anchor not in anchors(cand.resolve()):
            return f"no heading #{anchor} in {cand.resolve().relative_to(REPO)}"
        return None
    return "not a file of this repository"


def test_no_reference_to_documents_outside_the_repository():
    errors = []
    for path in tracked_files():
        text = read_text(path)
        if text is None:
            continue
        rel = path.relative_to(REPO)
        for lineno, line in enumerate(text.splitlines(), 1):
            for m in DOC_REF.finditer(line):
                target, anchor = m.group(1), (m.group(2) or "")[1:] or None
                problem = check_target(target, anchor, [path.parent / target, REPO / target])
                if problem:
                    errors.append(f"{rel}:{lineno}: {m.group(0)}: {problem}")
    assert not errors, "references to documents that are not in the repository:\n" + "\n".join(
        errors
    )


def test_links_of_the_docs_resolve():
    errors = []
    for page in doc_pages():
        rel = page.relative_to(REPO)
        for lineno, line in enumerate(page.read_text().splitlines(), 1):
            for m in MD_LINK.finditer(line):
                link = m.group(1)
                if "://" in link or link.startswith("mailto:"):
                    continue
                target, _, anchor = link.partition("#")
                if not target:  # an anchor of this page
                    if anchor not in anchors(page):
                        errors.append(f"{rel}:{lineno}: ({link}): no such heading here")
                    continue
                problem = check_target(target, anchor or None, [page.parent / target])
                if problem:
                    errors.append(f"{rel}:{lineno}: ({link}): {problem}")
    assert not errors, "broken links in README.md / docs/:\n" + "\n".join(errors)


def module_problem(name: str) -> str | None:
    """None if the dotted ``name`` is a package, a module, or a name defined in a module."""
    parts = name.split(".")
    path = REPO / parts[0]
    for i, part in enumerate(parts[1:], 1):
        if (path / part).is_dir():
            path = path / part
            continue
        if (path / f"{part}.py").is_file():
            source = (path / f"{part}.py").read_text()
            for attr in parts[i + 1 :]:
                defined = rf"^\s*(?:def|class)\s+{attr}\b|^\s*{attr}\s*[:=]"
                if not re.search(defined, source, re.MULTILINE):
                    return f"{attr} is not defined in {path.relative_to(REPO)}/{part}.py"
            return None
        return f"no module {'.'.join(parts[: i + 1])}"
    return None


def test_paths_and_modules_cited_by_the_docs_exist():
    top_level = {p.relative_to(REPO).parts[0] for p in tracked_files()}
    errors = []
    for page in doc_pages():
        rel = page.relative_to(REPO)
        for lineno, line in enumerate(page.read_text().splitlines(), 1):
            for m in CODE_SPAN.finditer(line):
                span = m.group(1).strip()
                problem = None
                if MODULE.match(span):
                    if span.startswith(NOT_MODULES) or span.rsplit(".", 1)[1] in FILE_SUFFIXES:
                        continue
                    problem = module_problem(span)
                elif REPO_PATH.match(span) and "/" in span and span.split("/")[0] in top_level:
                    if not (REPO / span).exists():
                        problem = "no such path in the repository"
                if problem:
                    errors.append(f"{rel}:{lineno}: `{span}`: {problem}")
    assert not errors, "paths and modules the docs cite but the code lacks:\n" + "\n".join(errors)


# Built from pieces so that this file does not hold the markers it looks for.
CONFLICT_START, CONFLICT_SEP, CONFLICT_END = "<" * 7, "=" * 7, ">" * 7
CONFLICT_BASE = "|" * 7  # diff3 style: the common ancestor's side


def conflict_markers(text: str) -> list[int]:
    """Line numbers of merge-conflict markers: ``<<<<<<<``, ``|||||||`` and ``>>>>>>>``
    at a line's start (alone or before a space), and a lone ``=======`` between them."""
    found, inside = [], False
    for lineno, line in enumerate(text.splitlines(), 1):
        head = line.split(" ", 1)[0]
        if head == CONFLICT_START:
            found.append(lineno)
            inside = True
        elif head in (CONFLICT_BASE, CONFLICT_END) and inside:
            found.append(lineno)
            inside = head != CONFLICT_END
        elif head == CONFLICT_END or (line.rstrip() == CONFLICT_SEP and inside):
            found.append(lineno)
    return found


def test_conflict_markers_are_found():
    sides = [CONFLICT_START + " HEAD", "ours", CONFLICT_SEP, "theirs", CONFLICT_END + " main"]
    assert conflict_markers("\n".join(["a", *sides, "b"])) == [2, 4, 6]
    assert conflict_markers("Title\n=======\n\n| a |\n") == []  # a setext heading
    assert conflict_markers("x\n" + CONFLICT_END + " other\n") == [2]  # a half-resolved one


def test_no_tracked_file_holds_merge_conflict_markers():
    errors = []
    for path in tracked_files():
        text = read_text(path)
        if text is None:
            continue
        rel = path.relative_to(REPO)
        errors += [f"{rel}:{n}" for n in conflict_markers(text)]
    assert not errors, "unresolved merge-conflict markers:\n" + "\n".join(errors)


# ---- the "where each stage lives" tables ---------------------------------------------

STAGE_TABLE_HEADING = re.compile(r"^(?:#+\s*)?Where each stage lives\b", re.IGNORECASE)
# The app layer may orchestrate: `fourreal/stack/` deploys through Prefect's own API.
APP_LAYER = ("fourreal/stack/", "fourreal/commands/", "fourreal/cli.py")
PREFECT_IMPORT = re.compile(r"^\s*(?:from|import)\s+prefect\b", re.MULTILINE)
FLOW_NAME = re.compile(r"@flow\(name=\"(\w+)\"|^FLOW_NAME\s*=\s*\"(\w+)\"", re.MULTILINE)


def stage_tables() -> list[tuple[str, list[dict[str, list[str]]]]]:
    """(page, rows) of each stage table; a row maps a column's header to its code spans."""
    tables = []
    for page in (REPO / "README.md", REPO / "docs" / "README.md"):
        lines = page.read_text().splitlines()
        start = next(i for i, line in enumerate(lines) if STAGE_TABLE_HEADING.match(line))
        first = next(i for i, line in enumerate(lines) if i > start and line.startswith("|"))
        rows = []
        for line in lines[first:]:
            if not line.startswith("|"):
                break
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        header, body = rows[0], rows[2:]  # rows[1] is the |---| line
        spans = [
            {h: CODE_SPAN.findall(cell) for h, cell in zip(header, row, strict=True)}
            for row in body
        ]
        tables.append((str(page.relative_to(REPO)), spans))
    return tables


def column(row: dict[str, list[str]], prefix: str) -> list[str]:
    return [s for header, spans in row.items() if header.startswith(prefix) for s in spans]


def python_files(span: str) -> list[Path]:
    """The .py files a path span names (a file, or every file under a folder)."""
    path = REPO / span.split(" ")[0].rstrip("/")
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    return [path] if path.suffix == ".py" and path.is_file() else []


def flow_names() -> set[str]:
    names = set()
    for path in (REPO / "flows").glob("*.py"):
        for m in FLOW_NAME.finditer(path.read_text()):
            names.add(m.group(1) or m.group(2))
    return names


def test_stage_tables_are_found_and_have_every_column():
    for page, rows in stage_tables():
        assert len(rows) >= 8, f"{page}: the stage table was not found or lost rows"
        for row in rows:
            assert any(h.startswith("library") for h in row), f"{page}: no library column"


def test_stage_tables_library_code_is_prefect_free_and_tasks_hold_tasks():
    errors = []
    for page, rows in stage_tables():
        for row in rows:
            for span in column(row, "library"):
                if span.startswith(APP_LAYER):
                    continue
                for path in python_files(span):
                    if path.name != "tasks.py" and PREFECT_IMPORT.search(path.read_text()):
                        errors.append(f"{page}: `{span}`: {path.relative_to(REPO)} imports prefect")
            for span in column(row, "Prefect tasks"):
                files = python_files(span)
                if not files or not all("@task" in p.read_text() for p in files):
                    errors.append(f"{page}: `{span}` is listed as Prefect tasks but holds none")
    assert not errors, "\n".join(errors)


def test_stage_tables_name_real_flows():
    known, errors = flow_names(), []
    for page, rows in stage_tables():
        for row in rows:
            for span in column(row, "flow"):
                if "/" in span:
                    if not python_files(span) or not FLOW_NAME.search(
                        python_files(span)[0].read_text()
                    ):
                        errors.append(f"{page}: `{span}` holds no flow")
                elif span not in known:
                    errors.append(f"{page}: `{span}` is not a flow of flows/ ({sorted(known)})")
    assert not errors, "\n".join(errors)


def cli_invocations(span: str) -> list[list[str]]:
    """``fourreal train base/sync`` -> [["train", "base"], ["train", "sync"]]."""
    words = span.split()[1:]
    combos: list[list[str]] = [[]]
    for word in words:
        if word.startswith("-"):
            break
        combos = [c + [alt] for c in combos for alt in word.split("/")]
    return combos


def test_stage_tables_name_real_commands():
    from typer.testing import CliRunner

    from fourreal.cli import app

    runner, errors, checked = CliRunner(), [], 0
    for page, rows in stage_tables():
        for row in rows:
            for span in column(row, "CLI"):
                if not span.startswith("fourreal "):
                    continue
                for words in cli_invocations(span):
                    checked += 1
                    result = runner.invoke(app, [*words, "--help"])
                    if result.exit_code != 0:
                        errors.append(f"{page}: `fourreal {' '.join(words)}` is not a command")
    assert checked >= 20, "the README's CLI column was not read"
    assert not errors, "\n".join(errors)
