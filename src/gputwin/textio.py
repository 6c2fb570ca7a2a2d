"""The one way gputwin reads a text file: UTF-8, with every failure an :class:`InputError`.

:func:`read_text` reads a whole file; :func:`open_text` opens one for streaming (trace
readers). A missing file, a folder, an unreadable file and bytes that are not UTF-8 all
become an :class:`InputError` naming the file (and the line, for a stream), so the CLI
exits 2 with one line instead of a ``UnicodeDecodeError`` traceback. A UTF-8 byte-order
mark is accepted and dropped.

:func:`write_text_atomic` is the matching way to write one output file (``--out FILE``):
atomically, through symlinks, never over a folder, FIFO or device.

:func:`check_row_width` is the one rule for a CSV data row wider than its header.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
from collections.abc import Sequence
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


def check_row_width(fields: Sequence[str], num_columns: int, where: str) -> None:
    """Refuse a CSV data row with values beyond its header's ``num_columns`` columns: its
    fields no longer line up with the header (most often a number written with a thousands
    separator, ``1,234``, or a text field holding an unquoted comma), so the columns read
    from it would silently hold the wrong values. Empty trailing fields (a trailing comma)
    are accepted. ``where`` is ``file:line``."""
    if len(fields) > num_columns and any(f.strip() for f in fields[num_columns:]):
        raise InputError(f"expected {num_columns} columns as in the header, got "
                         f"{len(fields)} (a number with a thousands separator or a field "
                         "with an unquoted comma?)", where=where)


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


#: What a path that is not a regular file is, for messages.
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def write_text_atomic(path: Path | str, text: str, where: str) -> Path:
    """Write ``text`` (UTF-8) to the file ``path``; readers see the old file or the new one,
    never half of one (a temporary file next to it, then :func:`os.replace`).

    A symlink is followed and its target written (as ``open(path, "w")`` would), so the
    link stays. A path that exists and is not a regular file (a folder, FIFO, device or
    socket) is refused, not replaced. A new file gets the mode ``open`` gives (0o666 less
    the umask); a replaced file keeps its mode. Every failure is an :class:`InputError` at
    ``where`` (the option, e.g. ``--out x.yaml``). Returns the path written."""
    if not str(path):
        raise InputError("expected a file path, got an empty string", where=where)
    try:
        target = Path(path).resolve()  # follows links, also to a file not yet created
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before 3.13)
        raise InputError(f"cannot follow the path: {getattr(exc, 'strerror', None) or exc}",
                         where=where) from None
    mode = None
    try:
        st = target.stat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=where) from None
    else:
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a file")
        if not stat.S_ISREG(st.st_mode):
            shown = "" if target == Path(path).absolute() else f" ({target})"
            raise InputError(f"exists and is {kind}{shown}, not a regular file; give a file "
                             "path", where=where)
        mode = stat.S_IMODE(st.st_mode)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        try:
            with open(tmp, "x", encoding="utf-8") as fh:  # mode 0o666 less the umask
                fh.write(text)
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", where=where) from None
    return target
