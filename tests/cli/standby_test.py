#!/usr/bin/python3
"""End-to-end tests of `procreg serve --standby-of`: real processes, sockets on 127.0.0.1 with
ephemeral ports, every wait bounded, temporary directories removed.

    standby_test.py --procreg PATH [unittest args...]

A writer (`procreg serve`) and a standby of it run as processes; the writer is killed with
SIGKILL, and the standby's copy must hold every acknowledged write, byte for byte.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import cli_test
from cli_test import ANY, WAIT_S, Hub, insert_args, lines_json


def cli_test_gone_s():
    """How long a standby must have heard nothing from its writer before it may be promoted
    (tools/procreg/standby_cmd.h, kWriterGoneMs), with a margin."""
    return 2.0


def records_end(data):
    """Where a segment's records end: a writer's active segment is zero-filled after them
    (docs/LOG_FORMAT.md section 5), its copy is not."""
    at = int.from_bytes(data[6:8], "little")  # header_len
    while at + 17 <= len(data):
        length = int.from_bytes(data[at + 4:at + 8], "little")
        if length == 0 or at + 17 + length > len(data):
            break
        at += 17 + length
    return at


def log_files(directory):
    files = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".log") or name.endswith(".snap"):
            with open(os.path.join(directory, name), "rb") as f:
                data = f.read()
            files[name] = data[:records_end(data)] if name.endswith(".log") else data
    return files


def batch(first, count):
    return "".join(json.dumps({"method": "insert", "args": insert_args("w%d" % i, pid="p%d" % i)})
                   + "\n" for i in range(first, first + count))


class Standby:
    """A `procreg serve --standby-of` of `hub`, copying into its own temporary directory."""

    def __init__(self, hub, copy_dir, extra=()):
        self.dir = tempfile.mkdtemp(prefix="procreg-standby-test-")
        self.copy = copy_dir
        self.endpoints = os.path.join(self.dir, "standby.json")
        self.out = open(os.path.join(self.dir, "standby.out"), "w+")
        self.proc = subprocess.Popen(
            [cli_test.PROCREG, "serve", "--log-dir", copy_dir, "--hub", "t",
             "--standby-of", hub.endpoints, "--stats", ANY, "--endpoints-file", self.endpoints,
             *extra],
            stdout=self.out, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + WAIT_S
        while not os.path.exists(self.endpoints):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the standby did not start: " + self.output())
            time.sleep(0.02)
        with open(self.endpoints) as f:
            self.eps = json.load(f)

    def stats(self):
        r = cli_test.run("stats", "--stats", self.eps["stats"])
        if r.returncode != 0:
            raise AssertionError("stats failed: %s %s" % (r.stdout, r.stderr))
        return json.loads(r.stdout)

    def wait_copied(self, seq):
        deadline = time.monotonic() + WAIT_S
        while True:
            st = self.stats()
            if st["standby"]["copied_seq"] >= seq:
                return st
            if time.monotonic() > deadline:
                raise AssertionError("the standby holds %s, not %d" % (st, seq))
            time.sleep(0.05)

    def output(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class StandbyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="procreg-standby-copy-")
        self.copy = os.path.join(self.tmp, "copy")
        self.hub = Hub(extra=["--durability", "sync", "--segment-bytes", "4096"])

    def tearDown(self):
        self.hub.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, first, count):
        r = cli_test.run("call", *self.hub.ep(), "--batch", "-", stdin=batch(first, count))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return lines_json(r.stdout)[-1]["result"]["seq"]

    def replay(self, log_dir):
        r = cli_test.run("replay", "--log-dir", log_dir, "--query", "dump_all_tables")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_copies_serves_reads_and_keeps_every_write_when_the_writer_is_killed(self):
        acked = self.write(0, 60)
        standby = Standby(self.hub, self.copy, extra=["--serve", ANY])
        try:
            st = standby.wait_copied(acked)
            self.assertEqual(st["role"], "standby")
            self.assertEqual(st["standby"]["status"], "copying")
            self.assertGreaterEqual(st["standby"]["files_completed"], 1)  # 4 KiB segments
            # Reads at the standby's own endpoint, while it copies.
            r = cli_test.run("call", "--command", standby.eps["serve"], "--hub", "t",
                             "--at-least-seq", str(acked), "get_pid", '{"child_id": "w7"}')
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout), "p7")
            acked = self.write(60, 40)
            standby.wait_copied(acked)
            self.hub.proc.send_signal(signal.SIGKILL)  # the writer's machine dies
            self.hub.proc.wait(timeout=WAIT_S)
            standby.proc.send_signal(signal.SIGTERM)
            self.assertEqual(standby.proc.wait(timeout=WAIT_S), 0, standby.output())
            stopped = [l for l in lines_json(standby.output()) if l.get("event") == "stopped"]
            self.assertEqual(stopped[0]["copied_seq"], acked)
        finally:
            standby.close()
        self.assertEqual(log_files(self.copy), log_files(self.hub.log))
        state = self.replay(self.copy)
        self.assertEqual(state, self.replay(self.hub.log))
        self.assertEqual(state["rows"], 100)
        self.assertEqual(state["last_seq"], 100)

    def test_with_sync_standbys_every_acknowledged_write_survives_the_writer(self):
        """Three clients write while the writer is killed; each line a client printed as a
        result is an acknowledged write, and the standby's copy must hold it."""
        self.hub.close()
        self.hub = Hub(extra=["--durability", "sync", "--segment-bytes", "4096",
                              "--sync-standbys", "1", "--standby-timeout-ms", "1000"])
        # No standby: refused at once, nothing written (exit 3: unavailable).
        r = self.hub.call("insert", insert_args("w0"), check=False)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("standbys", r.stdout + r.stderr)
        standby = Standby(self.hub, self.copy)
        acked = []
        try:
            deadline = time.monotonic() + WAIT_S
            while self.hub.call("insert", insert_args("w1"), check=False).returncode != 0:
                self.assertLess(time.monotonic(), deadline, "the standby never came in sync")
                time.sleep(0.05)
            # Several clients at once, while the writer is killed: every write they were told
            # succeeded must be in the standby's copy.
            clients = [subprocess.Popen(
                [cli_test.PROCREG, "call", *self.hub.ep(), "--timeout-ms", "500", "--batch", "-"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True) for _ in range(3)]
            for n, c in enumerate(clients):
                c.stdin.write(batch(1000 * (n + 1), 300))
                c.stdin.close()
            time.sleep(0.3)
            self.hub.proc.send_signal(signal.SIGKILL)
            self.hub.proc.wait(timeout=WAIT_S)
            time.sleep(1)  # the lines in flight get their answer (or time out)
            for n, c in enumerate(clients):
                c.kill()
                out = c.stdout.read()
                c.wait(timeout=WAIT_S)
                for line in lines_json(out):
                    if "result" in line:
                        acked.append(("w%d" % (1000 * (n + 1) + line["line"] - 1),
                                      line["result"]["seq"]))
            standby.proc.send_signal(signal.SIGTERM)
            self.assertEqual(standby.proc.wait(timeout=WAIT_S), 0, standby.output())
        finally:
            standby.close()
        self.assertGreater(len(acked), 0)
        # Taken over by hand: a writer on the copy holds every acknowledged write.
        state = self.replay(self.copy)
        rows = state["result"]["t"]
        missing = [child for child, _ in acked if child not in rows]
        self.assertEqual(missing, [])
        self.assertGreaterEqual(state["last_seq"], max(seq for _, seq in acked))
        r = cli_test.run("serve", "--log-dir", self.copy, "--hub", "t", "--bus-frontend", ANY,
                         "--bus-backend", ANY, "--replay", ANY, "--command", ANY,
                         "--stats", "none", "--seconds", "0.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        ready = [l for l in lines_json(r.stdout) if l.get("event") == "ready"][0]
        self.assertEqual(ready["last_seq"], state["last_seq"])

    def promote(self, standby, *extra):
        return cli_test.run("promote", "--stats", standby.eps["stats"], *extra)

    def test_promote_the_most_complete_standby_after_the_writer_dies(self):
        """Two standbys with --sync-standbys 1 at the writer; one is paused while clients write,
        the writer is killed, and the complete one is promoted: it serves every acknowledged
        write at term 2 and takes new ones."""
        self.hub.close()
        self.hub = Hub(extra=["--durability", "sync", "--segment-bytes", "4096",
                              "--sync-standbys", "1", "--standby-timeout-ms", "1000"])
        as_writer = ["--bus-frontend", ANY, "--bus-backend", ANY, "--replay", ANY,
                     "--command", ANY, "--heartbeat-ms", "100"]
        a = Standby(self.hub, self.copy, extra=as_writer)
        b = Standby(self.hub, os.path.join(self.tmp, "copy-b"), extra=as_writer)
        try:
            acked = self.write_when_in_sync(0, 50)
            b.wait_copied(acked)
            # The writer is alive: no promotion.
            r = self.promote(a)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("alive", r.stdout + r.stderr)
            b.proc.send_signal(signal.SIGSTOP)  # b falls behind; a alone keeps the writer going
            acked = self.write(50, 50)
            a.wait_copied(acked)
            self.hub.proc.send_signal(signal.SIGKILL)
            self.hub.proc.wait(timeout=WAIT_S)
            b.proc.send_signal(signal.SIGCONT)
            time.sleep(cli_test_gone_s())
            # b lacks acknowledged writes that a holds: refused, naming a.
            r = self.promote(b, "--peer", a.eps["stats"])
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("promote that one", r.stderr)
            started = time.monotonic()
            r = self.promote(a, "--peer", b.eps["stats"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(json.loads(r.stdout)["term"], 2)
            writer = self.wait_promoted(a)
            took = time.monotonic() - started
            self.assertEqual(writer["term"], 2)
            self.assertEqual(writer["last_seq"], acked)
            rows = self.dump_rows(a.endpoints)
            self.assertEqual(sorted(rows), sorted("w%d" % i for i in range(100)))
            r = cli_test.run("call", "--endpoints", a.endpoints, "insert", json.dumps(
                insert_args("w100")))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(json.loads(r.stdout)["seq"], acked + 1)
            st = cli_test.run("stats", "--endpoints", a.endpoints)
            self.assertEqual(json.loads(st.stdout)["term"], 2, st.stdout)
            self.assertLess(took, WAIT_S)
        finally:
            if b.proc.poll() is None:
                b.proc.send_signal(signal.SIGCONT)
            a.close()
            b.close()

    def write_when_in_sync(self, first, count):
        deadline = time.monotonic() + WAIT_S
        while True:
            r = cli_test.run("call", *self.hub.ep(), "--batch", "-", stdin=batch(first, count))
            if r.returncode == 0:
                return lines_json(r.stdout)[-1]["result"]["seq"]
            self.assertLess(time.monotonic(), deadline, "the standbys never came in sync")
            time.sleep(0.05)

    def wait_promoted(self, standby):
        """The "ready" line of the writer a promoted standby became (its endpoints file is
        rewritten with the writer's endpoints)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            ready = [l for l in lines_json(standby.output())
                     if l.get("event") == "ready" and "command" in l]
            if ready:
                return ready[0]
            self.assertIsNone(standby.proc.poll(), standby.output())
            self.assertLess(time.monotonic(), deadline, standby.output())
            time.sleep(0.05)

    def dump_rows(self, endpoints):
        r = cli_test.run("call", "--endpoints", endpoints, "dump_all_tables")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return list(json.loads(r.stdout)["t"].keys())

    def test_a_copy_of_another_history_stops_the_standby_and_is_kept(self):
        acked = self.write(0, 20)
        standby = Standby(self.hub, self.copy)
        try:
            standby.wait_copied(acked)
        finally:
            standby.proc.send_signal(signal.SIGTERM)
            standby.proc.wait(timeout=WAIT_S)
            standby.close()
        before = log_files(self.copy)
        other = Hub(extra=["--durability", "none"])  # the same hub id, a new log: another epoch
        try:
            r = cli_test.run("call", *other.ep(), "--batch", "-", stdin=batch(0, 30))
            self.assertEqual(r.returncode, 0, r.stderr)
            standby = Standby(other, self.copy)
            try:
                self.assertEqual(standby.proc.wait(timeout=WAIT_S), 1, standby.output())
                self.assertIn("stopped copying", standby.output())
                self.assertIn("a new history", standby.output())
            finally:
                standby.close()
        finally:
            other.close()
        self.assertEqual(log_files(self.copy), before)


def main():
    argv = sys.argv[1:]
    rest = []
    while argv:
        a = argv.pop(0)
        if a == "--procreg":
            cli_test.PROCREG = os.path.abspath(argv.pop(0))
        else:
            rest.append(a)
    if not cli_test.PROCREG:
        sys.exit("usage: standby_test.py --procreg PATH")
    suite = unittest.TestLoader().loadTestsFromTestCase(StandbyTest)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
