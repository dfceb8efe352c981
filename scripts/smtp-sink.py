"""A local SMTP server for tests: accepts mail on 127.0.0.1 and writes each message as a JSON
file ({"mail_from", "rcpt_tos", "data"}) into FOLDER. Recipients whose local part is `reject`
get a permanent 550, `busy` a transient 451. Prints "ready <port>" once it listens; exits when
its standard input closes (the test that started it is gone) or on SIGTERM.

    python scripts/smtp-sink.py --port 2525 FOLDER
"""

import argparse
import json
import os
import signal
import sys
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "reject":
            return "550 5.1.1 <%s>: recipient address rejected" % address
        if local == "busy":
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = uuid.uuid4().hex
        tmp = os.path.join(self.folder, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "data": envelope.content.decode("utf-8", "replace"),
                },
                f,
            )
        # Whole files only: a reader never sees half a message.
        os.replace(tmp, os.path.join(self.folder, name + ".json"))
        return "250 2.0.0 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("folder")
    args = parser.parse_args()
    os.makedirs(args.folder, exist_ok=True)
    controller = Controller(Sink(args.folder), hostname=args.host, port=args.port)
    controller.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.stdin.close())
    print("ready %d" % args.port, flush=True)
    try:
        sys.stdin.read()
    except (ValueError, OSError):
        pass
    controller.stop()


if __name__ == "__main__":
    main()
