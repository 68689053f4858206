"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

Addresses can be told to fail: ``unknown`` ones get ``550 5.1.1`` at RCPT,
``flaky`` ones get ``451`` on their first try.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.unknown: set[str] = set()
        self.flaky: set[str] = set()
        self.tried: Counter = Counter()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        address = address.lower()
        with self.lock:
            self.tried[address] += 1
            if address in self.unknown:
                return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
            if address in self.flaky and self.tried[address] == 1:
                return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def received(self) -> Counter:
        with self.lock:
            return Counter(r for _, rcpts, _ in self.messages for r in rcpts)

    def parsed(self):
        with self.lock:
            return [message_from_bytes(content, policy=policy.default) for _, _, content in self.messages]


class SmtpSink:
    def __init__(self):
        self.recorder = Recorder()
        self.port = free_port()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
