#!/usr/bin/python3
"""Failover by hand, round after round: real processes, sockets on 127.0.0.1 with ephemeral
ports, every wait bounded, temporary directories removed.

    failover_test.py --procreg PATH [--rounds N] [--seed S]

Three nodes, each a directory and a `procreg serve` process: one writer with --sync-standbys 1
and two standbys of it. Each round, clients write while the writer is killed (SIGKILL), or
paused (SIGSTOP) and resumed (SIGCONT) once a new writer was promoted; the most complete
standby is promoted with `procreg promote`. After each round:

- every write a client was told succeeded is on the new writer (term: the round + 1);
- no write was acknowledged by the old writer after the promotion (its late answers, if any,
  are writes the new writer holds, or refused);
- the old writer's directory and the other standby follow the new writer as standbys (the old
  writer's unacknowledged tail is dropped: docs/PROTOCOL.md, "Terms and histories").

tools/failover-soak.sh runs it for many rounds.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import cli_test
from cli_test import ANY, WAIT_S, insert_args, lines_json

ROUNDS = 20
SEED = 1
AS_WRITER = ["--bus-frontend", ANY, "--bus-backend", ANY, "--replay", ANY, "--command", ANY,
             "--stats", ANY, "--heartbeat-ms", "100", "--durability", "sync",
             "--segment-bytes", "16384", "--sync-standbys", "1", "--standby-timeout-ms", "1000"]


def batch(first, count):
    return "".join(json.dumps({"method": "insert", "args": insert_args("w%d" % i, pid="p%d" % i)})
                   + "\n" for i in range(first, first + count))


def start_clients(endpoints, first, per_client, clients=2):
    """`clients` processes writing children first.. (per_client each) through `endpoints` (a
    file, or etcd://...), each line answered or timed out within 800 ms."""
    procs = []
    for c in range(clients):
        p = subprocess.Popen(
            [cli_test.PROCREG, "call", "--endpoints", endpoints, "--timeout-ms", "800",
             "--batch", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        p.stdin.write(batch(first + c * per_client, per_client))
        p.stdin.close()
        procs.append((p, first + c * per_client))
    return procs


def acknowledged(procs):
    """The child ids the clients were told were written (each line with a result)."""
    acked = []
    for p, first in procs:
        # Lines still waiting for the old writer would each wait out their timeout: what was
        # answered so far is on stdout.
        p.kill()
        p.wait(timeout=WAIT_S)
        out = p.stdout.read()
        p.stdout.close()
        for line in lines_json(out):
            if "result" in line:
                acked.append("w%d" % (first + line["line"] - 1))
    return acked


class Node:
    """A directory and the `procreg serve` running on it: a writer, or a standby of one."""

    def __init__(self, root, name):
        self.name = name
        self.dir = os.path.join(root, name)
        self.log = os.path.join(self.dir, "log")
        os.makedirs(self.dir)
        self.endpoints = os.path.join(self.dir, "endpoints.json")
        self.proc = None
        self.out = None
        self.runs = 0

    def start(self, standby_of=None):
        self.stop()
        self.runs += 1
        if os.path.exists(self.endpoints):
            os.remove(self.endpoints)
        self.out = open(os.path.join(self.dir, "serve-%d.out" % self.runs), "w+")
        args = [cli_test.PROCREG, "serve", "--log-dir", self.log, "--hub", "t",
                "--endpoints-file", self.endpoints, *AS_WRITER]
        if standby_of:
            args += ["--standby-of", standby_of.endpoints]
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)
        self.wait_endpoints()

    def wait_endpoints(self):
        deadline = time.monotonic() + WAIT_S
        while not os.path.exists(self.endpoints):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("%s did not start: %s" % (self.name, self.output()))
            time.sleep(0.02)
        with open(self.endpoints) as f:
            return json.load(f)

    def stats(self):
        r = cli_test.run("stats", "--endpoints", self.endpoints, timeout=10)
        if r.returncode != 0:
            raise AssertionError("%s: stats failed: %s %s" % (self.name, r.stdout, r.stderr))
        return json.loads(r.stdout)

    def output(self):
        if not self.out:
            return ""
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=WAIT_S)
        if self.out:
            self.out.close()
            self.out = None
        self.proc = None


class FailoverTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="procreg-failover-test-")
        self.nodes = [Node(self.root, n) for n in ("n0", "n1", "n2")]
        self.rng = random.Random(SEED)

    def tearDown(self):
        for n in self.nodes:
            n.stop()
        if os.environ.get("PROCREG_KEEP_FAILOVER_DIR"):
            sys.stderr.write("kept " + self.root + "\n")  # to look at after a failure
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def write_in_sync(self, writer, first, count):
        deadline = time.monotonic() + WAIT_S
        while True:
            r = cli_test.run("call", "--endpoints", writer.endpoints, "--batch", "-",
                             stdin=batch(first, count))
            if r.returncode == 0:
                return [("w%d" % i) for i in range(first, first + count)]
            self.assertLess(time.monotonic(), deadline, "no standby came in sync: " + r.stderr)
            time.sleep(0.05)

    def most_complete(self, standbys):
        # The term of the copy's last record first: an old writer's directory that has not yet
        # followed the new writer may hold more seqs of the older term (docs/CLI.md, promote).
        copies = []
        for i, s in enumerate(standbys):
            st = s.stats()
            copies.append((st["standby"]["last_term"], st["last_seq"], i))
        best = max(copies)[2]
        return standbys[best], standbys[1 - best]

    def wait_writer(self, node, term):
        deadline = time.monotonic() + WAIT_S
        while True:
            ready = [l for l in lines_json(node.output())
                     if l.get("event") == "ready" and "command" in l]
            if ready:
                self.assertEqual(ready[-1]["term"], term, node.output())
                return ready[-1]
            self.assertIsNone(node.proc.poll(), node.output())
            self.assertLess(time.monotonic(), deadline, node.output())
            time.sleep(0.05)

    def rows(self, writer):
        r = cli_test.run("call", "--endpoints", writer.endpoints, "dump_all_tables")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return set(json.loads(r.stdout).get("t", {}).keys())

    def test_rounds_of_failover_keep_every_acknowledged_write(self):
        writer, standbys = self.nodes[0], self.nodes[1:]
        writer.start()
        for s in standbys:
            s.start(standby_of=writer)
        acked = set(self.write_in_sync(writer, 0, 20))
        next_child = 20
        for rnd in range(1, ROUNDS + 1):
            with self.subTest(round=rnd):
                pause = rnd % 2 == 0  # even rounds: a partition (SIGSTOP), odd: SIGKILL
                clients = start_clients(writer.endpoints, next_child, 150)
                next_child += 300
                time.sleep(self.rng.uniform(0.05, 0.25))
                writer.proc.send_signal(signal.SIGSTOP if pause else signal.SIGKILL)
                time.sleep(1.7)  # the standbys hear nothing for longer than kWriterGoneMs
                new, other = self.most_complete(standbys)
                r = cli_test.run("promote", "--stats", new.endpoints, "--peer", other.endpoints)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr + new.output())
                promoted_at = time.monotonic()
                self.wait_writer(new, rnd + 1)
                # The other standby follows the new writer before the old one may run again.
                other.start(standby_of=new)
                if pause:
                    writer.proc.send_signal(signal.SIGCONT)  # it is back, at the old term
                time.sleep(0.5)  # its clients get whatever answer it gives now
                round_acked = acknowledged(clients)
                held = self.rows(new)
                missing = sorted((acked | set(round_acked)) - held)
                self.assertEqual(missing, [], "round %d lost acknowledged writes" % rnd)
                acked |= set(round_acked)
                # The old writer stops; its directory becomes a standby of the new writer.
                writer.stop()
                writer.start(standby_of=new)
                deadline = time.monotonic() + WAIT_S
                while new.stats().get("replication", {}).get("standbys_in_sync", 0) < 2:
                    self.assertLess(time.monotonic(), deadline,
                                    "round %d: the standbys did not come in sync: %s %s" %
                                    (rnd, writer.output(), other.output()))
                    time.sleep(0.05)
                self.assertLess(time.monotonic() - promoted_at, WAIT_S)
                writer, standbys = new, [other, writer]
        final = self.rows(writer)
        self.assertEqual(sorted(acked - final), [])
        # Writes were acknowledged during the rounds, not only before them.
        self.assertGreater(len(acked), 20 + ROUNDS)
        sys.stderr.write("%d rounds: %d acknowledged writes, all on the last writer (%d rows)\n"
                         % (ROUNDS, len(acked), len(final)))
        self.assertEqual(writer.stats()["term"], ROUNDS + 1)


def main():
    global ROUNDS, SEED
    argv = sys.argv[1:]
    while argv:
        a = argv.pop(0)
        if a == "--procreg":
            cli_test.PROCREG = os.path.abspath(argv.pop(0))
        elif a == "--rounds":
            ROUNDS = int(argv.pop(0))
        elif a == "--seed":
            SEED = int(argv.pop(0))
        else:
            sys.exit("unknown argument " + a)
    if not cli_test.PROCREG:
        sys.exit("usage: failover_test.py --procreg PATH [--rounds N] [--seed S]")
    suite = unittest.TestLoader().loadTestsFromTestCase(FailoverTest)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
