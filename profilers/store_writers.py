"""Writers of a measurement store: one setting is written with one set of runtime settings.

A campaign registers itself in the store's ``hwnas_meta`` table before it times anything, in
the same write transaction as its check of the stored rows (``MeasurementStore.transaction``),
and removes its registration when it ends. A second campaign writing the same (device,
runtime, precision, batch size) with other runtime settings sees the first one's registration
and is refused, even while the store holds no row yet. A registration left by a killed process
is recognised (its process is gone) and removed by the next campaign; SQLite's WAL mode works
only between processes of one machine, so a registration from another host came with a copy
of the file and is stale too.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from profilers.errors import StoreError
from profilers.store import MeasurementStore

Setting = tuple[str, str, str, int]
"""(device, runtime, precision, batch_size): the rows one campaign writes."""

_PREFIX = "writer "


def _alive(host: str, pid: int) -> bool:
    """Whether the registering process still runs (on this machine)."""
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return True
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _describe(settings: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in sorted(settings.items()))


def _differing(theirs: dict[str, Any], yours: dict[str, Any]) -> str:
    names = sorted(
        name for name in theirs.keys() | yours.keys() if theirs.get(name) != yours.get(name)
    )
    return ", ".join(
        f"{name}: {theirs.get(name, '<absent>')!r} there, {yours.get(name, '<absent>')!r} yours"
        for name in names
    )


def _registrations(conn: sqlite3.Connection) -> list[tuple[str, dict[str, Any] | None]]:
    """Return every writer registration of the store; None for one that cannot be read."""
    rows = conn.execute(
        "SELECT name, value FROM hwnas_meta WHERE substr(name, 1, ?) = ?",
        (len(_PREFIX), _PREFIX),
    )
    found = []
    for name, value in rows.fetchall():
        try:
            entry = json.loads(value)
            entry["setting"] = tuple(entry["setting"])
        except (ValueError, TypeError, KeyError):
            entry = None  # damaged by hand: treated as stale and removed
        found.append((name, entry))
    return found


@contextmanager
def registered_writer(
    store: MeasurementStore,
    setting: Setting,
    settings: dict[str, Any],
    check: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Register this campaign as the writer of ``setting`` with ``settings`` while the block runs.

    In one write transaction: ``check()`` runs (it reads the stored rows and raises where they
    were timed with other settings), stale registrations go, a live registration of the same
    setting with other settings refuses this one, and this one is written. It is removed when
    the block ends, however it ends.

    Args:
        store: The store the campaign writes.
        setting: (device, runtime, precision, batch_size) of the rows it writes.
        settings: Its comparable runtime settings (``Runtime.comparable_settings``); plain
            JSON data.
        check: Called inside the transaction before the registration is looked at.

    Raises:
        StoreError: From ``check``, or naming the store, the other campaign (pid, start) and
            both sets of settings where another campaign writes ``setting`` with other ones.
    """
    settings = json.loads(json.dumps(settings, sort_keys=True))  # compared as stored
    name = f"{_PREFIX}{uuid.uuid4().hex}"
    entry = {
        "setting": list(setting),
        "settings": settings,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    value = json.dumps(entry, sort_keys=True)
    with store.transaction("register this campaign as a writer of the store") as conn:
        if check is not None:
            check()
        for other_name, other in _registrations(conn):
            if other is None or not _alive(other.get("host", ""), int(other.get("pid", -1))):
                conn.execute("DELETE FROM hwnas_meta WHERE name = ?", (other_name,))
                continue
            if other["setting"] == tuple(setting) and other["settings"] != settings:
                device, runtime, precision, batch_size = setting
                raise StoreError(
                    f"{store.path}: another campaign (pid {other['pid']}, started "
                    f"{other['started_at']}) is writing device {device!r}, runtime {runtime!r}, "
                    f"precision {precision!r}, batch size {batch_size} with other runtime "
                    f"settings ({_differing(other['settings'], settings)}; its settings: "
                    f"{_describe(other['settings'])}). Nothing was measured. Wait for it to end, "
                    "use another store, or the same settings"
                )
        conn.execute("INSERT INTO hwnas_meta (name, value) VALUES (?, ?)", (name, value))
    try:
        yield
    finally:
        try:
            with store.transaction("remove this campaign's writer registration") as conn:
                conn.execute("DELETE FROM hwnas_meta WHERE name = ?", (name,))
        except StoreError:  # left behind, it is stale once this process ends
            pass
