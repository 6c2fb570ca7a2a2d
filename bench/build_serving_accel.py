"""Compile the simulator's hot modules with mypyc (optional, 2.5-3x faster).

    python bench/build_serving_accel.py          # build in place (needs mypy and a C compiler)
    python bench/build_serving_accel.py --clean  # remove the compiled modules

The compiled modules are the same code as the sources (mypy-strict), so results are
identical (tests/serving pass against them, golden summaries byte-identical). They sit next
to their sources under src/gputwin/ (git-ignored) with a stamp of the sources' hashes
(src/gputwin/_accel_stamp.json); ``gputwin`` ignores them, with a warning, as soon as a
source changes (:mod:`gputwin._accel`). ``pip install .`` compiles the same modules into
the installed package (setup.py); this script builds them in a source checkout. The
pure-Python package is the reference and runs everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from gputwin._accel import GROUP, MODULES, STAMP, compiled, source_hashes  # noqa: E402

PACKAGE = SRC / "gputwin"

SETUP = """
from setuptools import setup
from mypyc.build import mypycify
setup(name={group!r}, script_args=["build_ext", "--inplace", "--build-temp", {tmp!r}],
      ext_modules=mypycify({paths!r}, opt_level="3", group_name={group!r}))
"""


def clean() -> None:
    folders = {(PACKAGE / m).parent for m in MODULES}
    built = [p for f in folders for p in f.glob("*.so")]
    for path in [*built, *SRC.glob(f"{GROUP}__mypyc*.so"), PACKAGE / STAMP]:
        path.unlink(missing_ok=True)


def build() -> None:
    clean()
    paths = [f"gputwin/{m}.py" for m in MODULES]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "setup_accel.py"
        script.write_text(SETUP.format(group=GROUP, tmp=tmp, paths=paths))
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        subprocess.run([sys.executable, str(script)], cwd=SRC, env=env, check=True)
    shutil.rmtree(SRC / "build", ignore_errors=True)
    shutil.rmtree(SRC / ".mypy_cache", ignore_errors=True)
    (PACKAGE / STAMP).write_text(json.dumps(source_hashes(PACKAGE), indent=1) + "\n")
    print(f"compiled: {', '.join(compiled(PACKAGE))} (stamp {PACKAGE / STAMP})")


if __name__ == "__main__":
    clean() if "--clean" in sys.argv[1:] else build()
