#!/usr/bin/python3
"""End-to-end tests of the --http endpoint (/metrics, /healthz) of `procreg serve`, `replica`,
`bus` and a standby, and of `procreg health`: real processes, an HTTP client, Prometheus'
promtool (Debian's prometheus package), sockets on 127.0.0.1 with ephemeral ports, every wait
bounded, temporary directories removed.

    metrics_test.py --procreg PATH [unittest args...]
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import cli_test
from cli_test import ANY, WAIT_S, Hub, insert_args, lines_json
from standby_test import Standby

HTTP = ["--http", "127.0.0.1:0"]


def get(url, path):
    """(status, content type, body) of GET url+path; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def samples(text):
    """{series with labels: value} of an exposition, comments left out."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def numeric_leaves(j, skip=()):
    """The numbers and booleans of a JSON object, by path (skip: top-level keys left out)."""
    found = {}

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                if not prefix and k in skip:
                    continue
                walk(prefix + "/" + k, x)
        elif isinstance(v, (bool, int, float)):
            found[prefix] = v
    walk("", j)
    return found


def wait_for(predicate, what, seconds=WAIT_S):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MetricsTest(unittest.TestCase):
    def setUp(self):
        self.hub = None
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
        if self.hub:
            self.hub.close()

    def promtool_accepts(self, text):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=WAIT_S)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), text)

    def http_of(self, hub):
        with open(hub.endpoints) as f:
            url = json.load(f)["http"]
        self.assertRegex(url, r"^http://127\.0\.0\.1:\d+/$")
        return url

    def test_a_writers_metrics_pass_promtool_and_cover_every_counter(self):
        hub = self.hub = Hub(extra=HTTP)
        url = self.http_of(hub)
        for i in range(3):
            hub.call("insert", insert_args("w%d" % i))
        ready = lines_json(hub.output())[0]
        status, ctype, text = wait_for(
            lambda: (lambda a: a if 'procreg_writer_last_seq{hub="t"} 3' in a[2] else None)(
                get(url, "/metrics")), "the metrics at seq 3")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        self.promtool_accepts(text)
        s = samples(text)
        self.assertEqual(s['procreg_writer_events_written_total{hub="t"}'], 3)
        self.assertEqual(s['procreg_hub_info{hub="t",role="writer",epoch="%s"}' % ready["epoch"]], 1)
        version = cli_test.run("--version").stdout.split()[1]
        self.assertIn('procreg_build_info{version="%s",wire_protocol="1",log_format="3"}' % version, s)
        # The embedded bus: nothing subscribed, so the writer's PUB sent nothing through it.
        self.assertEqual(s['procreg_bus_messages_forwarded_total{hub="t"}'], 0)
        # Every number the stats endpoint answers is a series (the epoch and the incarnation are
        # labels or left out), and `stats --prometheus` prints the same names.
        stats = json.loads(cli_test.run("stats", *hub.ep()).stdout)
        leaves = numeric_leaves(stats, skip=("epoch", "incarnation", "incarnation_start_seq"))
        exported = [k for k in s if not k.startswith(("procreg_build_info", "procreg_hub_info"))]
        self.assertEqual(len(exported), len(leaves), (sorted(exported), sorted(leaves)))
        r = cli_test.run("stats", *hub.ep(), "--prometheus")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.promtool_accepts(r.stdout)
        self.assertEqual(set(samples(r.stdout)), set(s))

    def test_healthz_and_procreg_health_exit_codes(self):
        hub = self.hub = Hub(extra=HTTP)
        url = self.http_of(hub)
        status, ctype, body = wait_for(lambda: (lambda a: a if a[0] == 200 else None)(
            get(url, "/healthz")), "a healthy writer")
        verdict = json.loads(body)
        self.assertEqual((verdict["healthy"], verdict["role"], verdict["hub"]), (True, "writer", "t"))
        self.assertEqual({c["check"]: c["ok"] for c in verdict["checks"]}, {"log": True, "head": True})
        r = cli_test.run("health", url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(json.loads(r.stdout)["healthy"])
        # Not procreg's verdict (another path): 1, saying so; nobody there: 3, in bounded time.
        r = cli_test.run("health", url + "metrics")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("not a procreg verdict", r.stderr)
        started = time.monotonic()
        r = cli_test.run("health", "http://127.0.0.1:%d" % free_port(), "--timeout-ms", "500")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertLess(time.monotonic() - started, 10)
        self.assertIn("no answer", r.stderr)
        r = cli_test.run("health", "127.0.0.1")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(get(url, "/nothing")[0], 404)
        self.assertEqual(get(url, "/healthz?max_lag=x")[0], 400)
        # A bad --http is a usage error, before anything starts.
        r = cli_test.run("serve", "--log-dir", os.path.join(hub.dir, "other"), "--http", "nohost")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--http", r.stderr)

    def test_a_writer_short_of_standbys_is_unhealthy(self):
        hub = self.hub = Hub(extra=(*HTTP, "--sync-standbys", "1"))
        url = self.http_of(hub)
        status, _, body = wait_for(lambda: (lambda a: a if a[0] == 503 else None)(
            get(url, "/healthz")), "an unhealthy writer")
        failed = [c for c in json.loads(body)["checks"] if not c["ok"]]
        self.assertEqual([c["check"] for c in failed], ["standbys"], body)
        self.assertIn("0 of the 1", failed[0]["detail"])
        r = cli_test.run("health", url)
        self.assertEqual(r.returncode, 1, r.stdout)

    def test_a_replica_is_healthy_until_its_writer_goes_silent(self):
        hub = self.hub = Hub()
        hub.call("insert", insert_args("w1"))
        replica = subprocess.Popen(
            [cli_test.PROCREG, "replica", *hub.ep(), *HTTP, "--health-max-silence-ms", "1000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(replica)
        first = json.loads(replica.stdout.readline())
        self.assertEqual(first["event"], "caught_up")
        url = first["http"]
        status, _, body = wait_for(lambda: (lambda a: a if a[0] == 200 else None)(
            get(url, "/healthz")), "a healthy replica")
        self.assertEqual(json.loads(body)["role"], "replica")
        text = get(url, "/metrics")[2]
        self.promtool_accepts(text)
        s = samples(text)
        self.assertEqual(s['procreg_replica_applied_seq{hub="t"}'], 1)
        self.assertEqual(s['procreg_replica_lag_events{hub="t"}'], 0)
        self.assertIn('procreg_hub_info{hub="t",role="replica",epoch="%s"}' % first["epoch"], s)
        self.assertFalse(any(k.startswith("procreg_writer_") for k in s), sorted(s))
        # The writer stops (SIGSTOP: no heartbeat, no answer): unhealthy within about a second.
        hub.proc.send_signal(signal.SIGSTOP)
        try:
            status, _, body = wait_for(lambda: (lambda a: a if a[0] == 503 else None)(
                get(url, "/healthz")), "an unhealthy replica", seconds=10)
            failed = [c["check"] for c in json.loads(body)["checks"] if not c["ok"]]
            self.assertEqual(failed, ["writer"], body)
            self.assertEqual(cli_test.run("health", url).returncode, 1)
        finally:
            hub.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: get(url, "/healthz")[0] == 200, "the replica healthy again")

    def test_a_standby_reports_its_writer_and_lag(self):
        hub = self.hub = Hub()
        hub.call("insert", insert_args("w1"))
        copy = tempfile.mkdtemp(prefix="procreg-metrics-copy-")
        standby = Standby(hub, os.path.join(copy, "log"), extra=(*HTTP, "--health-max-silence-ms", "1000"))
        try:
            url = standby.eps["http"]
            standby.wait_copied(1)
            wait_for(lambda: get(url, "/healthz")[0] == 200, "a healthy standby")
            # /metrics shows what the standby's loop published last, within about 100 ms.
            text = wait_for(lambda: (lambda t: t if samples(t).get(
                'procreg_standby_copied_seq{hub="t"}') == 1 else None)(get(url, "/metrics")[2]),
                "the standby's metrics at seq 1")
            self.promtool_accepts(text)
            hub.proc.send_signal(signal.SIGSTOP)
            try:
                status, _, body = wait_for(lambda: (lambda a: a if a[0] == 503 else None)(
                    get(url, "/healthz")), "an unhealthy standby", seconds=10)
                self.assertIn("writer", [c["check"] for c in json.loads(body)["checks"] if not c["ok"]])
            finally:
                hub.proc.send_signal(signal.SIGCONT)
        finally:
            standby.close()
            shutil.rmtree(copy, ignore_errors=True)

    def test_a_bus_counts_what_it_forwards(self):
        d = tempfile.mkdtemp(prefix="procreg-metrics-bus-")
        try:
            bus_file = os.path.join(d, "bus.json")
            bus = subprocess.Popen([cli_test.PROCREG, "bus", "--frontend", ANY, "--backend", ANY,
                                    *HTTP, "--endpoints-file", bus_file],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.procs.append(bus)
            ready = json.loads(bus.stdout.readline())
            url = ready["http"]
            self.hub = Hub(extra=("--connect", ready["frontend"], "--advertise-bus", ready["backend"]))
            tail = subprocess.Popen([cli_test.PROCREG, "tail", *self.hub.ep(), "--count", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.procs.append(tail)
            time.sleep(0.5)  # the tail subscribes
            for i in range(2):
                self.hub.call("insert", insert_args("w%d" % i))
            tail.communicate(timeout=WAIT_S)
            text = wait_for(lambda: (lambda t: t if samples(t).get(
                "procreg_bus_messages_forwarded_total", 0) >= 2 else None)(get(url, "/metrics")[2]),
                "two messages forwarded")
            self.promtool_accepts(text)
            s = samples(text)
            self.assertGreater(s["procreg_bus_forwarded_bytes_total"], 0)
            self.assertGreaterEqual(s["procreg_bus_subscriptions_forwarded_total"], 1)
            self.assertFalse(any("hub=" in k for k in s), sorted(s))
            status, _, body = get(url, "/healthz")
            self.assertEqual((status, json.loads(body)["role"]), (200, "bus"))
            r = cli_test.run("bus", "--health-max-lag", "5")
            self.assertEqual(r.returncode, 2, "a bus follows no writer: no lag bound")
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    cli_test.run_test_file("metrics_test.py")
