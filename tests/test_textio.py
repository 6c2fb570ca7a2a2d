"""One decoding path for every file read: UTF-8 or an InputError naming file and line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.textio import open_text, read_text


def test_read_text_drops_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfa,b\n")
    assert read_text(path) == "a,b\n"


def test_stream_error_names_the_exact_line_beyond_the_first_chunk(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    good = b"1,2,3\n" * 5000  # past the stream's first decoded chunk
    path.write_bytes(b"a,b,c\n" + good + b"4,\xff,6\n")
    with open_text(path) as handle, pytest.raises(InputError, match=r"big\.csv:5002: not a UTF-8 "
                                                                    r"text file \(byte 0xff"):
        list(csv.reader(handle))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="trace file not found"):
        open_text(tmp_path / "nope.csv", "trace file")
    with pytest.raises(InputError, match="got a folder"):
        read_text(tmp_path)
