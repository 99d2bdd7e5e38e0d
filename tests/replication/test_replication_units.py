"""The pure parts of `liventix.replication` and `liventix.retrying`: the standby names of a
`synchronous_standby_names` value, URLs turned into libpq's conninfo, the retry waits."""

from __future__ import annotations

import psycopg
import pytest

from liventix import replication
from liventix.retrying import RetryPolicy


@pytest.mark.parametrize(
    ("setting", "names"),
    [
        ("", []),
        ("s1", ["s1"]),
        ('ANY 1 ("s1")', ["s1"]),
        ('ANY 1 ("s1", "s2")', ["s1", "s2"]),
        ("FIRST 1 (a, b)", ["a", "b"]),
        ("2 (a, b, c)", ["a", "b", "c"]),
        ("*", []),
    ],
)
def test_the_standby_names_of_a_setting(setting: str, names: list[str]) -> None:
    assert replication._names(setting) == names


def test_a_multi_host_url_as_libpq_conninfo() -> None:
    url = replication.multi_host_url([("10.0.0.1", 5432), ("10.0.0.2", 5433)], "liventix")
    info = psycopg.conninfo.conninfo_to_dict(replication.libpq_conninfo(url, application_name="s1"))
    assert info == {
        "dbname": "liventix",
        "user": "postgres",
        "host": "10.0.0.1,10.0.0.2",
        "port": "5432,5433",
        "target_session_attrs": "read-write",
        "connect_timeout": "3",
        "application_name": "s1",
    }


def test_a_password_survives_the_conninfo() -> None:
    url = "postgresql+psycopg://ops:s3cr%40t@db.internal:6432/postgres"
    info = psycopg.conninfo.conninfo_to_dict(replication.libpq_conninfo(url))
    assert (info["user"], info["password"], info["host"], info["port"]) == (
        "ops",
        "s3cr@t",
        "db.internal",
        "6432",
    )


def test_the_retry_waits_grow_to_the_cap_within_the_deadline() -> None:
    waits = RetryPolicy(first_wait=0.05, max_wait=0.2, factor=2.0, deadline=1.0).waits()
    assert waits == [0.05, 0.1, 0.2, 0.2, 0.2, 0.2]
    assert sum(waits) <= 1.0
