"""track_file values: keepalived's reading of the file, and following it through inotify."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import services.healthcheck.track_files as track_files
from services.healthcheck.file_value import parse_value
from services.healthcheck.track_files import FileSpec, TrackFiles
from tests.conftest import wait_for


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (b"5\n", 5),
        (b"  0x10 junk", 16),  # keepalived 2.2.7 read 16 from this
        (b"010", 8),  # strtol base 0: octal
        (b"-7", -7),
        (b"+3", 3),
        (b"garbage", 0),
        (b"", 0),
        (b"08", 0),  # "0" then a non-octal digit
        (b"2147483648", 2**31),  # keepalived's inclusive upper bound
    ],
)
def test_values_read_as_keepalived_reads_them(content: bytes, value: int) -> None:
    assert parse_value(content) == value


def test_a_number_out_of_range_is_ignored() -> None:
    assert parse_value(b"99999999999") is None
    assert parse_value(b"-2147483649") is None


def test_only_the_first_127_bytes_count() -> None:
    assert parse_value(b" " * 126 + b"5") == 5
    assert parse_value(b" " * 127 + b"5") == 0


def test_files_are_followed_and_written_at_start(tmp_path: Path) -> None:
    watched, missing, fresh = tmp_path / "weight", tmp_path / "missing", tmp_path / "fresh"
    watched.write_text("5\n")
    files = TrackFiles(
        [
            FileSpec("w", str(watched)),
            FileSpec("m", str(missing)),
            FileSpec("f", str(fresh), init=(-3, False)),
            FileSpec("nodir", str(tmp_path / "no" / "such" / "dir" / "file")),
        ]
    )
    try:
        assert files.values == {"w": 5, "m": 0, "f": -3}
        assert fresh.read_text() == "-3\n"

        watched.write_text("7\n")  # a write and its close
        got: dict[str, int] = {}
        wait_for(lambda: bool(got.update(files.changed()) or got))
        assert got == {"w": 7}

        temporary = tmp_path / "weight.tmp"
        temporary.write_text("9\n")
        os.rename(temporary, watched)  # an atomic replacement
        got.clear()
        wait_for(lambda: bool(got.update(files.changed()) or got))
        assert got == {"w": 9}

        watched.unlink()  # gone: 0
        got.clear()
        wait_for(lambda: bool(got.update(files.changed()) or got))
        assert got == {"w": 0}
    finally:
        files.close()


def test_init_file_overwrite_writes_even_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("1\n")
    TrackFiles([FileSpec("keep", str(path), init=(4, False))]).close()
    assert path.read_text() == "1\n"
    TrackFiles([FileSpec("over", str(path), init=(4, True))]).close()
    assert path.read_text() == "4\n"


def test_without_inotify_files_are_read_again_on_poll(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_inotify() -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(track_files, "Inotify", no_inotify)
    path = tmp_path / "f"
    path.write_text("3\n")
    files = TrackFiles([FileSpec("f", str(path))])
    assert files.polled and files.fileno() is None and files.values == {"f": 3}
    path.write_text("4\n")
    assert files.changed() == {} and files.poll() == {"f": 4}
    assert files.poll() == {}
