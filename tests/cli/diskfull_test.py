#!/usr/bin/python3
"""A writer whose disk fills up, then has room again; and a writer whose fdatasync fails.
Real processes and files: the log lives on a small tmpfs mounted for the test (root only), and
fdatasync failures are injected into the running writer with Debian's libfiu (fiu-run,
fiu-ctrl). Sockets on 127.0.0.1 with ephemeral ports, every wait bounded.

    diskfull_test.py --procreg PATH [unittest args...]
"""
import errno
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
from cli_test import ANY, WAIT_S, lines_json
from metrics_test import get, wait_for

PAD = "x" * 9000  # each record needs fresh pages of the tmpfs


def row(i):
    return {"spec": {"id": "w%d" % i}, "node_pids": [["n1", "<0.%d.0>" % i]],
            "metadata": {"tag": "t", "pad": PAD}}


class Writer:
    """`procreg serve` on `log_dir` with --http, optionally under fiu-run (fault injection)."""

    def __init__(self, work, log_dir, extra=(), fiu=False):
        self.endpoints = os.path.join(work, "endpoints.json")
        if os.path.exists(self.endpoints):
            os.remove(self.endpoints)
        self.out = open(os.path.join(work, "serve.out"), "w+")
        self.err = open(os.path.join(work, "serve.err"), "w+")
        command = [cli_test.PROCREG, "serve", "--log-dir", log_dir, "--hub", "t",
                   "--bus-frontend", ANY, "--bus-backend", ANY, "--replay", ANY, "--command", ANY,
                   "--stats", ANY, "--http", "127.0.0.1:0", "--endpoints-file", self.endpoints,
                   "--segment-bytes", "4096", *extra]
        self.proc = subprocess.Popen((["fiu-run", "-x"] if fiu else []) + command,
                                     stdout=self.out, stderr=self.err, cwd=work)
        wait_for(lambda: os.path.exists(self.endpoints) or self.proc.poll() is not None,
                 "the writer's endpoints file")
        if self.proc.poll() is not None:
            raise AssertionError("serve did not start: " + self.stderr())
        with open(self.endpoints) as f:
            self.http = json.load(f)["http"]

    def insert(self, i):
        return cli_test.run("call", "--endpoints", self.endpoints, "insert", json.dumps(row(i)))

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=WAIT_S)
        finally:
            self.out.close()
            self.err.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def fill(path):
    """Writes `path` until the file system is full; returns how much it wrote."""
    written = 0
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
                written += 65536
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
    return written


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="procreg-diskfull-")
        self.mnt = os.path.join(self.work, "mnt")
        os.mkdir(self.mnt)
        self.mounted = False
        self.writer = None

    def tearDown(self):
        if self.writer:
            self.writer.kill()
        if self.mounted:
            subprocess.run(["umount", self.mnt], check=False)
        shutil.rmtree(self.work, ignore_errors=True)

    def mount_tmpfs(self, size):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip())
        self.mounted = True

    def check_log(self, log_dir, acknowledged):
        r = cli_test.run("verify", "--log-dir", log_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = cli_test.run("replay", "--log-dir", log_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        state = json.loads(r.stdout)["result"]
        return state

    def refuses_then_resumes(self, durability, zero_fill=0):
        """Without zero fill, the first write after the disk filled up is refused. With it, the
        segment's zero fill (and what a roll frees of it) still takes a record or two: writes
        go on until one is refused, then every write is refused until there is room."""
        self.mount_tmpfs("2m")
        log_dir = os.path.join(self.mnt, "log")
        self.writer = Writer(self.work, log_dir, extra=("--durability", durability,
                                                        "--zero-fill-bytes", str(zero_fill)))
        acknowledged, seq, i, refused = [], 0, 0, 0
        for rnd in range(3):
            for _ in range(3):
                r = self.writer.insert(i)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                seq += 1
                self.assertEqual(json.loads(r.stdout), {"seq": seq})
                acknowledged.append(i)
                i += 1
            filler = os.path.join(self.mnt, "filler")
            self.assertGreater(fill(filler), 0)
            in_a_row = 0
            for attempt in range(12 if zero_fill else 4):
                r = self.writer.insert(i)
                i += 1
                if r.returncode == 0 and zero_fill and in_a_row == 0:
                    seq += 1  # the zero fill took it
                    self.assertEqual(json.loads(r.stdout), {"seq": seq})
                    acknowledged.append(i - 1)
                    continue
                self.assertEqual(r.returncode, 1, r.stdout)
                error = json.loads(r.stdout)["error"]
                self.assertEqual(error["code"], "io_error", error)
                self.assertIn("No space left on device", error["message"])
                self.assertIn("nothing was written", error["message"])
                refused += 1
                in_a_row += 1
                if in_a_row == 4:
                    break
            self.assertEqual(in_a_row, 4, "writes go on after the disk filled up")
            status, _, body = wait_for(lambda: (lambda a: a if a[0] == 503 else None)(
                get(self.writer.http, "/healthz")), "an unhealthy writer")
            failed = [c for c in json.loads(body)["checks"] if not c["ok"]]
            self.assertEqual([c["check"] for c in failed], ["log"], body)
            self.assertIn("full disk", failed[0]["detail"])
            os.remove(filler)  # room again: the next write succeeds, with the next seq
        r = self.writer.insert(i)
        self.assertEqual(json.loads(r.stdout), {"seq": seq + 1}, r.stderr)
        acknowledged.append(i)
        stats = json.loads(cli_test.run("stats", "--endpoints", self.writer.endpoints).stdout)
        self.assertEqual(stats["log"], {"failed": False, "error": "", "write_failures": refused})
        self.assertEqual(refused, 12)
        self.assertEqual(self.writer.stop(), 0)
        state = self.check_log(log_dir, acknowledged)
        self.assertEqual(sorted(state), sorted("w%d" % k for k in acknowledged))

    def test_a_full_disk_refuses_writes_until_there_is_room_sync_each(self):
        self.refuses_then_resumes("sync")

    def test_a_full_disk_refuses_writes_until_there_is_room_group_commit(self):
        self.refuses_then_resumes("group")

    def test_a_full_disk_refuses_writes_after_the_zero_fill_until_there_is_room(self):
        self.refuses_then_resumes("sync", zero_fill=16384)
        self.tearDown()
        self.setUp()
        self.refuses_then_resumes("group", zero_fill=16384)

    def test_a_failed_fdatasync_stops_the_writer_and_a_restart_recovers(self):
        if shutil.which("fiu-run") is None or shutil.which("fiu-ctrl") is None:
            self.fail("fiu-run and fiu-ctrl are needed (Debian: fiu-utils)")
        log_dir = os.path.join(self.work, "log")
        self.writer = Writer(self.work, log_dir, fiu=True)
        for i in range(3):
            r = self.writer.insert(i)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run(["fiu-ctrl", "-c", "enable name=posix/io/sync/fdatasync",
                            str(self.writer.proc.pid)], capture_output=True, text=True,
                           timeout=WAIT_S)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.writer.insert(3)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("fdatasync", json.loads(r.stdout)["error"]["message"])
        # The writer stops on its own, says why, and exits 1 for its supervisor.
        self.assertEqual(self.writer.proc.wait(timeout=WAIT_S), 1)
        self.assertIn("the log takes no more writes", self.writer.stderr())
        self.assertIn("fdatasync", self.writer.stderr())
        self.writer.stop()
        # Restarted without the fault: recovery keeps every acknowledged write, and the one
        # reported failed is there or not, never half.
        self.writer = Writer(self.work, log_dir)
        r = self.writer.insert(4)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.writer.stop(), 0)
        state = self.check_log(log_dir, [0, 1, 2, 4])
        self.assertTrue({"w0", "w1", "w2", "w4"} <= set(state), sorted(state))
        self.assertTrue(set(state) <= {"w0", "w1", "w2", "w3", "w4"}, sorted(state))


if __name__ == "__main__":
    cli_test.run_test_file("diskfull_test.py")
