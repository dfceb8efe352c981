#!/usr/bin/env python3
"""Serve the real ClickHouse engine (PyPI ``chdb-core``) over HTTP on loopback.

Local development and CI stand-in for a ClickHouse server; see DESIGN.md,
"External systems and how they start".

How it works: ``chdb._chdb.query(sql, fmt, path=DATA_DIR)`` runs the full
clickhouse-local command path.  One call runs one multi-statement script:

    SYSTEM START LISTEN HTTP;            -- reads listen_host/http_port from ./config.xml
    SELECT max(sleepEachRow(1)) ...;     -- keeps the engine (and the listener) alive

The engine only lives for the duration of that single call (a second call in
the same process fails with "EventNotifier is initialized twice"), so both
statements must go into the same call.  The call runs in a worker thread; the
main thread waits for SIGTERM/SIGINT and then kills the keep-alive query over
HTTP, so the call returns and the process exits 0.

No authentication by default: the listener is bound to 127.0.0.1 only. With
``--users-xml FILE`` the engine signs requests in against the users in FILE
(ClickHouse's users.xml format: passwords, ``<grants>``), and enforces their
grants: the tests of an insert-only checker user use it. SQL ``CREATE USER``
stays refused (no writable access storage in this code path).

Usage: clickhouse-server.py --data-dir DIR [--port 8123] [--pid-file FILE] [--users-xml FILE]
"""

import argparse
from xml.sax.saxutils import escape as xml_escape
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

KEEPALIVE_MARK = "statuspage_keepalive"
KEEPALIVE_SQL = (
    "SELECT max(sleepEachRow(1)) AS " + KEEPALIVE_MARK +
    " FROM system.numbers SETTINGS max_block_size=1"
)
LISTEN_HOST = "127.0.0.1"


def log(msg):
    now = time.time()
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    print(f"{ts} clickhouse-server.py[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


def http_query(port, sql, timeout=5.0):
    url = f"http://{LISTEN_HOST}:{port}/"
    req = urllib.request.Request(url, data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read().decode(errors="replace")


def ping(port, timeout=1.0):
    try:
        with urllib.request.urlopen(f"http://{LISTEN_HOST}:{port}/ping", timeout=timeout) as r:
            return r.read().strip() == b"Ok."
    except (urllib.error.URLError, OSError):
        return False


def write_config(work_dir, port, users_xml=None):
    # Only the listener settings (and, when given, where the users are): everything else keeps
    # clickhouse-local defaults, and the data path comes from the `path=` argument of the query
    # call.
    users = ""
    if users_xml:
        users = f"""
    <user_directories>
        <users_xml><path>{xml_escape(os.path.abspath(users_xml))}</path></users_xml>
    </user_directories>"""
    config = f"""<?xml version="1.0"?>
<!-- Written by scripts/clickhouse-server.py on every start; edits are overwritten. -->
<clickhouse>
    <listen_host>{LISTEN_HOST}</listen_host>
    <http_port>{port}</http_port>{users}
</clickhouse>
"""
    path = os.path.join(work_dir, "config.xml")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(config)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, help="persistent data directory")
    ap.add_argument("--port", type=int, default=8123, help="HTTP port on 127.0.0.1 (default 8123)")
    ap.add_argument("--pid-file", help="write this process id here; removed on exit")
    ap.add_argument("--users-xml", help="sign requests in against the users (and grants) in this users.xml")
    args = ap.parse_args()

    data_dir = os.path.abspath(args.data_dir)
    work_dir = os.path.join(data_dir, "server")
    os.makedirs(work_dir, exist_ok=True)
    if args.users_xml and not os.path.isfile(args.users_xml):
        log(f"--users-xml {args.users_xml}: no such file")
        return 2
    write_config(work_dir, args.port, args.users_xml)

    if ping(args.port):
        log(f"something already answers on {LISTEN_HOST}:{args.port}; refusing to start")
        return 1

    # Block the stop signals before any thread exists, so the engine's threads
    # inherit the mask and the signals are delivered only to our sigwait below.
    stop_signals = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)

    # Server time zone UTC regardless of the machine's (like production servers);
    # <timezone> in config.xml is ignored by this code path, TZ is not.
    os.environ["TZ"] = "UTC"
    time.tzset()

    import chdb._chdb as chdb_native  # noqa: E402  (heavy import, after arg checks)
    try:
        # Keep clickhouse-local from installing its own process-wide signal handlers.
        chdb_native.set_signal_handlers_enabled(0)
    except AttributeError:
        pass

    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")

    # clickhouse-local reads ./config.xml from the current directory.
    os.chdir(work_dir)

    outcome = {}

    def serve():
        try:
            res = chdb_native.query(
                "SYSTEM START LISTEN HTTP;\n" + KEEPALIVE_SQL, "TabSeparated", path=data_dir
            )
            # Engine errors are usually printed to stderr (this log) rather than
            # reported in the result; take the result's word when it has one.
            if getattr(res, "has_error", lambda: False)():
                outcome["error"] = res.error_message()
        except Exception as e:  # the keep-alive query being killed lands here
            outcome["error"] = str(e)

    worker = threading.Thread(target=serve, name="chdb-engine", daemon=True)
    log(f"starting ClickHouse engine, data dir {data_dir}, http://{LISTEN_HOST}:{args.port}")
    worker.start()

    stopping = {"flag": False}

    def watcher():
        # Turn an unexpected end of the engine into a wake-up of the main thread.
        worker.join()
        if not stopping["flag"]:
            signal.pthread_kill(main_ident, signal.SIGHUP)

    main_ident = threading.get_ident()
    threading.Thread(target=watcher, name="engine-watch", daemon=True).start()

    # Report readiness in the log (callers poll /ping themselves).
    def ready_reporter():
        t0 = time.monotonic()
        while worker.is_alive() and not stopping["flag"]:
            if ping(args.port):
                log(f"ready after {time.monotonic() - t0:.1f}s")
                return
            time.sleep(0.1)

    threading.Thread(target=ready_reporter, name="ready", daemon=True).start()

    sig = signal.sigwait(stop_signals)
    stopping["flag"] = True
    rc = 0
    if not worker.is_alive():
        log("engine stopped unexpectedly: "
            + outcome.get("error", "see the engine's message above").strip())
        rc = 1
    else:
        log(f"received {signal.Signals(sig).name}; stopping")
        deadline = time.monotonic() + 15
        while worker.is_alive() and time.monotonic() < deadline:
            try:
                http_query(
                    args.port,
                    "KILL QUERY WHERE query LIKE 'SELECT max(sleepEachRow(1)) AS "
                    + KEEPALIVE_MARK + "%' SYNC",
                )
            except Exception as e:
                log(f"kill request failed: {e}")
            worker.join(timeout=1.0)
        if worker.is_alive():
            log("engine did not stop within 15s")
            rc = 1
        else:
            err = outcome.get("error")
            if err and "QUERY_WAS_CANCELLED" not in err and "cancelled" not in err.lower():
                log(f"engine ended with: {err.strip()}")
            log("stopped")

    if args.pid_file:
        try:
            with open(args.pid_file) as f:
                if f.read().strip() == str(os.getpid()):
                    os.unlink(args.pid_file)
        except OSError:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter/engine teardown (static destructors of the embedded engine).
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
