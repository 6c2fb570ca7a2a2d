"""Every README quick-start command runs as a new user would copy it (issue 15).

Each ``$ gputwin ...`` line of the README's console blocks (and the install line's
``gputwin simulate``) runs in a fresh process, in an empty folder that holds the
checkout's ``examples/`` (outputs land there, not in the checkout). ``../shared/data``
paths resolve through ``$GPUTWIN_DATA_DIR`` (set to the data folder when it exists);
commands that need it skip with a reason when it is absent, and so does a command naming
the user's own file (an upper-case placeholder such as ``MEASUREMENTS.csv``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gputwin.scenario.paths import data_dir

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
NEEDS_DATA = ("../shared/data", "philly-sample", "examples/philly", "examples/openb",
              "examples/kueue")
#: commands whose runs take minutes (full public traces); run with GPUTWIN_README_SLOW=1
SLOW = ("philly-backfill", "openb-fgd")


def quick_start_commands(text: str) -> list[str]:
    """``gputwin ...`` commands of console blocks (``$`` lines, ``\\`` continuations) and
    of ``&&`` chains in other code blocks; expected-error examples are left out."""
    commands: list[str] = []
    for block in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S):
        lang, body = block
        lines = body.replace("\\\n", " ").splitlines()
        for line in lines:
            if lang == "console" and line.startswith("$ gputwin "):
                commands.append(line[2:].split("  #")[0].strip())
            elif lang == "" and "&&" in line:
                parts = [p.strip() for p in line.split("&&")]
                commands += [p for p in parts if p.startswith("gputwin ")]
    return [" ".join(c.split()) for c in commands]


def _expects_error(doc: str, command: str) -> bool:
    """A docs example followed by its ``error:`` line shows a mistake on purpose."""
    return bool(re.search(re.escape(command.split()[-1]) + r"\s*\n\s*error:", doc))


def _cases() -> list[tuple[str, str]]:
    cases = [("README", c) for c in quick_start_commands(README.read_text(encoding="utf-8"))]
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        cases += [(doc.name, c) for c in quick_start_commands(text)
                  if not _expects_error(text, c) and "$ gputwin" in text]
    return cases


def test_readme_has_quick_start_commands() -> None:
    commands = quick_start_commands(README.read_text(encoding="utf-8"))
    assert "gputwin simulate" in commands and len(commands) >= 15


def _skip_reason(command: str) -> str | None:
    data = data_dir()
    if any(marker in command for marker in NEEDS_DATA) and not (data / "traces").is_dir():
        return f"needs the data sets ({data} absent)"
    if re.search(r"\b[A-Z][A-Z_]+\.(csv|yaml)\b", command):
        return "names the user's own file (a placeholder)"
    if command.startswith("gputwin server") and "add-tenant" not in command:
        return "starts a long-running server (tests/server start and stop one)"
    if any(s in command for s in SLOW) and not os.environ.get("GPUTWIN_README_SLOW"):
        return "replays a full public trace (minutes); GPUTWIN_README_SLOW=1 runs it"
    return None


def _run(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True)
    (folder / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "GPUTWIN_DATA_DIR": str(data_dir())}
    args = shlex.split(command, comments=True)
    return subprocess.run([sys.executable, "-m", "gputwin.cli.main", *args[1:]], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every runnable command, run concurrently (each in its own empty folder)."""
    base = tmp_path_factory.mktemp("readme")
    todo = sorted({c for _, c in _cases() if _skip_reason(c) is None})
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {c: pool.submit(_run, c, base / f"cmd{i}") for i, c in enumerate(todo)}
        return {c: f.result() for c, f in futures.items()}


@pytest.mark.parametrize(("source", "command"), _cases(), ids=lambda v: v[:70])
def test_quick_start_command_runs(source: str, command: str,
                                  results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    reason = _skip_reason(command)
    if reason is not None:
        pytest.skip(reason)
    proc = results[command]
    assert proc.returncode == 0, f"{source}: {command}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr


def test_readme_python_examples_run(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for code in blocks:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{code}\n{proc.stderr[-2000:]}"
