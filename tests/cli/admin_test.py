#!/usr/bin/python3
"""`procreg snapshot` and `procreg compact` on a running writer: real processes, sockets on
127.0.0.1 with ephemeral ports, every wait bounded.

    admin_test.py --procreg PATH [unittest args...]
"""
import json
import os
import unittest

import cli_test
from cli_test import Hub, insert_args


class AdminTest(unittest.TestCase):
    def setUp(self):
        self.hub = Hub(extra=("--segment-bytes", "4096", "--snapshot-keep", "1"))

    def tearDown(self):
        self.hub.close()

    def files(self, suffix):
        return sorted(n for n in os.listdir(self.hub.log) if n.endswith(suffix))

    def test_snapshot_then_compact_on_a_running_writer(self):
        batch = "".join(json.dumps({"method": "insert", "args": insert_args("w%d" % i)}) + "\n"
                        for i in range(150))
        r = cli_test.run("call", *self.hub.ep(), "--batch", "-", stdin=batch)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.files(".snap"), [])
        segments = self.files(".log")
        self.assertGreater(len(segments), 2)
        r = cli_test.run("snapshot", *self.hub.ep())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        written = json.loads(r.stdout)
        self.assertEqual((written["seq"], written["rows"]), (150, 150))
        self.assertEqual(self.files(".snap"), [written["file"]])
        stats = json.loads(cli_test.run("stats", *self.hub.ep()).stdout)
        self.assertEqual(stats["last_snapshot_seq"], 150)
        self.assertFalse(stats["snapshot_job"]["running"])
        # Compaction removes what the snapshot covers, keeping the newest segment with a record.
        r = cli_test.run("compact", *self.hub.ep())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        removed = json.loads(r.stdout)["compacted"]
        self.assertGreater(removed, 0)
        self.assertEqual(len(self.files(".log")), len(segments) - removed)
        # The writer goes on, and a replay from the snapshot sees every row.
        self.hub.call("insert", insert_args("after"))
        self.assertEqual(self.hub.stop(), 0)
        r = cli_test.run("replay", "--log-dir", self.hub.log)
        self.assertEqual((r.returncode, len(json.loads(r.stdout)["result"])), (0, 151), r.stderr)

    def test_a_stats_endpoint_that_is_not_a_writers_refuses(self):
        # A bad endpoint is a usage error; nothing there is unreachable (exit 3).
        self.assertEqual(cli_test.run("compact", "--stats", "localhost:1").returncode, 2)
        r = cli_test.run("snapshot", "--stats", "tcp://127.0.0.1:9", "--timeout-ms", "300")
        self.assertEqual(r.returncode, 3, r.stderr)


if __name__ == "__main__":
    cli_test.run_test_file("admin_test.py")
