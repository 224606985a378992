#!/usr/bin/env python3
"""A real SMTP server on loopback that keeps what it receives, for the local run and the tests.

Usage: smtp_sink.py PORT DIR [CERT_PEM KEY_PEM] [--implicit-tls] [--auth USER:PASSWORD]
With a certificate and key the server requires STARTTLS before it accepts mail, or with
--implicit-tls speaks TLS from the first byte (port 465 style). With --auth it offers SMTP AUTH
(PLAIN, LOGIN) over TLS and accepts mail only from a client that authenticated as USER.
Every accepted message is written to DIR/<n>.eml, headed by the envelope (X-Envelope-From,
X-Envelope-To, X-Authenticated-As), and its text parts, decoded, to DIR/<n>.txt. A recipient
whose address contains "bounce" is refused with 550 (a permanent failure); one containing
"busy" is refused with 451 (try again later) while the file DIR/busy exists: so the notifier's
handling of refusals can be seen. Runs until SIGTERM.
"""
import argparse
import asyncio
import email
import email.policy
import itertools
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class KeepMessages:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.counter = itertools.count(len(os.listdir(directory)) + 1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "bounce" in address:
            return "550 5.1.1 no such mailbox here"
        if "busy" in address and os.path.exists(os.path.join(self.directory, "busy")):
            return "451 4.2.1 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        number = next(self.counter)
        path = os.path.join(self.directory, f"{number:06d}.eml")
        auth = session.auth_data if session.authenticated else None
        login = auth.login.decode() if isinstance(auth, LoginPassword) else ""
        header = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-Authenticated-As: {login}\r\n"
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
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("directory")
    parser.add_argument("cert", nargs="?")
    parser.add_argument("key", nargs="?")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--auth")
    args = parser.parse_args()
    options = {}
    if args.cert and args.key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.implicit_tls:
            options["ssl_context"] = context
        else:
            options.update(tls_context=context, require_starttls=True)
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok, auth_data=auth_data)

        # over implicit TLS aiosmtpd does not see the TLS layer it sits on; the connection is
        # encrypted from the first byte all the same
        options.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=not args.implicit_tls,
        )
    controller = Controller(
        KeepMessages(args.directory), hostname="127.0.0.1", port=args.port, **options
    )
    controller.start()
    print(f"smtp sink on 127.0.0.1:{args.port}, messages in {args.directory}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
