"""The one way gputwin reads a text file: UTF-8, with every failure an :class:`InputError`.

:func:`read_text` reads a whole file; :func:`open_text` opens one for streaming (trace
readers). A missing file, a folder, an unreadable file and bytes that are not UTF-8 all
become an :class:`InputError` naming the file (and the line, for a stream), so the CLI
exits 2 with one line instead of a ``UnicodeDecodeError`` traceback. A UTF-8 byte-order
mark is accepted and dropped.
"""

from __future__ import annotations

import io
from pathlib import Path

from gputwin.errors import InputError

#: Decoding used for every file read (``-sig``: drop a leading byte-order mark).
ENCODING = "utf-8-sig"


def _not_utf8(path: Path) -> InputError:
    """The error for a file that is not UTF-8, naming the first bad line and byte.

    A newline byte is never part of a multi-byte UTF-8 character, so decoding line by line
    finds the exact place (only on this error path; a stream decodes in chunks).
    """
    where, bad = str(path), "?"
    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    raw.decode(ENCODING if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    where, bad = f"{path}:{number}", raw[exc.start:exc.start + 1].hex()
                    break
    except OSError:
        pass
    return InputError(f"not a UTF-8 text file (byte 0x{bad} cannot be decoded; "
                      "save it as UTF-8)", where=where)


def _open_error(path: Path, what: str, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{what} not found", where=str(path))
    if isinstance(exc, IsADirectoryError):
        return InputError(f"expected a {what}, got a folder", where=str(path))
    return InputError(f"cannot read {what}: {exc.strerror}", where=str(path))


def read_text(path: Path | str, what: str = "file") -> str:
    """The whole text of ``path``. Raises :class:`InputError` (see the module docstring)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _open_error(path, what, exc) from None
    try:
        return data.decode(ENCODING)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


class CheckedText(io.TextIOWrapper):
    """A text stream whose decoding errors are :class:`InputError` naming ``file:line``."""

    def __init__(self, raw: io.BufferedReader, path: Path) -> None:
        super().__init__(raw, encoding=ENCODING, newline="")
        self.path = path

    def __next__(self) -> str:  # type: ignore[override]  # typeshed: _IOBase says bytes
        try:
            return super().__next__()
        except UnicodeDecodeError:
            raise _not_utf8(self.path) from None

    def readline(self, size: int | None = -1, /) -> str:  # type: ignore[override]
        try:
            return super().readline(-1 if size is None else size)
        except UnicodeDecodeError:
            raise _not_utf8(self.path) from None

    def read(self, size: int | None = -1, /) -> str:
        try:
            return super().read(size)
        except UnicodeDecodeError:
            raise _not_utf8(self.path) from None


def open_text(path: Path | str, what: str = "file") -> CheckedText:
    """Open ``path`` for streaming text (``newline=""``, as :mod:`csv` wants)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"expected a {what}, got a folder", where=str(path))
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise _open_error(path, what, exc) from None
    return CheckedText(raw, path)
