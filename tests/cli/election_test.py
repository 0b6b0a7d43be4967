#!/usr/bin/python3
"""Automatic failover on etcd, round after round: real processes (Debian's etcd, a `procreg
bus`, three `procreg serve --election` members), sockets on 127.0.0.1 with ephemeral ports,
every wait bounded, temporary directories removed.

    election_test.py --procreg PATH [--rounds N] [--seed S] [--etcd PATH]

The members share one etcd prefix (lease TTL 1 s) and one bus; the writer they elect
acknowledges a write once one standby holds it (--sync-standbys 1). Each round, clients write
through `--endpoints etcd://...` while the writer is killed (SIGKILL), or paused (SIGSTOP)
and resumed (SIGCONT) once another was elected. After each round:

- a new writer was elected, at a higher term, and acknowledged a write (the time from the
  writer's death to that acknowledgement is reported);
- every write a client was told succeeded is on the new writer;
- the paused writer, resumed, acknowledges nothing (a write sent to it fails) and steps down;
- the old writer's member (restarted if killed) follows the new writer as a standby, and
  both standbys come in sync with it.

A replica (`procreg replica --serve`) and a hook subscriber (`procreg tail --hooks`), started
once and never told of the failovers, follow each new writer from its heartbeats: at the end
the replica holds the last writer's rows and forwards a write to it, and the subscriber printed
every acknowledged write's hook event, none twice.

tools/failover-soak.sh --election runs it for many rounds.
"""
import base64
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import cli_test
from cli_test import ANY, WAIT_S, insert_args, lines_json
from failover_test import Node, acknowledged, start_clients

ROUNDS = 20
SEED = 1
ETCD = "/usr/bin/etcd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(text):
    return base64.b64encode(text.encode()).decode()


class Etcd:
    """Debian's etcd on loopback, timed for a 1 s lease TTL."""

    def __init__(self, root):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        peer = "http://127.0.0.1:%d" % free_port()
        self.out = open(os.path.join(root, "etcd.out"), "w+")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "t", "--data-dir", os.path.join(root, "etcd"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "t=" + peer, "--election-timeout", "500",
             "--heartbeat-interval", "100"], stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                self.post("/v3/kv/range", {"key": b64("ready")})
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.out.seek(0)
                    raise AssertionError("etcd did not start: " + self.out.read())
                time.sleep(0.05)

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.loads(r.read())

    def leader(self, prefix):
        """The leader's proclaimed value (a dict; {} before it proclaimed), or None."""
        try:
            kv = self.post("/v3/election/leader", {"name": b64(prefix + "/leader")}).get("kv")
        except urllib.error.HTTPError:
            return None  # "election: no leader"
        if not kv:
            return None
        value = base64.b64decode(kv.get("value", "")).decode()
        return json.loads(value) if value else {}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT_S)
        self.out.close()


class Member(Node):
    """A directory and its `procreg serve --election` process."""

    def __init__(self, root, name, election, bus):
        super().__init__(root, name)
        self.election = election
        self.bus = bus

    def start(self, *extra):
        self.stop()
        self.runs += 1
        self.out = open(os.path.join(self.dir, "serve-%d.out" % self.runs), "w+")
        self.proc = subprocess.Popen(
            [cli_test.PROCREG, "serve", "--log-dir", self.log, "--hub", "t",
             "--election", self.election, "--election-name", self.name, "--election-ttl-s", "1",
             "--connect", self.bus["frontend"], "--advertise-bus", self.bus["backend"],
             "--replay", ANY, "--command", ANY, "--stats", ANY, "--heartbeat-ms", "100",
             "--durability", "sync", "--segment-bytes", "16384", "--sync-standbys", "1",
             "--standby-timeout-ms", "1000", *extra], stdout=self.out,
            stderr=subprocess.STDOUT)

    def events(self, name):
        json_lines = "\n".join(l for l in self.output().splitlines() if l.startswith("{"))
        return [l for l in lines_json(json_lines) if l.get("event") == name]


