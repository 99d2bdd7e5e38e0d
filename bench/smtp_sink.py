"""The outbox bench's SMTP side: the SMTP sink of `liventix.testing` (aiosmtpd) in its own
process, accepting every message (counting messages, sessions and repeated Message-IDs, and
reporting its own CPU), and the sender comparison, with the same threads and messages: a new
`smtplib.SMTP` session per message (the sender before `MailClient`) against `MailClient.send`
over kept sessions.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from email.message import EmailMessage
from multiprocessing.connection import Connection as Pipe
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import cast

from liventix.testing.servers import Mailbox, smtp_server
from outbox.smtp_send import MailClient

SENDER = "Liventix <no-reply@liventix.example>"
RECIPIENTS = 50  # distinct addresses, as a season's buyers would be
BODY = (
    "Your ticket for the concert on 14 March, general admission, row 12, seat 7, is attached "
    "to your account. Show its QR code at the door.\n"
) * 3


def _stats(box: Mailbox) -> dict[str, float]:
    """Messages accepted, unique Message-IDs, repeats, sessions, the server process's CPU s."""
    with box.lock:
        return {
            "count": box.count,
            "unique": box.unique,
            "duplicates": box.duplicates,
            "sessions": box.sessions,
            "cpu": time.process_time(),
        }


def _sink_main(pipe: Pipe) -> None:
    """The server process: `liventix.testing`'s SMTP sink, answering the bench's commands
    ("stats", "reset", "stop") on the pipe until told to stop."""
    box = Mailbox(keep=False, message_ids=True)
    with smtp_server(box) as (port, _):
        pipe.send(port)
        while True:
            what = pipe.recv()
            if what == "reset":
                box.reset()
            pipe.send(_stats(box))
            if what == "stop":
                return


class SmtpSink:
    """The bench's handle on the SMTP server process (start it with `start`, end with
    `close`); only the thread that started it may call it."""

    host = "127.0.0.1"

    def __init__(self, process: SpawnProcess, pipe: Pipe, port: int) -> None:
        self.process = process
        self.pipe = pipe
        self.port = port

    @classmethod
    def start(cls, ctx: SpawnContext) -> SmtpSink:
        """Start the server process; return once it listens."""
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_sink_main, args=(child,), name="smtp-sink", daemon=True)
        process.start()
        if not parent.poll(30):
            process.kill()
            raise RuntimeError("the SMTP server did not start")
        return cls(process, parent, int(parent.recv()))

    def _call(self, what: str) -> dict[str, float]:
        self.pipe.send(what)
        if not self.pipe.poll(10):
            raise RuntimeError(f"the SMTP server did not answer {what!r}")
        return cast(dict[str, float], self.pipe.recv())

    def stats(self) -> dict[str, float]:
        """Messages accepted, unique Message-IDs, repeats, sessions, the server's CPU s."""
        return self._call("stats")

    def reset(self) -> None:
        """Forget the counts (not the CPU)."""
        self._call("reset")

    def close(self) -> None:
        """Stop the server process."""
        with suppress(OSError, RuntimeError):
            self._call("stop")
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


class NewSessionMailer(MailClient):
    """The sender as it was before `MailClient`: a new session for every message (connect,
    greeting, EHLO, the message, QUIT). For measurement only."""

    def send(self, message: EmailMessage) -> None:
        """Send one message over a session of its own."""
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(message)


def recipient(i: int) -> str:
    """The address of message `i`."""
    return f"fan{i % RECIPIENTS:03d}@example.test"


def email_message(i: int, tag: str) -> EmailMessage:
    """Message `i`, built as `outbox.senders.send_email` builds a delivery's."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = recipient(i)
    message["Subject"] = f"Your ticket tkt_{i:08d}"
    message["Message-ID"] = f"<{tag}.{i}@liventix.example>"
    message["X-Liventix-Message-Type"] = "bench.ticket_issued"
    message.set_content(BODY)
    return message


@dataclass
class SenderRound:
    """One timed round of one sender: `messages` sent by `threads` threads."""

    kind: str
    messages: int
    elapsed_s: float
    client_cpu_s: float
    server_cpu_s: float
    sessions: int

    @property
    def per_s(self) -> float:
        """Messages per second."""
        return self.messages / self.elapsed_s


@dataclass
class SenderResult:
    """Every round of both senders, and their totals."""

    threads: int
    rounds: list[SenderRound]

    def of(self, kind: str) -> list[SenderRound]:
        """The rounds of one sender ('new' or 'kept')."""
        return [r for r in self.rounds if r.kind == kind]

    def per_s(self, kind: str) -> float:
        """Messages per second over all of a sender's rounds."""
        rounds = self.of(kind)
        return sum(r.messages for r in rounds) / sum(r.elapsed_s for r in rounds)

    def describe(self, kind: str) -> str:
        """One line: the sender's rate, each round's, its sessions and CPU per message."""
        rounds = self.of(kind)
        sent = sum(r.messages for r in rounds)
        client = 1e6 * sum(r.client_cpu_s for r in rounds) / sent
        server = 1e6 * sum(r.server_cpu_s for r in rounds) / sent
        each = ", ".join(f"{r.per_s:,.0f}" for r in rounds)
        sessions = ", ".join(str(r.sessions) for r in rounds)
        return (
            f"{self.per_s(kind):,.0f} msg/s over {len(rounds)} rounds of {rounds[0].messages:,} "
            f"(each: {each}); SMTP sessions opened per round: {sessions}; CPU per message: "
            f"sender {client:.0f} us, SMTP server {server:.0f} us"
        )


def _round(
    sink: SmtpSink,
    kind: str,
    send: Callable[[EmailMessage], None],
    batch: list[EmailMessage],
    threads: int,
) -> SenderRound:
    sink.reset()
    before = sink.stats()
    c0, t0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(send, batch))
    elapsed = time.perf_counter() - t0
    client_cpu = time.process_time() - c0
    after = sink.stats()
    if after["unique"] != len(batch):
        raise RuntimeError(f"{kind}: the server took {after['unique']} of {len(batch)} messages")
    return SenderRound(
        kind=kind,
        messages=len(batch),
        elapsed_s=elapsed,
        client_cpu_s=client_cpu,
        server_cpu_s=after["cpu"] - before["cpu"],
        sessions=int(after["sessions"]),
    )


def sender_phase(sink: SmtpSink, messages: int, threads: int, rounds: int) -> SenderResult:
    """Send `messages` e-mails with `threads` threads, alternately over a new session each
    (the baseline) and over `MailClient`'s kept sessions, `rounds` times each. Messages are
    built once beforehand (building one costs about as much as sending it, and is the same
    for both); a kept round starts with no session open and its QUITs are not timed."""
    batch = [email_message(i, "sender") for i in range(messages)]
    results: list[SenderRound] = []
    for _ in range(rounds):
        for kind in ("new", "kept"):
            client: MailClient = (
                NewSessionMailer(sink.host, sink.port, 10.0)
                if kind == "new"
                else MailClient(sink.host, sink.port, 10.0)
            )
            try:
                results.append(_round(sink, kind, client.send, batch, threads))
            finally:
                client.close()
    return SenderResult(threads=threads, rounds=results)
