#!/usr/bin/env python3
"""A real SMTP server on loopback that keeps what it receives, for the local run and the tests.

Usage: smtp_sink.py PORT DIR [CERT_PEM KEY_PEM]
With a certificate and key the server requires STARTTLS before it accepts mail.
Every accepted message is written to DIR/<n>.eml, headed by the envelope (X-Envelope-From,
X-Envelope-To), and its text parts, decoded, to DIR/<n>.txt. A recipient whose address contains "bounce" is refused with 550 (a permanent
failure), so the notifier's handling of refusals can be seen. Runs until SIGTERM.
"""
import asyncio
import email
import email.policy
import itertools
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller


class KeepMessages:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.counter = itertools.count(len(os.listdir(directory)) + 1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "bounce" in address:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        number = next(self.counter)
        path = os.path.join(self.directory, f"{number:06d}.eml")
        header = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        texts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
        with open(path[:-4] + ".txt", "w") as out:
            out.write("\n".join(texts))
        with open(path + ".part", "wb") as out:
            out.write(header + envelope.original_content)
        os.rename(path + ".part", path)  # a reader never sees half a message
        return "250 Message accepted for delivery"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    tls = {}
    if len(sys.argv) == 5:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(KeepMessages(directory), hostname="127.0.0.1", port=port, **tls)
    controller.start()
    print(f"smtp sink on 127.0.0.1:{port}, messages in {directory}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
