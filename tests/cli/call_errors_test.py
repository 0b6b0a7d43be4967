#!/usr/bin/python3
"""`procreg call` and `procreg stats` never leave a user waiting for the wrong reason: a call to
another service's port, to nobody, or too big to take is answered within --timeout-ms (most at
once) with an error that says which. Real processes, sockets on 127.0.0.1 with ephemeral ports,
every wait bounded.

    call_errors_test.py --procreg PATH [unittest args...]
"""
import json
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

import cli_test
from cli_test import Hub, insert_args

ROW = json.dumps(insert_args("w1"))


def timed(*args, stdin=None):
    started = time.monotonic()
    r = cli_test.run(*args, stdin=stdin)
    return r, time.monotonic() - started


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CallErrorsTest(unittest.TestCase):
    def setUp(self):
        self.hub = Hub()
        with open(self.hub.endpoints) as f:
            self.eps = json.load(f)

    def tearDown(self):
        self.hub.close()

    def call(self, *args, stdin=None):
        return timed("call", *self.hub.ep(), "--timeout-ms", "1500", *args, stdin=stdin)

    def test_a_write_to_another_services_port_fails_at_once_saying_so(self):
        r, took = self.call("--command", self.eps["stats"], "insert", ROW)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertLess(took, 1.4, "answered at once, not at the deadline")
        message = json.loads(r.stdout)["error"]["message"]
        self.assertIn("as a stats endpoint answers", message)
        self.assertIn("A write sent there was not taken", message)
        r, took = self.call("--command", self.eps["replay"], "insert", ROW)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertLess(took, 1.4)
        self.assertIn("not a command reply", json.loads(r.stdout)["error"]["message"])
        # Nothing was written by either.
        self.assertEqual(json.loads(self.hub.call("last_sequence").stdout), 0)

    def test_timeout_ms_bounds_a_write_to_nobody(self):
        r, took = timed("call", *self.hub.ep(), "--command", "tcp://127.0.0.1:%d" % closed_port(),
                        "--timeout-ms", "700", "insert", ROW)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertLess(took, 5, "bounded by --timeout-ms, not by a 10 s default")
        self.assertIn("within 700 ms", json.loads(r.stdout)["error"]["message"])
        # A timeout_ms in the arguments still wins over --timeout-ms.
        args = dict(insert_args("w2"), timeout_ms=300)
        r, took = timed("call", *self.hub.ep(), "--command", "tcp://127.0.0.1:%d" % closed_port(),
                        "--timeout-ms", "20000", "insert", json.dumps(args))
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertLess(took, 5)

    def test_a_port_that_closes_every_connection_is_named_before_the_timeout(self):
        # A server that accepts and closes at once, as a CURVE server does with a plaintext
        # client before that client has read why: the call says so instead of waiting.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.2)
        stop = threading.Event()

        def close_each():
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except socket.timeout:
                    continue
                conn.close()

        closer = threading.Thread(target=close_each)
        closer.start()
        try:
            port = listener.getsockname()[1]
            r, took = timed("call", *self.hub.ep(), "--command", "tcp://127.0.0.1:%d" % port,
                            "--timeout-ms", "20000", "get_pid", json.dumps({"child_id": "w1"}))
        finally:
            stop.set()
            closer.join(10)
            listener.close()
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertLess(took, 10, "answered after a few reconnects, not at the 20 s deadline")
        message = json.loads(r.stdout)["error"]["message"]
        self.assertIn("closed the connection during the handshake", message)
        self.assertIn("CURVE", message)

    def test_an_oversized_request_is_refused_at_once_and_the_hub_goes_on(self):
        d = tempfile.mkdtemp(prefix="procreg-call-errors-")
        big = os.path.join(d, "big.json")
        with open(big, "w") as f:
            json.dump(dict(insert_args("big"), metadata={"x": "y" * (20 << 20)}), f)
        r, took = self.call("insert", "@" + big)
        os.remove(big)
        os.rmdir(d)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertLess(took, 10)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "resource_exhausted")
        stats = json.loads(cli_test.run("stats", *self.hub.ep()).stdout)
        self.assertGreaterEqual(stats["server"]["bad_frames"], 1)
        r, _ = self.call("insert", ROW)
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, {"seq": 1}))

    def test_arguments_from_stdin_and_from_a_file(self):
        r, _ = self.call("insert", "-", stdin=ROW)
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, {"seq": 1}), r.stderr)
        d = tempfile.mkdtemp(prefix="procreg-call-errors-")
        path = os.path.join(d, "args.json")
        with open(path, "w") as f:
            f.write(json.dumps({"child_id": "w1"}))
        r, _ = self.call("get_pid", "@" + path)
        os.remove(path)
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, "p1"), r.stderr)
        r, _ = self.call("get_pid", "@" + path)  # gone now
        os.rmdir(d)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("cannot read", r.stderr)

    def test_stats_on_another_services_port_fails_at_once(self):
        for endpoint in (self.eps["command"], self.eps["replay"]):
            r, took = timed("stats", "--stats", endpoint, "--timeout-ms", "1500")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertLess(took, 1.4)
            self.assertIn("not as a stats endpoint does", r.stderr)


if __name__ == "__main__":
    cli_test.run_test_file("call_errors_test.py")