class ElectionTest(unittest.TestCase):
    PREFIX = "hubs/t"

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="procreg-election-test-")
        self.etcd = Etcd(self.root)
        self.election = "etcd://127.0.0.1:%d/%s" % (self.etcd.port, self.PREFIX)
        bus_file = os.path.join(self.root, "bus.json")
        self.bus_out = open(os.path.join(self.root, "bus.out"), "w+")
        self.bus = subprocess.Popen(
            [cli_test.PROCREG, "bus", "--frontend", ANY, "--backend", ANY, "--endpoints-file",
             bus_file], stdout=self.bus_out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT_S
        while not os.path.exists(bus_file):
            self.assertIsNone(self.bus.poll())
            self.assertLess(time.monotonic(), deadline, "the bus did not start")
            time.sleep(0.02)
        with open(bus_file) as f:
            bus = json.load(f)
        self.members = [Member(self.root, n, self.election, bus) for n in ("n0", "n1", "n2")]
        self.rng = random.Random(SEED)

    def tearDown(self):
        for p, out in ((getattr(self, "replica", None), getattr(self, "replica_out", None)),
                       (getattr(self, "tail", None), getattr(self, "tail_out", None)),
                       (getattr(self, "events", None), getattr(self, "events_out", None))):
            if p:
                p.kill()
                p.wait(timeout=WAIT_S)
                out.close()
        for m in self.members:
            m.stop()
        self.bus.kill()
        self.bus.wait(timeout=WAIT_S)
        self.bus_out.close()
        self.etcd.stop()
        if os.environ.get("PROCREG_KEEP_FAILOVER_DIR"):
            sys.stderr.write("kept " + self.root + "\n")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def member(self, name):
        return next(m for m in self.members if m.name == name)

    def wait_leader(self, other_than=None, min_term=0):
        """The proclaimed value of a leader that is not `other_than`, at a term above min_term."""
        deadline = time.monotonic() + WAIT_S
        while True:
            v = self.etcd.leader(self.PREFIX)
            if v and v.get("member") != other_than and v.get("term", 0) > min_term:
                return v
            self.assertLess(time.monotonic(), deadline, "no leader elected: " + "\n".join(
                m.name + ": " + m.output()[-2000:] for m in self.members))
            time.sleep(0.02)

    def call(self, *args, stdin=None, timeout_ms=2000):
        return cli_test.run("call", "--endpoints", self.election, "--timeout-ms", str(timeout_ms),
                            *args, stdin=stdin)

    def write_until_acknowledged(self, child):
        """Retries one insert through etcd's leader until acknowledged; returns when it was."""
        deadline = time.monotonic() + WAIT_S
        while True:
            r = self.call("insert", json.dumps(insert_args(child)), timeout_ms=1000)
            if r.returncode == 0:
                return time.monotonic()
            self.assertLess(time.monotonic(), deadline, "no write acknowledged: " + r.stderr)
            time.sleep(0.02)

    def rows(self):
        r = self.call("dump_all_tables", timeout_ms=5000)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return set(json.loads(r.stdout).get("t", {}).keys())

    def stats(self, endpoints):
        r = cli_test.run("stats", "--stats", endpoints["stats"], "--timeout-ms", "2000")
        return json.loads(r.stdout) if r.returncode == 0 else {}

    def wait_in_sync(self, leader, rnd):
        deadline = time.monotonic() + WAIT_S
        while self.stats(leader).get("replication", {}).get("standbys_in_sync", 0) < 2:
            self.assertLess(time.monotonic(), deadline, "round %d: the standbys did not come in "
                            "sync: %s" % (rnd, "\n".join(m.name + ": " + m.output()[-3000:]
                                                         for m in self.members)))
            time.sleep(0.05)

    def refused_by(self, old, rnd):
        """A write sent to the resumed old writer itself is not acknowledged."""
        r = cli_test.run("call", "--command", old["command"], "--hub", "t", "--timeout-ms", "1500",
                         "insert", json.dumps(insert_args("late%d" % rnd)))
        self.assertNotEqual(r.returncode, 0, "round %d: the old writer acknowledged a write after "
                            "the new term began: %s" % (rnd, r.stdout))
        return "late%d" % rnd

    def start_followers(self):
        """A replica serving reads, and a hook subscriber, both found through etcd."""
        self.replica_out = open(os.path.join(self.root, "replica.out"), "w+")
        self.replica = subprocess.Popen(
            [cli_test.PROCREG, "replica", "--endpoints", self.election, "--serve", ANY],
            stdout=self.replica_out, stderr=subprocess.STDOUT)
        self.events_out = open(os.path.join(self.root, "events.out"), "w+")
        self.events = subprocess.Popen(
            [cli_test.PROCREG, "tail", "--endpoints", self.election, "--timeout-ms", "1000"],
            stdout=self.events_out,
            stderr=open(os.path.join(self.root, "events.err"), "w"))
        self.tail_out = open(os.path.join(self.root, "tail.out"), "w+")
        self.tail = subprocess.Popen(
            [cli_test.PROCREG, "tail", "--hooks", "--endpoints", self.election],
            stdout=self.tail_out, stderr=open(os.path.join(self.root, "tail.err"), "w"))
        deadline = time.monotonic() + WAIT_S
        while True:
            self.replica_out.flush()
            with open(self.replica_out.name) as f:
                ready = [l for l in lines_json(f.read()) if l.get("event") == "caught_up"]
            if ready:
                self.replica_serve = ready[0]["serve"]
                break
            self.assertIsNone(self.replica.poll())
            self.assertLess(time.monotonic(), deadline, "the replica did not catch up")
            time.sleep(0.05)
        time.sleep(0.5)  # the hook subscriber is subscribed (it starts at the head)

    def check_followers(self, acked, final):
        # The replica holds the last writer's rows, and forwards a write to it.
        deadline = time.monotonic() + WAIT_S
        while True:
            r = cli_test.run("call", "--command", self.replica_serve, "--hub", "t",
                             "dump_all_tables")
            rows = set(json.loads(r.stdout).get("t", {}).keys()) if r.returncode == 0 else set()
            if rows == final:
                break
            self.assertLess(time.monotonic(), deadline, "the replica did not follow the last "
                            "writer: %d rows of %d" % (len(rows), len(final)))
            time.sleep(0.1)
        r = cli_test.run("call", "--command", self.replica_serve, "--hub", "t", "insert",
                         json.dumps(insert_args("via-replica")))
        self.assertEqual(r.returncode, 0, "a write through the replica: " + r.stdout + r.stderr)
        self.assertIn("via-replica", self.rows())
        # The hook subscriber: every acknowledged write's event, none twice, in order.
        deadline = time.monotonic() + WAIT_S
        while True:
            self.tail_out.flush()
            with open(self.tail_out.name) as f:
                hooks = [l for l in lines_json(f.read()) if l.get("kind") == "child_registered"]
            children = [h["child"] for h in hooks]
            if "via-replica" in children:
                break
            self.assertIsNone(self.tail.poll(), "the hook subscriber stopped")
            with open(os.path.join(self.root, "tail.err")) as f:
                err = f.read()[-2000:]
            self.assertLess(time.monotonic(), deadline, "the hook subscriber did not follow: "
                            + err)
            time.sleep(0.1)
        seqs = [h["seq"] for h in hooks]
        self.assertEqual(seqs, sorted(set(seqs)), "hook events repeated or out of order")
        self.assertEqual(sorted(acked - set(children)), [], "hook events lost")
        # The event tail: the same, from the events themselves.
        deadline = time.monotonic() + WAIT_S
        while True:
            self.events_out.flush()
            with open(self.events_out.name) as f:
                events = lines_json(f.read())
            if any(e.get("child") == "via-replica" for e in events):
                break
            self.assertIsNone(self.events.poll(), "the event tail stopped")
            self.assertLess(time.monotonic(), deadline, "the event tail did not follow")
            time.sleep(0.1)
        seqs = [e["seq"] for e in events]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "events lost or repeated")
        inserted = {e.get("child") for e in events if e.get("kind") == "insert"}
        self.assertEqual(sorted(acked - inserted), [], "events of acknowledged writes missing")

    def test_a_writer_whose_lease_is_revoked_steps_down_and_exits_if_asked(self):
        first, second = self.members[0], self.members[1]
        first.start("--when-fenced", "exit")
        self.wait_leader()
        second.start()
        self.write_until_acknowledged("before")  # once the standby is in sync
        leader = self.etcd.leader(self.PREFIX)
        self.assertEqual(leader["member"], first.name)
        kv = self.etcd.post("/v3/election/leader", {"name": b64(self.PREFIX + "/leader")})["kv"]
        self.etcd.post("/v3/lease/revoke", {"ID": kv["lease"]})  # as if its keep-alives stopped
        first.proc.wait(timeout=WAIT_S)
        self.assertEqual(first.proc.returncode, 1, first.output())
        self.assertTrue(first.events("stepped_down"), first.output())
        self.assertIn("--when-fenced exit", first.output())
        new = self.wait_leader(other_than=first.name, min_term=leader["term"])
        self.assertEqual(new["member"], second.name)
        self.assertIn("before", self.rows())

    def test_rounds_of_automatic_failover_keep_every_acknowledged_write(self):
        for m in self.members:
            m.start()
            self.wait_leader()  # the first member leads; the others follow it
        acked = set()
        self.start_followers()
        self.write_until_acknowledged("w-first")
        acked.add("w-first")
        next_child, took = 0, []
        leader = self.wait_leader()
        for rnd in range(1, ROUNDS + 1):
            with self.subTest(round=rnd):
                self.wait_in_sync(leader, rnd)
                pause = rnd % 2 == 0  # even rounds: a partition (SIGSTOP), odd: SIGKILL
                old = self.member(leader["member"])
                clients = start_clients(self.election, next_child, 150)
                next_child += 300
                time.sleep(self.rng.uniform(0.05, 0.25))
                died = time.monotonic()
                old.proc.send_signal(signal.SIGSTOP if pause else signal.SIGKILL)
                new = self.wait_leader(other_than=old.name, min_term=leader["term"])
                took.append(self.write_until_acknowledged("probe%d" % rnd) - died)
                acked.add("probe%d" % rnd)
                late = None
                if pause:
                    old.proc.send_signal(signal.SIGCONT)  # back, at the old term
                    late = self.refused_by(leader, rnd)
                else:
                    old.start()  # the killed member comes back, as a standby
                round_acked = acknowledged(clients)
                held = self.rows()
                missing = sorted((acked | set(round_acked)) - held)
                self.assertEqual(missing, [], "round %d lost acknowledged writes" % rnd)
                acked |= set(round_acked)
                if late is not None:
                    deadline = time.monotonic() + WAIT_S
                    while not old.events("stepped_down"):
                        self.assertLess(time.monotonic(), deadline, old.output()[-3000:])
                        time.sleep(0.05)
                leader = new
        self.wait_in_sync(leader, ROUNDS + 1)
        final = self.rows()
        self.assertEqual(sorted(acked - final), [])
        self.assertGreater(len(acked), 1 + 2 * ROUNDS)
        self.check_followers(acked, final)
        took.sort()
        sys.stderr.write(
            "%d rounds: %d acknowledged writes, all on the last writer; from the writer's death "
            "to the first write the new one acknowledged: median %.2f s, max %.2f s\n"
            % (ROUNDS, len(acked), statistics.median(took), took[-1]))


def main():
    global ROUNDS, SEED, ETCD
    argv = sys.argv[1:]
    while argv:
        a = argv.pop(0)
        if a == "--procreg":
            cli_test.PROCREG = os.path.abspath(argv.pop(0))
        elif a == "--rounds":
            ROUNDS = int(argv.pop(0))
        elif a == "--seed":
            SEED = int(argv.pop(0))
        elif a == "--etcd":
            ETCD = argv.pop(0)
        else:
            sys.exit("unknown argument " + a)
    if not cli_test.PROCREG:
        sys.exit("usage: election_test.py --procreg PATH [--rounds N] [--seed S] [--etcd PATH]")
    if not os.access(ETCD, os.X_OK):
        sys.exit("etcd is not installed at %s (Debian: etcd-server; tools/install-deps.sh)" % ETCD)
    suite = unittest.TestLoader().loadTestsFromTestCase(ElectionTest)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
