"""Webhook targets that cannot reach inside (issue 13, item 1), checked twice.

At registration every spelling of an internal address (decimal, hex, octal, short forms,
IPv4-mapped, -compatible and NAT64 IPv6, `[::1]`) and every internal name is refused with a
typed error that says why, and nothing is written. At connect time the worker resolves the
name, refuses it if any address is internal (the attempt says why) and connects to the
address it checked, sending the URL's host as Host. The allow-list lets a receiver on
127.0.0.1 through, and nothing else. Redirects are answers: never followed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
import sqlalchemy as sa

import outbox
from outbox.addresses import check_url, resolve_checked
from tests.outbox_core.support import (
    FAST,
    LOOPBACK,
    ORG,
    MakeWorker,
    Receiver,
    Reply,
    publish_step,
    rows,
    scalar,
)

# Each is refused, whatever the allow-list of 127.0.0.1/32 says, unless marked loopback-v4.
INTERNAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://10.1.2.3:8080/hook",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://[::1]/",
    "http://[::1]:8080/hook",
    "http://localhost/",
    "http://localhost:8080/hook",
    "http://LOCALHOST./",
    "http://app.localhost/",
    "http://[::127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fd00::1]/",
    "http://100.64.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "https://printer.local/",
    "https://router.home.arpa/",
    "http://1.2.3.4.5/",
]
# 127.0.0.1 in every spelling the C library reads: refused by default, let through by an
# allow-list of 127.0.0.1/32.
LOOPBACK_V4 = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/hook",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0x7f.1/",
    "http://017700000001/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "https://2130706433:8443/hook",
]
PUBLIC = [
    "https://example.com/hook",
    "https://hooks.example.org:8443/a?b=c",
    "http://93.184.215.14/",
    "http://[2606:4700::1111]/",
    "https://bücher.example/",
]


def _endpoints(engine: sa.Engine) -> int:
    return int(scalar(engine, "SELECT count(*) FROM messaging.endpoints"))


@pytest.mark.parametrize("url", INTERNAL + LOOPBACK_V4)
def test_every_spelling_of_an_internal_target_is_refused_at_registration(
    engine: sa.Engine, url: str
) -> None:
    with engine.begin() as conn, pytest.raises(outbox.TargetRefused) as refused:
        outbox.register_endpoint(conn, ORG, url)
    # A leaf of InvalidEndpoint (the API's 422 invalid-endpoint), with its reason.
    assert isinstance(refused.value, outbox.InvalidEndpoint)
    reason = refused.value.reason
    assert any(
        word in reason
        for word in (
            "loopback",
            "private",
            "link-local",
            "multicast",
            "reserved",
            "unspecified",
            "not a public",
            "internal name",
            "single-label",
            "not one",
        )
    ), reason
    assert _endpoints(engine) == 0


def test_the_reason_names_the_address_a_spelling_stands_for() -> None:
    for url in ("http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/"):
        with pytest.raises(outbox.TargetRefused) as refused:
            check_url(url)
        assert refused.value.reason == "the host is 127.0.0.1, a loopback address"
    with pytest.raises(outbox.TargetRefused) as refused:
        check_url("http://[::ffff:127.0.0.1]/")
    assert "leads to 127.0.0.1" in refused.value.reason
    with pytest.raises(outbox.TargetRefused) as refused:
        check_url("http://169.254.169.254/latest/meta-data/")
    assert refused.value.reason == "the host is 169.254.169.254, a link-local address"


def test_the_allow_list_lets_exactly_its_networks_through(engine: sa.Engine) -> None:
    for url in LOOPBACK_V4:
        with engine.begin() as conn:
            outbox.register_endpoint(conn, ORG, url, allow=LOOPBACK)
    for url in INTERNAL:
        with engine.begin() as conn, pytest.raises(outbox.TargetRefused):
            outbox.register_endpoint(conn, ORG, url, allow=LOOPBACK)
    assert _endpoints(engine) == len(LOOPBACK_V4)


def test_public_targets_are_registered(engine: sa.Engine) -> None:
    for url in PUBLIC:
        with engine.begin() as conn:
            outbox.register_endpoint(conn, ORG, url)
    assert _endpoints(engine) == len(PUBLIC)


@pytest.mark.parametrize(
    "url", ["http://[::1/", "http://[zz]/", "http://host:99999/", "http://h%41.example/"]
)
def test_a_url_that_does_not_parse_is_an_invalid_endpoint(engine: sa.Engine, url: str) -> None:
    with engine.begin() as conn, pytest.raises(outbox.InvalidEndpoint) as refused:
        outbox.register_endpoint(conn, ORG, url)
    assert not isinstance(refused.value, outbox.TargetRefused)
    assert refused.value.reason


def test_the_allow_list_setting_parses_cidrs() -> None:
    allow = outbox.parse_allow(" 127.0.0.1/32, ::1 ,10.0.0.0/8")
    assert [str(n) for n in allow] == ["127.0.0.1/32", "::1/128", "10.0.0.0/8"]
    assert outbox.parse_allow("") == ()
    with pytest.raises(ValueError):
        outbox.parse_allow("127.0.0.1/33")
    with pytest.raises(ValueError):
        outbox.parse_allow("localhost")


def test_a_name_is_refused_if_any_of_its_addresses_is() -> None:
    def resolver(answers: Sequence[str]) -> outbox.Resolver:
        return lambda host, port: list(answers)

    assert [str(a) for a in resolve_checked("h.example", 80, (), resolver(["93.184.215.14"]))] == [
        "93.184.215.14"
    ]
    with pytest.raises(outbox.TargetRefused) as refused:
        resolve_checked("h.example", 80, (), resolver(["93.184.215.14", "10.0.0.7"]))
    assert refused.value.reason == "'h.example' resolves to 10.0.0.7, a private address"
    with pytest.raises(outbox.TargetRefused):
        resolve_checked("h.example", 80, (), resolver(["::ffff:127.0.0.1"]))
    with pytest.raises(outbox.TargetRefused):
        resolve_checked("h.example", 80, (), resolver([]))


# --- at connect time, through a real worker ------------------------------------------------


def _one_delivery(engine: sa.Engine, url: str) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, url)
        publish_step(conn, "a", 1)


def _attempt(engine: sa.Engine) -> sa.Row[object]:
    [attempt] = rows(
        engine, "SELECT succeeded, status_code, error, response_body FROM messaging.attempts"
    )
    return attempt


def _to_receiver(receiver: Receiver, names: set[str]) -> outbox.Resolver:
    """A resolver that sends `names` to the receiver's address, and nothing else anywhere."""

    def resolve(host: str, port: int) -> list[str]:
        assert host in names, host
        return ["127.0.0.1"]

    return resolve


