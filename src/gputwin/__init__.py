"""gputwin: a digital twin of the cloud that powers generative AI.

The public Python API is re-exported lazily from :mod:`gputwin.api` so that
``import gputwin`` (and the CLI's ``--help``) stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
