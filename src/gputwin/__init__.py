"""gputwin: a digital twin of the cloud that powers generative AI.

The public Python API is re-exported lazily from :mod:`gputwin.api` so that
``import gputwin`` (and the CLI's ``--help``) stay fast.
"""

from __future__ import annotations

# first: compiled hot modules (bench/build_serving_accel.py, setup.py) are used only while
# they match their sources
from gputwin._accel import USING_COMPILED

__version__ = "0.1.0"
__all__ = ["USING_COMPILED", "__version__"]
