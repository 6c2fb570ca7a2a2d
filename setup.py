"""Build hook: compile the simulator's hot modules with mypyc when it can, never fail for it.

``pip install .`` builds a wheel; during ``build_ext`` this compiles the serving simulator's
hot modules (``gputwin._accel.MODULES``: the engine, the event kernel, the arrival feed and
the step model; the same mypy-strict sources) into extension modules next to their
installed sources, with a stamp of the sources' hashes, so the simulator runs 2.5-3 times
as fast. Anything that goes wrong — mypyc missing, no C compiler, a type error, a failed
link — prints one line and installs the pure-Python package (the
reference; identical results). Editable installs (``pip install -e .``) stay pure unless
``GPUTWIN_ACCEL=1``; ``GPUTWIN_ACCEL=0`` skips compiling everywhere (and, at run time,
makes an installed compiled build import its sources: gputwin/_accel.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import Distribution, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "src" / "gputwin"
# mypy on the engine alone: third-party packages are not in the isolated build environment
# (their types become Any; the engine's own code is typed throughout)
MYPY_CONFIG = "[mypy]\npython_version = 3.11\nmypy_path = {src}\nignore_missing_imports = True\n" \
              "follow_imports = silent\n"


def _accel_module() -> Any:
    """``gputwin/_accel.py`` on its own (importing the package needs its deps)."""
    spec = importlib.util.spec_from_file_location("_gputwin_accel", PACKAGE / "_accel.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _skipped(exc: BaseException) -> None:
    print(f"gputwin: serving engine not compiled ({type(exc).__name__}: {str(exc)[:300]}); "
          "installing the pure-Python engine (same results, about a third of the speed)",
          file=sys.stderr)


class AlwaysPlatform(Distribution):
    """Run ``build_ext`` (the extension list is made there); a platform wheel either way."""

    def has_ext_modules(self) -> bool:
        return True


class OptionalMypyc(build_ext):
    def finalize_options(self) -> None:
        self._accel = _accel_module()
        wanted = os.environ.get("GPUTWIN_ACCEL", "")
        if wanted != "0" and (wanted == "1" or not getattr(self, "editable_mode", False)):
            try:
                self.distribution.ext_modules = self._mypyc_extensions()
            except (Exception, SystemExit) as exc:  # any failure: pure Python
                _skipped(exc)
        super().finalize_options()

    def _mypyc_extensions(self) -> list[Any]:
        from mypyc.build import mypycify

        paths = [str(PACKAGE / f"{m}.py") for m in self._accel.MODULES]
        target = Path(self.build_temp or "build") / "mypyc"
        target.mkdir(parents=True, exist_ok=True)
        config = target / "mypy.ini"
        config.write_text(MYPY_CONFIG.format(src=ROOT / "src"))
        exts: list[Any] = mypycify([f"--config-file={config}", *paths], opt_level="3",
                                   group_name=self._accel.GROUP, target_dir=str(target))
        return exts

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            super().run()
            self._stamp(self._accel)
        except (Exception, SystemExit) as exc:  # no compiler, a failed link
            self._remove_outputs(self._accel)
            _skipped(exc)

    def _outputs(self, accel: Any) -> tuple[Path, list[Path]]:
        root = Path(self.build_lib) / "gputwin"
        found = [p for m in accel.MODULES for p in root.glob(f"{m}.*")
                 if p.suffix in (".so", ".pyd")]
        return root, [*found, *Path(self.build_lib).glob(f"{accel.GROUP}__mypyc*")]

    def _stamp(self, accel: Any) -> None:
        """Write the stamp of the built sources; raise unless the build is complete."""
        root, _ = self._outputs(accel)
        hashes = accel.source_hashes(root)
        (root / accel.STAMP).write_text(json.dumps(hashes, indent=1) + "\n")
        reason = accel.stale(root, accel.MODULES, Path(self.build_lib))
        if reason or not accel.compiled(root):
            raise RuntimeError(f"incomplete build: {reason or 'nothing compiled'}")

    def _remove_outputs(self, accel: Any) -> None:
        root, found = self._outputs(accel)
        for path in [*found, root / accel.STAMP]:
            path.unlink(missing_ok=True)
        self.extensions = []


setup(distclass=AlwaysPlatform, cmdclass={"build_ext": OptionalMypyc})
