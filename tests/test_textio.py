"""One decoding path for every file read: UTF-8 or an InputError naming file and line."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.textio import open_text, read_text, write_text_atomic


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


def test_write_text_atomic_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        written = write_text_atomic(tmp_path / "new.yaml", "a: 1\n", where="--out x")
    finally:
        os.umask(old)
    assert written == (tmp_path / "new.yaml").resolve()
    assert written.read_text() == "a: 1\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o640  # 0o666 less the umask, not 0o600
    assert os.listdir(tmp_path) == ["new.yaml"]  # no temporary file left


def test_write_text_atomic_keeps_an_existing_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "cal.yaml"
    path.write_text("old\n")
    path.chmod(0o604)
    write_text_atomic(path, "new\n", where="--out x")
    assert path.read_text() == "new\n" and stat.S_IMODE(path.stat().st_mode) == 0o604


@pytest.mark.parametrize("target_exists", [True, False])
def test_write_text_atomic_writes_through_a_symlink(tmp_path: Path, target_exists: bool) -> None:
    target, link = tmp_path / "target.yaml", tmp_path / "link.yaml"
    if target_exists:
        target.write_text("old\n")
    link.symlink_to("target.yaml")
    write_text_atomic(link, "new\n", where="--out x")
    assert link.is_symlink() and os.readlink(link) == "target.yaml"
    assert target.read_text() == "new\n"


def test_write_text_atomic_refuses_non_regular_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "fifolink").symlink_to("fifo")
    (tmp_path / "folder").mkdir()
    for name, kind in [("fifo", "a FIFO"), ("fifolink", "a FIFO"), ("folder", "a folder")]:
        with pytest.raises(InputError, match=rf"^--out {name}: exists and is {kind}"):
            write_text_atomic(tmp_path / name, "x\n", where=f"--out {name}")
    assert stat.S_ISFIFO(fifo.stat().st_mode) and (tmp_path / "fifolink").is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["fifo", "fifolink", "folder"]
    with pytest.raises(InputError, match="empty string"):
        write_text_atomic("", "x\n", where="--out")
