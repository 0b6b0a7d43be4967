#!/usr/bin/python3
"""Durable hook subscribers (`procreg tail --hooks --durable NAME`) against a writer that compacts
hard: the log keeps what the name still needs, the name resumes exactly where it stopped, and
past --durable-retention-events it is cut off, told so (exit 4), and the writer warns. Real
processes, sockets on 127.0.0.1 with ephemeral ports, every wait bounded.

    durable_test.py --procreg PATH [unittest args...]
"""
import json
import os
import sys
import unittest

import cli_test
from cli_test import Hub, insert_args, lines_json

COMPACT_HARD = ("--snapshot-every-events", "25", "--snapshot-keep", "1", "--compact",
                "--segment-bytes", "4096", "--durable-retention-events", "200")


def insert(hub, first, last):
    batch = "".join(json.dumps({"method": "insert", "args": insert_args("w%d" % i)}) + "\n"
                    for i in range(first, last + 1))
    r = cli_test.run("call", *hub.ep(), "--batch", "-", stdin=batch)
    if r.returncode != 0:
        raise AssertionError(r.stdout + r.stderr)


class DurableTest(unittest.TestCase):
    def setUp(self):
        self.hub = Hub(extra=COMPACT_HARD)

    def tearDown(self):
        self.hub.close()

    def tail(self, *args):
        return cli_test.run("tail", *self.hub.ep(), "--hooks", "--durable", "billing", *args)

    def seqs(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        return [e["seq"] for e in lines_json(r.stdout)]

    def test_a_durable_name_resumes_where_it_stopped_and_keeps_its_log(self):
        insert(self.hub, 1, 5)
        # A new name starts at the head: it joins, then the next events come.
        joined = self.tail("--count", "0", "--seconds", "1")
        self.assertEqual(self.seqs(joined), [])
        insert(self.hub, 6, 10)
        self.assertEqual(self.seqs(self.tail("--count", "3")), [6, 7, 8])
        # 110 more events and snapshots every 25 with --compact: seq 9 would be long gone.
        insert(self.hub, 11, 120)
        self.assertEqual(self.seqs(self.tail("--count", "3")), [9, 10, 11])
        r = cli_test.run("tail", *self.hub.ep(), "--hooks", "--from", "12", "--count", "1")
        self.assertEqual(self.seqs(r), [12], "the log still holds what billing needs")
        stats = json.loads(cli_test.run("stats", *self.hub.ep()).stdout)
        self.assertEqual(stats["durable"], {"subscribers": 1, "cut_off": 0, "max_lag": 109})
        # Without the durable name, compaction left nothing before the newest snapshot's
        # segment for an ordinary subscriber of the same position... but billing's keeps it.
        segments = sorted(n for n in os.listdir(self.hub.log) if n.endswith(".log"))
        self.assertEqual(segments[0], "%020d.log" % 1)

    def test_past_the_bound_it_is_cut_off_told_so_and_the_writer_warns(self):
        insert(self.hub, 1, 5)
        self.seqs(self.tail("--count", "0", "--seconds", "1"))
        insert(self.hub, 6, 10)
        self.assertEqual(self.seqs(self.tail("--count", "2")), [6, 7])
        insert(self.hub, 11, 400)  # billing at 7, 393 behind: over the bound of 200
        r = self.tail("--count", "1")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("compacted", r.stderr)
        stats = json.loads(cli_test.run("stats", *self.hub.ep()).stdout)
        self.assertEqual(stats["durable"]["cut_off"], 1)
        self.assertIn("durable hook subscriber(s) cut off", self.hub.output())
        # Restarted explicitly from a later position, the name holds the log again.
        r = self.tail("--from", "395", "--count", "2")
        self.assertEqual(self.seqs(r), [395, 396])
        self.assertEqual(self.seqs(self.tail("--count", "1")), [397])

    def test_a_bad_name_and_durable_without_hooks_are_usage_errors(self):
        r = cli_test.run("tail", *self.hub.ep(), "--hooks", "--durable", "no spaces", "--count", "1")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("durable", r.stderr)
        r = cli_test.run("tail", *self.hub.ep(), "--durable", "billing", "--count", "1")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--durable needs --hooks", r.stderr)


if __name__ == "__main__":
    cli_test.run_test_file("durable_test.py")