def test_a_name_that_resolves_to_loopback_is_refused_at_connect_time(
    engine: sa.Engine, receiver: Receiver
) -> None:
    # The name passes registration (it looks public); at connect time it resolves to
    # 127.0.0.1, where the receiver listens: refused, as a failed attempt saying why.
    name = "hooks.rebind.invalid"
    _one_delivery(engine, f"http://{name}:{receiver.port}/hook")
    worker = outbox.Worker(
        engine, replace(FAST, webhook_allow=()), resolver=_to_receiver(receiver, {name})
    )
    try:
        assert worker.deliver_once() == 1
    finally:
        worker.close()
    attempt = _attempt(engine)
    assert not attempt.succeeded and attempt.status_code is None and attempt.response_body is None
    assert "TargetRefused" in attempt.error
    assert f"'{name}' resolves to 127.0.0.1, a loopback address" in attempt.error
    assert receiver.count == 0


def test_localhost_by_the_system_resolver_is_refused_at_connect_time(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    url = f"http://localhost:{receiver.port}/hook"
    with engine.begin() as conn, pytest.raises(outbox.TargetRefused):
        outbox.register_endpoint(conn, ORG, url)
    # However the URL got into the table (a row from before the guard, an UPDATE by hand),
    # the worker resolves it and refuses what it resolves to.
    with engine.begin() as conn:
        endpoint, _ = outbox.register_endpoint(conn, ORG, "https://example.com/hook")
        conn.execute(
            sa.text("UPDATE messaging.endpoints SET url = :url WHERE id = :id"),
            {"url": url, "id": endpoint},
        )
        publish_step(conn, "a", 1)
    worker = make_worker(webhook_allow=())
    assert worker.deliver_once() == 1
    attempt = _attempt(engine)
    assert not attempt.succeeded
    assert "'localhost' resolves to" in attempt.error and "loopback address" in attempt.error
    assert receiver.count == 0


def test_the_allow_list_lets_the_receiver_through_at_the_checked_address(
    engine: sa.Engine, receiver: Receiver
) -> None:
    # `.invalid` never resolves through the system: the delivery arrives only because the
    # connection went to the address the guard resolved and checked, with the URL's host in
    # the Host header.
    name = "hooks.allowed.invalid"
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, f"http://{name}:{receiver.port}/hook")
        publish_step(conn, "a", 1)
    worker = outbox.Worker(engine, FAST, resolver=_to_receiver(receiver, {name}))
    try:
        assert worker.deliver_once() == 1
    finally:
        worker.close()
    assert _attempt(engine).succeeded
    [request] = receiver.requests
    assert request.headers["host"] == f"{name}:{receiver.port}"


def test_redirects_are_not_followed(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for("/hook"), allow=LOOPBACK)
        publish_step(conn, "a", 1)
    inside = receiver.url_for("/inside")
    receiver.policy = lambda path, webhook_id, try_no: (
        Reply(302, headers={"location": inside}) if path == "/hook" else Reply(200)
    )
    worker = make_worker()
    assert worker.deliver_once() == 1
    attempt = _attempt(engine)
    assert (attempt.succeeded, attempt.status_code) == (False, 302)
    assert [r.path for r in receiver.requests] == ["/hook"]
