"""track_file: a file's value, followed through inotify and published for vrrp (track/file/<name>).

As keepalived's track_file.c: the path is resolved once at start, the
directory is watched (where inotify cannot be had, the file is read every
second instead) (IN_CLOSE_WRITE and IN_MOVED_TO: read again; IN_DELETE
and IN_MOVED_FROM: the value is 0), `init_file VALUE [overwrite]` writes the
file at start if it is missing (or always, with overwrite), and a file nothing
tracks is not followed. What the value does to an instance (times the weight,
0 weight: non-zero is FAULT) is vrrp's (services.vrrp.trackers).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

from conf.model.config import Config
from services.healthcheck.file_value import READ_LIMIT, init_text, parse_value
from services.healthcheck.inotify import (
    IN_CLOSE_WRITE,
    IN_DELETE,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    Inotify,
)
from services.tracked import tracked_names

log = logging.getLogger("hakeeper.healthcheck")
POLL_EVERY = 1.0  # seconds, for files inotify cannot follow
WATCHED = IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
GONE = IN_DELETE | IN_MOVED_FROM


@dataclass(frozen=True)
class FileSpec:
    name: str
    path: str
    init: tuple[int, bool] | None = None  # init_file (value, overwrite)


def tracked_files(config: Config) -> list[FileSpec]:
    tracked = tracked_names(config, "track_file")
    return [
        FileSpec(f.name, f.file, f.init_file) for f in config.track_files if f.name in tracked and f.file is not None
    ]


def read_file(path: str) -> int | None:
    """The file's value now: 0 if it is missing or empty; None if out of range (keep the old one)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return 0
    try:
        data = os.read(fd, READ_LIMIT)
    except OSError:
        return 0
    finally:
        os.close(fd)
    return parse_value(data)


class TrackFiles:
    def __init__(self, specs: Iterable[FileSpec]) -> None:
        self.inotify: Inotify | None = None
        try:
            self.inotify = Inotify()
        except OSError as exc:
            log.info("No inotify (%s): track files are read every %.0f s", exc.strerror, POLL_EVERY)
        self.values: dict[str, int] = {}
        self._paths: dict[str, str] = {}
        self._by_entry: dict[tuple[int, str], list[str]] = {}
        self._polled: set[str] = set()  # followed by reading them again (POLL_EVERY)
        for spec in specs:
            self._add(spec)

    def fileno(self) -> int | None:
        return self.inotify.fd if self.inotify is not None else None

    def _add(self, spec: FileSpec) -> None:
        path = os.path.realpath(spec.path)
        directory, entry = os.path.split(path)
        if not os.path.isdir(directory):
            log.info("Track file directory for %s does not exist - removing", spec.path)
            return
        if spec.init is not None:
            value, overwrite = spec.init
            if overwrite or not os.path.exists(path):
                if os.path.exists(path) and not os.path.isfile(path):
                    log.info("Cannot initialise track file %s - it is not a regular file", path)
                else:
                    with open(path, "w") as handle:
                        handle.write(init_text(value))
        if self.inotify is not None:
            try:
                wd = self.inotify.watch(directory, WATCHED)
            except OSError as exc:  # out of watches, say: this one is read with the polled ones
                log.info("Cannot watch %s (%s): reading it every %.0f s", directory, exc.strerror, POLL_EVERY)
                self._polled.add(spec.name)
            else:
                self._by_entry.setdefault((wd, entry), []).append(spec.name)
        else:
            self._polled.add(spec.name)
        self._paths[spec.name] = path
        self.values[spec.name] = self._read(spec.name, 0)

    def _read(self, name: str, previous: int) -> int:
        value = read_file(self._paths[name])
        if value is None:
            log.info("Invalid number read from %s - ignoring", self._paths[name])
            return previous
        return value

    @property
    def polled(self) -> bool:
        """Some files are followed by reading them every POLL_EVERY seconds (`poll`)."""
        return bool(self._polled)

    def poll(self) -> dict[str, int]:
        """The polled files whose value changed."""
        news: dict[str, int] = {}
        for name in self._polled:
            value = self._read(name, self.values[name])
            if value != self.values[name]:
                self.values[name] = news[name] = value
        return news

    def changed(self) -> dict[str, int]:
        """The files whose value changed since the last call, with their new value (inotify)."""
        news: dict[str, int] = {}
        if self.inotify is None:
            return news
        for event in self.inotify.read():
            if event.mask & IN_Q_OVERFLOW:
                names: Iterable[str] = list(self._paths)  # events were lost: read everything again
                gone = False
            else:
                names = self._by_entry.get((event.wd, event.name), [])
                gone = bool(event.mask & GONE)
            for name in names:
                value = 0 if gone else self._read(name, self.values[name])
                if value != self.values[name]:
                    self.values[name] = value
                    news[name] = value
        return news

    def close(self) -> None:
        if self.inotify is not None:
            self.inotify.close()
