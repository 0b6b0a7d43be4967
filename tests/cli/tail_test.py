#!/usr/bin/python3
"""End-to-end tests of `procreg tail --since` and `--until-head`: a `procreg serve` on
127.0.0.1 with ephemeral ports, writes whose writer times are apart, then tail. Every wait is
bounded and temporary directories are removed.

    tail_test.py --procreg PATH [unittest args...]
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import cli_test
from cli_test import WAIT_S, Hub, insert_args, lines_json


def run(*args, timeout=WAIT_S):
    return subprocess.run([cli_test.PROCREG, *args], capture_output=True, text=True,
                          timeout=timeout)


def iso(ms):
    """ms since the epoch as YYYY-MM-DDTHH:MM:SS.mmmZ (UTC)."""
    t = datetime.datetime.fromtimestamp(ms // 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


class TailSinceTest(cli_test.HubTestCase):
    def write_apart(self, hub, first, count, gap_s=0.02):
        """count inserts, each its own event, gap_s apart so their writer times differ."""
        for i in range(first, first + count):
            hub.call("insert", insert_args("w%d" % i, pid="p%d" % i, tag="odd" if i % 2 else None))
            time.sleep(gap_s)

    def history(self, hub):
        """[(seq, time_ms)] of the hub's whole log, through tail --until-head."""
        r = run("tail", *hub.ep(), "--until-head")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [(e["seq"], e["time_ms"]) for e in lines_json(r.stdout)]

    def test_usage_errors(self):
        r = run("tail", "--since", "1000", "--from", "3")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--since", r.stderr)
        r = run("tail", "--since", "yesterday", "--until-head")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--since", r.stderr)
        r = run("tail", "--since", "2024-01-01T00:00:00+02:00")
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_since_starts_with_the_first_event_at_or_after_the_time(self):
        hub = self.start_hub()
        self.write_apart(hub, 0, 12)
        events = self.history(hub)
        self.assertEqual([s for s, _ in events], list(range(1, 13)))
        times = [t for _, t in events]
        self.assertEqual(times, sorted(set(times)), "writer times not apart: %s" % times)

        def first_seq(since, *extra):
            r = run("tail", *hub.ep(), "--since", since, "--until-head", *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            seqs = [e["seq"] for e in lines_json(r.stdout)]
            if seqs:
                self.assertEqual(seqs, list(range(seqs[0], 13)))
            return seqs[0] if seqs else None
        for k in (1, 2, 6, 11, 12):
            t = times[k - 1]
            self.assertEqual(first_seq(str(t)), k, "at t of seq %d" % k)
            self.assertEqual(first_seq(str(t - 1)), k, "just before seq %d" % k)
            self.assertEqual(first_seq(str(t + 1)), k + 1 if k < 12 else None, "just after %d" % k)
            self.assertEqual(first_seq(iso(t)), k, "ISO time of seq %d" % k)
        self.assertEqual(first_seq("0"), 1)
        self.assertEqual(first_seq(str(times[-1] + 60_000)), None)
        # log dump --since, offline, agrees.
        dumped = lines_json(run("log", "dump", "--log-dir", hub.log, "--since", str(times[4])).stdout)
        self.assertEqual(dumped[0]["seq"], 5)

        # With filters: what is printed is selected; the start is still the time's.
        r = run("tail", *hub.ep(), "--since", str(times[4]), "--until-head", "--tag", "odd")
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [6, 8, 10, 12])
        r = run("tail", *hub.ep(), "--since", str(times[4]), "--count", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [5, 6])
        # --hooks: the hook events of the events from that seq on.
        r = run("tail", *hub.ep(), "--hooks", "--since", str(times[9]), "--until-head")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([(h["seq"], h["kind"], h["child"]) for h in lines_json(r.stdout)],
                         [(10, "child_registered", "w9"), (11, "child_registered", "w10"),
                          (12, "child_registered", "w11")])

        # A --since later than every event: tail waits for the next one.
        later = times[-1] + 1
        follow = subprocess.Popen([cli_test.PROCREG, "tail", *hub.ep(), "--since", str(later),
                                   "--count", "1"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)  # subscribed and at the head
            self.assertIsNone(follow.poll())
            hub.call("insert", insert_args("late"))
            out, err = follow.communicate(timeout=WAIT_S)
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
        self.assertEqual(follow.returncode, 0, err)
        self.assertEqual([(e["seq"], e["child"]) for e in lines_json(out)], [(13, "late")])

    def test_until_head_stops_at_the_head_of_the_start_while_writes_go_on(self):
        hub = self.start_hub()
        self.write_apart(hub, 0, 5, gap_s=0)
        r = run("tail", *hub.ep(), "--until-head")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [1, 2, 3, 4, 5])
        r = run("tail", *hub.ep(), "--until-head", "--from", "3", "--kind", "insert")
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [3, 4, 5])
        r = run("tail", *hub.ep(), "--until-head", "--from", "9")  # beyond the head: nothing
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)

        # Writes go on (at most 300, or 20 s) while tails start and stop.
        stop = threading.Event()
        written = []

        def writer():
            deadline = time.monotonic() + 20
            for i in range(300):
                if stop.is_set() or time.monotonic() > deadline:
                    break
                r = hub.call("insert", insert_args("live%d" % i), check=False)
                if r.returncode == 0:
                    written.append(json.loads(r.stdout)["seq"])
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            deadline = time.monotonic() + WAIT_S
            while len(written) < 5:
                self.assertLess(time.monotonic(), deadline, "the writes did not start")
                time.sleep(0.02)
            for _ in range(3):
                before = json.loads(hub.call("last_sequence").stdout)
                r = run("tail", *hub.ep(), "--until-head", "--from", "1")
                after = json.loads(hub.call("last_sequence").stdout)
                self.assertEqual(r.returncode, 0, r.stderr)
                seqs = [e["seq"] for e in lines_json(r.stdout)]
                self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
                self.assertGreaterEqual(seqs[-1], before)
                self.assertLessEqual(seqs[-1], after)
            count_before = len(written)
            time.sleep(0.3)
            self.assertGreater(len(written), count_before, "the writes stopped")
        finally:
            stop.set()
            thread.join(timeout=WAIT_S)
        self.assertGreater(written[-1], seqs[-1])  # tail stopped while events were added

    def test_since_into_compacted_history_exits_4(self):
        archive = tempfile.mkdtemp(prefix="procreg-tail-test-archive-")
        try:
            hub = self.start_hub(extra=("--segment-bytes", "4096", "--snapshot-every-events", "10",
                                        "--snapshot-keep", "2", "--compact", "--archive-dir", archive))
            start_ms = int(time.time() * 1000) - 1000
            batch = "".join(json.dumps({"method": "insert", "args": insert_args("w%d" % i)}) + "\n"
                            for i in range(80))
            r = subprocess.run([cli_test.PROCREG, "call", *hub.ep(), "--batch", "-"], input=batch,
                               capture_output=True, text=True, timeout=WAIT_S)
            self.assertEqual(r.returncode, 0, r.stderr)
            time.sleep(0.05)
            last = json.loads(hub.call("insert", insert_args("last")).stdout)["seq"]
            deadline = time.monotonic() + WAIT_S
            while True:
                s = json.loads(run("stats", *hub.ep()).stdout or "{}")
                if s.get("writer", {}).get("segments_compacted", 0) >= 1:
                    break
                self.assertLess(time.monotonic(), deadline, "no compaction")
                time.sleep(0.1)
            r = run("tail", *hub.ep(), "--since", str(start_ms), "--until-head")
            self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertIn("compacted", r.stderr)
            self.assertIn("no longer holds the events up to seq", r.stderr)
            self.assertNotIn(hub.log, r.stderr)
            r = run("tail", *hub.ep(), "--hooks", "--since", str(start_ms), "--until-head")
            self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
            # A time after the compacted events: tail starts there.
            t_last = lines_json(run("tail", *hub.ep(), "--from", str(last), "--count", "1").stdout)
            r = run("tail", *hub.ep(), "--since", str(t_last[0]["time_ms"]), "--until-head")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual([(e["seq"], e["child"]) for e in lines_json(r.stdout)],
                             [(last, "last")])
        finally:
            shutil.rmtree(archive, ignore_errors=True)


if __name__ == "__main__":
    cli_test.run_test_file("tail_test.py")
