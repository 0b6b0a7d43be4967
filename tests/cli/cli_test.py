#!/usr/bin/python3
"""End-to-end tests of the procreg command: real processes, real sockets on 127.0.0.1 with
ephemeral ports, every wait bounded, temporary directories removed.

    cli_test.py --procreg PATH [--client PATH] [--model-check PATH] [unittest args...]

With --client (examples/python/procreg_client.py, needs python3-zmq and python3-msgpack) only
the Python client's test runs; without it, every other test.
"""
import json
import re
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

PROCREG = None
CLIENT = None
MODEL_CHECK = None  # tests/model's model_check: workloads with the reference model's answers
ANY = "tcp://127.0.0.1:*"
WAIT_S = 30


def run(*args, stdin=None, timeout=WAIT_S):
    return subprocess.run([PROCREG, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def run_test_file(script):
    """The __main__ of a test file run as `SCRIPT --procreg PATH [unittest args...]`: sets
    PROCREG (here, where every test file reads it) and runs the calling module's tests."""
    global PROCREG
    args, rest = sys.argv[1:], []
    while args:
        a = args.pop(0)
        if a == "--procreg":
            PROCREG = os.path.abspath(args.pop(0))
        else:
            rest.append(a)
    if not PROCREG:
        sys.exit("usage: %s --procreg PATH [unittest args...]" % script)
    unittest.main(module="__main__", argv=[sys.argv[0], *rest])


def subcommands_in(help_text):
    """The names under "Subcommands:" in a --help text."""
    names, on = [], False
    for line in help_text.splitlines():
        if line == "Subcommands:":
            on = True
        elif on and re.match(r"^  [a-z]", line):
            names.append(line.split()[0])
        elif on and not line.startswith(" "):
            on = False
    return names


def subcommand_paths(help_of):
    """Every subcommand's path ("serve", "log", "log dump"), nested ones too, breadth first;
    help_of(*words) gives the --help text of the command `procreg WORDS`."""
    paths = []
    frontier = [()]
    while frontier:
        parent = frontier.pop(0)
        for name in subcommands_in(help_of(*parent)):
            paths.append(" ".join(parent + (name,)))
            frontier.append(parent + (name,))
    return paths


def lines_json(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def masked_crc32c(data):
    """The masked CRC-32C of docs/LOG_FORMAT.md section 2."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    crc ^= 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    """A `procreg serve` on ephemeral ports in a temporary directory; stopped with SIGTERM.
    With fixed_ports, its bus, replay and command endpoints are ports chosen once, so that
    restart() brings it back where its clients connected."""

    def __init__(self, hub="t", extra=(), open_files=None, fixed_ports=False):
        self.dir = tempfile.mkdtemp(prefix="procreg-cli-test-")
        self.log = os.path.join(self.dir, "log")
        self.endpoints = os.path.join(self.dir, "endpoints.json")
        self.out = open(os.path.join(self.dir, "serve.out"), "w+")
        bus_f, bus_b, replay, command = (
            ["tcp://127.0.0.1:%d" % free_port() for _ in range(4)] if fixed_ports else [ANY] * 4)
        self.args = [PROCREG, "serve", "--log-dir", self.log, "--hub", hub, "--bus-frontend", bus_f,
                     "--bus-backend", bus_b, "--replay", replay, "--command", command,
                     "--stats", ANY, "--heartbeat-ms", "100", "--endpoints-file", self.endpoints,
                     *([] if "--durability" in extra else ["--durability", "none"]), *extra]
        self.open_files = open_files
        self.start()

    def start(self):
        open_files = self.open_files
        self.proc = subprocess.Popen(
            self.args, stdout=self.out, stderr=subprocess.STDOUT,
            cwd=self.dir,  # relative paths land here
            preexec_fn=None if open_files is None else
            (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))))
        deadline = time.monotonic() + WAIT_S
        while not os.path.exists(self.endpoints):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.out.seek(0)
                raise RuntimeError("serve did not start: " + self.out.read())
            time.sleep(0.02)

    def restart(self):
        """Stops it and starts it again on its log directory (and its ports, if fixed)."""
        self.stop()
        os.remove(self.endpoints)
        self.start()

    def ep(self):
        return ["--endpoints", self.endpoints]

    def call(self, method, args=None, check=True):
        r = run("call", *self.ep(), method, *([json.dumps(args)] if args is not None else []))
        if check and r.returncode != 0:
            raise AssertionError("call %s failed (%d): %s %s" % (method, r.returncode, r.stdout, r.stderr))
        return r

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def output(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()


def insert_args(child, node="n1", pid="p1", tag=None, hooks=True):
    args = {"spec": {"id": child, "start": ["Elixir.W", "start_link", [1]]},
            "node_pids": [[node, pid]], "hooks": hooks}
    if tag:
        args["metadata"] = {"tag": tag}
    return args


class HubTestCase(unittest.TestCase):
    """A test case with at most one Hub at a time, closed after each test."""

    def setUp(self):
        self.hub = None

    def tearDown(self):
        if self.hub:
            self.hub.close()

    def start_hub(self, **kw):
        self.hub = Hub(**kw)
        return self.hub


class CliTest(HubTestCase):
    # ---- usage
    def test_help_and_bad_arguments(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for sub in ("serve", "bus", "tail", "call", "replica", "replay", "verify", "inspect",
                    "stats", "demo"):
            self.assertIn(sub, r.stdout)
            h = run(sub, "--help")
            self.assertEqual(h.returncode, 0, sub)
            self.assertIn("Usage", h.stdout, sub)
        self.assertEqual(run().returncode, 2)
        self.assertEqual(run("nonsense").returncode, 2)
        r = run("sevre")
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown subcommand "sevre"; did you mean serve?', r.stderr)
        r = run("call", "--endpoint", "x", "hub")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option --endpoint of call; did you mean --endpoints?", r.stderr)
        r = run("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^procreg \d+\.\d+\.\d+ \(wire protocol 1, log format 3\)")
        r = run("serve")  # --log-dir is required
        self.assertEqual(r.returncode, 2)
        self.assertIn("log-dir", r.stderr)
        self.assertEqual(run("tail", "--kind", "nope").returncode, 2)
        self.assertEqual(run("call", "no_such_method").returncode, 2)
        self.assertEqual(run("stats", "--timeout-ms", "-5").returncode, 2)
        self.assertEqual(run("replay", "--log-dir", "/nonexistent/procreg").returncode, 1)

    def test_unreachable_endpoints_exit_3_in_bounded_time(self):
        nowhere = "tcp://127.0.0.1:9"
        hub = ["--hub", "nobody", "--bus", nowhere, "--replay", nowhere, "--timeout-ms", "500"]
        for args in (["call", "dump_all", "--command", nowhere, *hub], ["tail", *hub],
                     ["tail", "--hooks", *hub], ["replica", "--command", nowhere, *hub],
                     ["stats", "--stats", nowhere, "--timeout-ms", "500"]):
            start = time.monotonic()
            r = run(*args)
            self.assertEqual(r.returncode, 3, (args, r.stderr))
            self.assertLess(time.monotonic() - start, 5, args)
            self.assertTrue(r.stderr.strip(), args)

    # ---- serve, call, batch
    def test_call_reads_and_writes(self):
        hub = self.start_hub()
        self.assertEqual(json.loads(hub.call("insert", insert_args("w1", tag="db")).stdout), {"seq": 1})
        self.assertEqual(json.loads(hub.call("get_pid", {"child_id": "w1"}).stdout), "p1")
        self.assertEqual(json.loads(hub.call("match_tag", {"tag": "db"}).stdout), [["w1", [["n1", "p1"]]]])
        dump = json.loads(hub.call("dump_all").stdout)
        self.assertEqual(dump["w1"]["spec"]["start"], ["Elixir.W", "start_link", [1]])
        self.assertEqual(json.loads(hub.call("update", {"child_id": "w1", "metadata": {"tag": "x"}}).stdout), {"seq": 2})
        self.assertEqual(json.loads(hub.call("lookup", {"child_id": "w1", "with_metadata": True}).stdout)["metadata"], {"tag": "x"})
        self.assertEqual(json.loads(hub.call("node_down", {"node": "n1"}).stdout), {"seq": 3})
        self.assertEqual(json.loads(hub.call("get_pids", {"child_id": "w1"}).stdout), [])
        self.assertEqual(json.loads(hub.call("clear_all").stdout), True)
        self.assertEqual(json.loads(hub.call("dump_all").stdout), {})
        # The library's own refusal: a Status as JSON, exit 1.
        r = hub.call("erase", {"child_id": ""}, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "invalid_argument")
        r = hub.call("update", {"child_id": "missing", "metadata": {}}, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "not_found")
        # Arguments of the wrong shape, malformed JSON: usage errors with a JSON error.
        r = hub.call("get_pid", {"child": "w1"}, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("child_id", json.loads(r.stdout)["error"]["message"])
        r = run("call", *hub.ep(), "get_pid", "{not json")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "invalid_argument")

    def test_call_thin_replica_mode_and_a_replicas_serve_endpoint(self):
        hub = self.start_hub()
        self.assertEqual(json.loads(hub.call("insert", insert_args("w1", tag="db")).stdout), {"seq": 1})
        # --replica: the same answer from an in-process replica of the hub.
        r = run("call", *hub.ep(), "--replica", "get_pid", json.dumps({"child_id": "w1"}))
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, "p1"), r.stderr)
        replica = subprocess.Popen([PROCREG, "replica", *hub.ep(), "--node", "r1", "--serve", ANY],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            serve = json.loads(replica.stdout.readline())["serve"]
            self.assertTrue(serve.startswith("tcp://127.0.0.1:"), serve)
            at = ["--hub", "t", "--command", serve]
            # A write through the replica's endpoint goes to the writer...
            r = run("call", *at, "insert", json.dumps(insert_args("w2", node="r1", pid="p2")))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            seq = json.loads(r.stdout)["seq"]
            self.assertEqual(seq, 2)
            # ... and is read back at once from the writer, waiting for its seq.
            r = run("call", *hub.ep(), "--at-least-seq", str(seq), "get_pid", json.dumps({"child_id": "w2"}))
            self.assertEqual((r.returncode, json.loads(r.stdout)), (0, "p2"), r.stderr)
            # Reads at the replica are the replica's: its local node is r1.
            r = run("call", *at, "--at-least-seq", str(seq), "local_pid", json.dumps({"child_id": "w2"}))
            self.assertEqual((r.returncode, json.loads(r.stdout)), (0, "p2"), r.stderr)
            r = run("call", *at, "process_list", json.dumps({"scope": "local"}))
            self.assertEqual(json.loads(r.stdout), [["w2", [["r1", "p2"]]]])
            # A seq the hub has not reached: a timeout, exit 3, in bounded time.
            t0 = time.monotonic()
            r = run("call", *at, "--at-least-seq", str(seq + 100), "--timeout-ms", "300",
                    "get_pid", json.dumps({"child_id": "w2"}))
            self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
            self.assertEqual(json.loads(r.stdout)["error"]["code"], "timeout")
            self.assertLess(time.monotonic() - t0, 10)
        finally:
            replica.send_signal(signal.SIGTERM)
            out, _ = replica.communicate(timeout=WAIT_S)
        self.assertEqual(replica.returncode, 0)
        self.assertGreaterEqual(lines_json(out)[-1]["stats"]["commands_served"], 4)

    def test_call_refuses_unknown_and_duplicate_keys_and_out_of_range_integers(self):
        hub = self.start_hub()
        spec = {"id": "a", "start": ["M", "f", []]}
        refused = [
            ({"spec": spec, "metdata": {"x": 1}}, 'unknown argument "metdata"'),
            ({"spec": spec, "ttl_ms": 18446744073709551615}, "out of range"),
            ({"spec": spec, "timeout_ms": -5}, "out of range"),
        ]
        for args, why in refused:
            r = run("call", *hub.ep(), "insert", json.dumps(args))
            self.assertEqual(r.returncode, 2, r.stdout)
            self.assertIn(why, json.loads(r.stdout)["error"]["message"])
        r = run("call", *hub.ep(), "insert",
                '{"spec": {"id": "a", "start": ["M", "f", []]}, "spec": {"id": "b", "start": []}}')
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn('duplicate key \\"spec\\"', r.stdout)
        # In a batch: a line with two "method" keys, or a key besides method, args and id, is
        # refused (nothing done) and the next lines still run.
        lines = ('{"method": "insert", "method": "erase", "args": {"child_id": "a"}}\n'
                 '{"method": "insert", "args": {"spec": {"id": "c", "start": ["M", "f", []]}}, '
                 '"extra": 1}\n'
                 '{"method": "insert", "args": {"spec": {"id": "d", "start": ["M", "f", []]}}}\n')
        r = run("call", *hub.ep(), "--batch", "-", stdin=lines)
        out = lines_json(r.stdout)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("duplicate key", out[0]["error"]["message"])
        self.assertIn('unknown key "extra"', out[1]["error"]["message"])
        self.assertEqual(out[2]["result"]["seq"], 1)  # nothing before it was written
        rows = json.loads(hub.call("dump_all_tables").stdout)["t"]
        self.assertEqual(sorted(rows), ["d"])

    def test_call_batch_goes_on_after_bad_lines(self):
        hub = self.start_hub()
        batch = "\n".join([
            json.dumps({"method": "insert", "args": insert_args("w1"), "id": "a"}),
            "{this is not json",
            json.dumps({"method": "nope"}),
            json.dumps({"args": {}}),
            json.dumps({"method": "insert", "args": {"spec": {"id": ""}, "node_pids": [["n", "p"]]}}),
            "",
            json.dumps({"method": "bulk_insert", "args": {"entries": [
                {"spec": {"id": "w2"}, "node_pids": [["n2", "p2"]]},
                {"spec": {"id": "w3"}, "node_pids": [["n3", "p3"]]}]}}),
            json.dumps({"method": "get_pid", "args": {"child_id": "w2"}, "id": 7}),
            json.dumps({"method": "bulk_delete", "args": {"deletes": [["w2", ["n2"]]]}}),
            json.dumps({"method": "contains_children", "args": {"child_ids": ["w1", "w2", "w9"]}}),
        ]) + "\n"
        r = run("call", *hub.ep(), "--batch", "-", stdin=batch)
        self.assertEqual(r.returncode, 1, r.stderr)  # some lines failed
        out = lines_json(r.stdout)
        self.assertEqual(len(out), 9)
        self.assertEqual(out[0], {"line": 1, "id": "a", "result": {"seq": 1}})
        for i in (1, 2, 3, 4):
            self.assertEqual(out[i]["error"]["code"], "invalid_argument", out[i])
        self.assertIn("malformed JSON", out[1]["error"]["message"])
        self.assertEqual(out[5]["result"], {"seq": 2})
        self.assertEqual(out[6], {"line": 8, "id": 7, "result": "p2"})
        self.assertEqual(out[7]["result"], {"seq": 3})
        self.assertEqual(out[8]["result"], ["w1"])  # w2 lost its only node: unbound
        path = os.path.join(hub.dir, "batch.jsonl")
        with open(path, "w") as f:
            f.write(json.dumps({"method": "get_pid", "args": {"child_id": "w1"}}) + "\n")
        r = run("call", *hub.ep(), "--batch", path)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(lines_json(r.stdout), [{"line": 1, "result": "p1"}])

    def test_batch_workload_matches_the_reference_model(self):
        """A seeded random workload of every call through `call --batch` against a real
        `serve`: every answer, the sequence numbers (one event exactly when the model says the
        state or the hooks changed), the final state and every hook event (`tail --hooks`) are
        the reference model's (tests/model, docs/SEMANTICS.md)."""
        if not MODEL_CHECK:
            self.skipTest("no --model-check given")
        hub = self.start_hub(extra=("--janitor-ms", "0", "--node", "n0"))
        work = os.path.join(hub.dir, "workload")
        os.mkdir(work)
        for seed in (11, 12):
            if seed == 12:  # a second workload on a fresh hub
                hub.close()
                hub = self.start_hub(extra=("--janitor-ms", "0", "--node", "n0"))
                work = os.path.join(hub.dir, "workload")
                os.mkdir(work)
            gen = subprocess.run([MODEL_CHECK, "--cli", work, "--seed", str(seed), "--ops", "1500",
                                  "--hub", "t", "--node", "n0"], capture_output=True, text=True,
                                 timeout=WAIT_S)
            self.assertEqual(gen.returncode, 0, gen.stderr)
            with open(os.path.join(work, "expected.jsonl")) as f:
                expected = lines_json(f.read())
            r = run("call", *hub.ep(), "--node", "n0", "--batch", os.path.join(work, "batch.jsonl"),
                    timeout=240)
            self.assertIn(r.returncode, (0, 1), r.stderr)  # 1: the workload's invalid calls
            got = lines_json(r.stdout)
            self.assertEqual(len(got), len(expected), r.stderr)

            def canonical(value, unordered):
                if unordered and isinstance(value, list):
                    return sorted(value, key=lambda v: json.dumps(v, sort_keys=True))
                return value

            for g, e in zip(got, expected):
                where = "seed %d, line %d: %s" % (seed, e["line"], e["op"])
                self.assertEqual(g["line"], e["line"], where)
                if "error" in e:
                    self.assertIn("error", g, where)
                    self.assertEqual(g["error"]["code"], e["error"]["code"], where)
                    if e["compare_message"]:
                        self.assertEqual(g["error"]["message"], e["error"]["message"], where)
                else:
                    self.assertIn("result", g, "%s: %s" % (where, g))
                    self.assertEqual(canonical(g["result"], e["unordered"]),
                                     canonical(e["result"], e["unordered"]), where)
            last_seq = expected[-1]["result"]
            with open(os.path.join(work, "hooks.jsonl")) as f:
                hooks = lines_json(f.read())
            self.assertGreater(len(hooks), 100)
            t = run("tail", *hub.ep(), "--hooks", "--from", "1", "--until-seq", str(last_seq),
                    "--seconds", "60", timeout=90)
            self.assertEqual(t.returncode, 0, t.stderr)
            self.assertEqual(lines_json(t.stdout), hooks)

    # ---- tail
    def test_endpoints_from_the_environment_and_a_config_file(self):
        hub = self.start_hub()
        env = dict(os.environ, PROCREG_ENDPOINTS=hub.endpoints)
        r = subprocess.run([PROCREG, "call", "hub"], env=env, capture_output=True, text=True,
                           timeout=WAIT_S)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, '"t"'), r.stderr)
        config = os.path.join(hub.dir, "procreg.toml")
        with open(config, "w") as f:
            f.write('[call]\nendpoints = "%s"\ntimeout-ms = 2000\n' % hub.endpoints)
        r = run("--config", config, "call", "hub")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, '"t"'), r.stderr)
        # A flag wins over the file; the file over the environment.
        r = run("--config", config, "call", "--endpoints", os.path.join(hub.dir, "none.json"),
                "hub")
        self.assertEqual(r.returncode, 2)
        self.assertIn("none.json", r.stderr)
        env["PROCREG_ENDPOINTS"] = os.path.join(hub.dir, "none.json")
        r = subprocess.run([PROCREG, "--config", config, "call", "hub"], env=env,
                           capture_output=True, text=True, timeout=WAIT_S)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, '"t"'), r.stderr)

    def test_log_dump_prints_events_offline(self):
        hub = self.start_hub()
        for i in range(3):
            hub.call("insert", insert_args("w%d" % i))
        before = int(time.time() * 1000)
        time.sleep(0.05)
        hub.call("erase", {"child_id": "w0"})
        hub.stop()
        r = run("log", "dump", "--log-dir", hub.log)
        self.assertEqual(r.returncode, 0, r.stderr)
        events = lines_json(r.stdout)
        self.assertEqual([e["seq"] for e in events], [1, 2, 3, 4])
        self.assertEqual([e["kind"] for e in events], ["insert"] * 3 + ["delete"])
        self.assertEqual(events[1]["child"], "w1")
        r = run("log", "dump", "--log-dir", hub.log, "--from", "2", "--to", "3")
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [2, 3])
        r = run("log", "dump", "--log-dir", hub.log, "--since", str(before))
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [4])
        r = run("log", "dump", "--log-dir", hub.log, "--until", str(before))
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [1, 2, 3])
        r = run("log", "dump", "--log-dir", os.path.join(hub.dir, "nothing"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("procreg log dump: cannot read the log", r.stderr)
        self.assertEqual(run("log", "dump", "--log-dir", hub.log, "--since", "noon").returncode, 2)

    def test_tail_says_once_that_the_writer_is_away(self):
        hub = self.start_hub()
        hub.call("insert", insert_args("w0"))
        # The writer goes away only once tail follows it (it printed seq 1): a tail that has
        # not had the writer's head yet exits 3, "cannot reach hub" (under load, 0.5 s after
        # its start may be before its first request).
        out = open(os.path.join(hub.dir, "tail.out"), "w+")
        self.addCleanup(out.close)
        tail = subprocess.Popen([PROCREG, "tail", *hub.ep(), "--from", "1", "--timeout-ms", "500"],
                                stdout=out, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: tail.poll() is None and (tail.kill(), tail.wait()))
        deadline = time.monotonic() + WAIT_S
        while True:
            out.seek(0)
            if [e["seq"] for e in lines_json(out.read())] == [1]:
                break
            self.assertIsNone(tail.poll(), "tail exited before it printed seq 1")
            self.assertLess(time.monotonic(), deadline, "tail did not print seq 1")
            time.sleep(0.05)
        hub.stop()
        # Away 10 s: the first try after 3 s of silence fails and is said; the next tries
        # (after 6 s, then 12 s) are not. Before, one line came every 3.5 s.
        time.sleep(10)
        tail.terminate()
        _, err = tail.communicate(timeout=WAIT_S)
        lines = [l for l in err.splitlines() if "cannot follow the hub" in l]
        self.assertEqual(len(lines), 1, err)
        self.assertIn("said once", lines[0])

    def test_tail_stops_when_the_writer_comes_back_on_a_shorter_history(self):
        """A writer restarted on its log without the last segment (the same epoch, a lower
        head): tail, with or without --hooks, says so and exits 1, rather than printing the
        new history's events past its position as if they continued what it printed."""
        hub = self.start_hub(extra=("--segment-bytes", "4096"), fixed_ports=True)
        batch = "".join(json.dumps({"method": "insert", "args": insert_args("w%d" % i)}) + "\n"
                        for i in range(80))
        self.assertEqual(run("call", *hub.ep(), "--batch", "-", stdin=batch).returncode, 0)
        head = json.loads(hub.call("last_sequence").stdout)
        tails = {}
        for name, args in (("events", []), ("hooks", ["--hooks"])):
            out = open(os.path.join(hub.dir, name + ".out"), "w+")
            proc = subprocess.Popen([PROCREG, "tail", *hub.ep(), "--from", "1", *args],
                                    stdout=out, stderr=subprocess.PIPE, text=True)
            self.addCleanup(lambda p=proc, o=out: (p.poll() is None and (p.kill(), p.wait()),
                                                   o.close()))
            tails[name] = (proc, out)

        def read_to(out, seq):
            out.seek(0)
            return any(e["seq"] == seq for e in lines_json(out.read()))
        deadline = time.monotonic() + WAIT_S
        for proc, out in tails.values():  # each read the whole log
            while not read_to(out, head):
                self.assertIsNone(proc.poll())
                self.assertLess(time.monotonic(), deadline, "tail did not read the log")
                time.sleep(0.05)
        hub.stop()
        segments = sorted(f for f in os.listdir(hub.log) if f.endswith(".log"))
        self.assertGreater(len(segments), 1)
        os.remove(os.path.join(hub.log, segments[-1]))
        shorter = json.loads(run("replay", "--log-dir", hub.log).stdout)["last_seq"]
        self.assertLess(shorter, head)
        hub.restart()
        for name, (proc, out) in tails.items():
            _, err = proc.communicate(timeout=WAIT_S)
            self.assertEqual(proc.returncode, 1, name + ": " + err)
            self.assertIn("stopped after seq %d: corruption: " % head, err)
            self.assertIn("ends at seq %d, before" % shorter, err)

    def test_tail_from_and_live_with_filters(self):
        hub = self.start_hub()
        for i in range(3):
            hub.call("insert", insert_args("w%d" % i, tag="db" if i == 1 else None))
        live = subprocess.Popen([PROCREG, "tail", *hub.ep(), "--count", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # subscribed and at the head
        r = run("tail", *hub.ep(), "--from", "2", "--count", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        events = lines_json(r.stdout)
        self.assertEqual([e["seq"] for e in events], [2, 3])
        self.assertEqual(events[0]["kind"], "insert")
        self.assertEqual(events[0]["child"], "w1")
        self.assertEqual(events[0]["hub"], "t")
        self.assertIn("row", events[0]["payload"])
        hub.call("erase", {"child_id": "w0", "hooks": True})
        hub.call("node_down", {"node": "n1"})
        out, err = live.communicate(timeout=WAIT_S)
        self.assertEqual(live.returncode, 0, err)
        self.assertEqual([(e["seq"], e["kind"]) for e in lines_json(out)], [(4, "delete"), (5, "bulk_delete")])
        r = run("tail", *hub.ep(), "--from", "1", "--until-seq", "5", "--tag", "db")
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [2])
        r = run("tail", *hub.ep(), "--from", "1", "--until-seq", "5", "--kind", "delete", "--kind", "bulk_delete")
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [4, 5])
        r = run("tail", *hub.ep(), "--from", "1", "--until-seq", "5", "--child", "w0")
        self.assertEqual([e["seq"] for e in lines_json(r.stdout)], [1, 4])  # gone before seq 5
        r = run("tail", *hub.ep(), "--hooks", "--from", "1", "--until-seq", "5")
        hooks = lines_json(r.stdout)
        self.assertEqual([(h["seq"], h["kind"], h["child"]) for h in hooks][:2],
                         [(1, "child_registered", "w0"), (2, "child_registered", "w1")])
        self.assertEqual(hooks[3], {"seq": 4, "kind": "child_unregistered", "hub": "t", "table": "t",
                                    "child": "w0", "node_pids": []})
        # An update that renames its row names both ids: --child selects it by either.
        hub.call("insert", insert_args("w9"))
        renamed = insert_args("w9-renamed")["spec"]
        seq = json.loads(hub.call("update", {"child_id": "w9", "spec": renamed}).stdout)["seq"]
        for child in ("w9", "w9-renamed"):
            r = run("tail", *hub.ep(), "--from", str(seq), "--until-seq", str(seq), "--child", child)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual([(e["seq"], e["kind"], e["child"], e["children"])
                              for e in lines_json(r.stdout)],
                             [(seq, "update", "w9", ["w9", "w9-renamed"])])

    # ---- replica, stats, serve's clean shutdown
    def test_replica_stats_and_clean_shutdown(self):
        hub = self.start_hub(extra=("--dump", "DUMP"))
        hub.call("insert", insert_args("w1"))
        dump = os.path.join(hub.dir, "replica.json")
        r = run("replica", *hub.ep(), "--until-seq", "1", "--dump", dump)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(lines_json(r.stdout)[-1]["event"], "stopped")
        with open(dump) as f:
            self.assertEqual(json.load(f), {"t": json.loads(hub.call("dump_all").stdout)})
        r = run("stats", *hub.ep())
        self.assertEqual(r.returncode, 0, r.stderr)
        stats = json.loads(r.stdout)
        self.assertEqual(stats["last_seq"], 1)
        self.assertEqual(stats["writer"]["events_written"], 1)
        self.assertGreaterEqual(stats["server"]["commands"], 1)
        r = run("stats", *hub.ep(), "--prometheus")
        self.assertEqual(r.returncode, 0)
        self.assertIn('procreg_writer_events_written_total{hub="t"} 1', r.stdout)
        self.assertIn("# TYPE procreg_writer_last_seq gauge", r.stdout)
        self.assertEqual(hub.stop(), 0)
        self.assertEqual(lines_json(hub.output())[-1]["event"], "stopped")
        # The log reopens with the same state.
        r = run("replay", "--log-dir", hub.log)
        self.assertEqual(json.loads(r.stdout)["last_seq"], 1)

    def test_stats_of_a_replica_lag_gaps_and_group_commits(self):
        hub = self.start_hub(extra=("--durability", "group"))
        for i in range(3):
            hub.call("insert", insert_args("w%d" % i))
        stats = json.loads(run("stats", *hub.ep()).stdout)
        # Group commit: every event was made durable by some sync.
        self.assertGreaterEqual(stats["writer"]["log_syncs"], 1)
        self.assertEqual(stats["writer"]["log_synced_events"], 3)
        self.assertGreaterEqual(stats["log_largest_sync_group"], 1)
        # Calls one after the other: groups of one.
        self.assertGreaterEqual(stats["writer"]["write_calls"], 3)
        self.assertEqual(stats["writer"]["write_groups"], stats["writer"]["write_calls"])
        self.assertEqual((stats["largest_write_group"], stats["write_calls_queued"]), (1, 0))
        replica = subprocess.Popen([PROCREG, "replica", *hub.ep(), "--stats", ANY],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = json.loads(replica.stdout.readline())
            self.assertEqual(first["event"], "caught_up")
            endpoint = first["stats"]
            self.assertTrue(endpoint.startswith("tcp://127.0.0.1:"), endpoint)
            r = run("stats", "--stats", endpoint)
            self.assertEqual(r.returncode, 0, r.stderr)
            rs = json.loads(r.stdout)
            self.assertEqual((rs["role"], rs["hub"], rs["last_seq"], rs["lag"]), ("replica", "t", 3, 0))
            self.assertEqual(rs["head"], 3)
            self.assertEqual(rs["replica"]["gaps_detected"], 0)
            r = run("stats", "--stats", endpoint, "--prometheus")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('procreg_replica_lag_events{hub="t"} 0', r.stdout)
            self.assertIn("# TYPE procreg_replica_events_repaired_total counter", r.stdout)
        finally:
            replica.send_signal(signal.SIGTERM)
            out, _ = replica.communicate(timeout=WAIT_S)
        self.assertEqual(replica.returncode, 0)
        self.assertEqual(lines_json(out)[-1]["event"], "stopped")

    def test_bus_proxy_with_serve_connected(self):
        d = tempfile.mkdtemp(prefix="procreg-cli-test-")
        try:
            bus_file = os.path.join(d, "bus.json")
            bus = subprocess.Popen([PROCREG, "bus", "--frontend", ANY, "--backend", ANY,
                                    "--endpoints-file", bus_file],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + WAIT_S
            while not os.path.exists(bus_file) and time.monotonic() < deadline:
                time.sleep(0.02)
            with open(bus_file) as f:
                proxy = json.load(f)
            self.hub = Hub(extra=("--connect", proxy["frontend"], "--advertise-bus", proxy["backend"]))
            with open(self.hub.endpoints) as f:
                self.assertEqual(json.load(f)["bus"], proxy["backend"])
            self.hub.call("insert", insert_args("w1"))
            r = run("tail", *self.hub.ep(), "--from", "1", "--count", "1")
            self.assertEqual(lines_json(r.stdout)[0]["seq"], 1)
            self.assertEqual(self.hub.stop(), 0)
            bus.send_signal(signal.SIGINT)
            out, _ = bus.communicate(timeout=WAIT_S)
            self.assertEqual(bus.returncode, 0)
            self.assertEqual(lines_json(out)[-1], {"event": "stopped"})
        finally:
            shutil.rmtree(d, ignore_errors=True)

    # ---- replay, verify, inspect
    def test_verify_names_a_segment_of_an_unsupported_version(self):
        """An intact segment header of a version this build does not read is reported with
        that segment's file and offset 0 (its header), not the segment read before it."""
        hub = self.start_hub(extra=("--segment-bytes", "4096"))
        batch = "".join(json.dumps({"method": "insert", "args": insert_args("w%d" % i)}) + "\n"
                        for i in range(80))
        self.assertEqual(run("call", *hub.ep(), "--batch", "-", stdin=batch).returncode, 0)
        self.assertEqual(hub.stop(), 0)
        segments = sorted(f for f in os.listdir(hub.log) if f.endswith(".log"))
        self.assertGreater(len(segments), 2)
        for name in (segments[1], segments[-1]):
            log = os.path.join(hub.dir, "copy-" + name)
            shutil.copytree(hub.log, log)
            path = os.path.join(log, name)
            with open(path, "rb") as f:
                data = bytearray(f.read())
            header_len = int.from_bytes(data[6:8], "little")
            data[4:6] = (5).to_bytes(2, "little")  # version 5, the header's CRC made valid
            data[header_len - 4:header_len] = masked_crc32c(data[:header_len - 4]).to_bytes(4, "little")
            with open(path, "wb") as f:
                f.write(data)
            r = run("verify", "--log-dir", log, "--json")
            self.assertEqual(r.returncode, 1, r.stdout)
            damage = json.loads(r.stdout)["damage"]
            self.assertEqual(damage["code"], "unsupported", damage)
            self.assertIn("segment %s: format version 5" % name, damage["message"])
            self.assertEqual((damage["segment"], damage["offset"]), (name, 0), damage)
            r = run("verify", "--log-dir", log)
            self.assertIn("  segment %s, offset 0, last good seq %d" % (name, int(name[:20]) - 1),
                          r.stdout)

    def test_replay_upto_and_verify_damage(self):
        hub = self.start_hub()
        for i in range(6):
            hub.call("insert", insert_args("w%d" % i, pid="p%d" % i))
        self.assertEqual(hub.stop(), 0)
        r = run("replay", "--log-dir", hub.log)
        full = json.loads(r.stdout)
        self.assertEqual((full["last_seq"], full["rows"], full["tables"]), (6, 6, 1))
        r = run("replay", "--log-dir", hub.log, "--upto", "3")
        part = json.loads(r.stdout)
        self.assertEqual((part["last_seq"], sorted(part["result"])), (3, ["w0", "w1", "w2"]))
        r = run("replay", "--log-dir", hub.log, "--upto", "4", "--query", "get_pid",
                "--args", '{"child_id": "w3"}')
        self.assertEqual(json.loads(r.stdout)["result"], "p3")
        r = run("replay", "--log-dir", hub.log, "--upto-time", "2000-01-01T00:00:00Z")
        self.assertEqual(json.loads(r.stdout)["last_seq"], 0)
        self.assertEqual(run("replay", "--log-dir", hub.log, "--upto-time", "yesterday").returncode, 2)

        r = run("verify", "--log-dir", hub.log)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("sound", r.stdout)
        # An empty directory is no log: exit 1, saying so; one that is not there, another error.
        empty = os.path.join(hub.dir, "empty")
        os.makedirs(empty)
        r = run("verify", "--log-dir", empty)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("EMPTY", r.stdout)
        r = run("verify", "--log-dir", empty, "--json")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertTrue(json.loads(r.stdout)["empty"])
        r = run("verify", "--log-dir", os.path.join(hub.dir, "missing"))
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("not a directory", r.stderr)
        with open(os.path.join(hub.log, "snapshot-00000000000000000003"), "w") as f:
            f.write("not a segment")
        r = run("inspect", "--log-dir", hub.log, "--json")
        self.assertEqual(r.returncode, 0)
        info = json.loads(r.stdout)
        self.assertEqual(info["records"], 6)
        self.assertEqual(info["other_files"], ["snapshot-00000000000000000003"])
        segment = info["segment_list"][0]["name"]
        # Flip a byte inside the fourth record's payload.
        path = os.path.join(hub.log, segment)
        with open(path, "rb") as f:
            data = bytearray(f.read())
        offset = len(data) * 4 // 6 - 20
        data[offset] ^= 0xFF
        with open(path, "wb") as f:
            f.write(data)
        r = run("verify", "--log-dir", hub.log, "--json")
        self.assertEqual(r.returncode, 1, r.stdout)
        report = json.loads(r.stdout)
        self.assertFalse(report["sound"])
        self.assertEqual(report["damage"]["segment"], segment)
        self.assertIsInstance(report["damage"]["offset"], int)
        self.assertLess(report["damage"]["offset"], offset + 1)
        self.assertGreaterEqual(report["damage"]["last_good_seq"], 2)
        self.assertLess(report["damage"]["last_good_seq"], 6)
        r = run("verify", "--log-dir", hub.log)
        self.assertEqual(r.returncode, 1)
        self.assertIn("DAMAGED", r.stdout)
        self.assertIn(segment, r.stdout)
        self.assertEqual(run("inspect", "--log-dir", hub.log).returncode, 1)

    # ---- snapshots and compaction
    def wait_stats(self, hub, ready, what):
        deadline = time.monotonic() + WAIT_S
        while True:
            r = run("stats", *hub.ep())
            if r.returncode == 0:
                stats = json.loads(r.stdout)
                if ready(stats):
                    return stats
            if time.monotonic() > deadline:
                self.fail("waited for %s: %s" % (what, r.stdout + r.stderr))
            time.sleep(0.1)

    def insert_batch(self, hub, first, count):
        batch = "".join(json.dumps({"method": "insert", "args": insert_args("w%d" % i, pid="p%d" % i)}) + "\n"
                        for i in range(first, first + count))
        r = run("call", *hub.ep(), "--batch", "-", stdin=batch)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_snapshots_without_compaction(self):
        self.assertEqual(run("serve", "--log-dir", "/tmp/x", "--archive-dir", "/tmp/y").returncode, 2)
        self.assertEqual(run("serve", "--log-dir", "/tmp/x", "--snapshot-keep", "0").returncode, 2)
        hub = self.start_hub(extra=("--snapshot-every-events", "4", "--snapshot-keep", "3"))
        # Background snapshots start after 4 events since the last one, of the state then: the
        # events appended before the snapshotter runs are all in one snapshot (under load, a
        # batch of 10 can give one snapshot, at seq 10). So two batches, the second after the
        # first batch's snapshot: two snapshots.
        self.insert_batch(hub, 0, 5)
        first = self.wait_stats(hub, lambda s: s["last_snapshot_seq"] >= 1,
                                "a snapshot")["last_snapshot_seq"]
        self.insert_batch(hub, 5, 5)
        stats = self.wait_stats(hub, lambda s: s["writer"]["snapshots_written"] >= 2
                                and s["last_snapshot_seq"] > first, "2 snapshots")
        newest = stats["last_snapshot_seq"]
        self.assertGreaterEqual(newest, 5)
        self.assertEqual(stats["writer"]["segments_compacted"], 0)
        r = run("stats", *hub.ep(), "--prometheus")
        self.assertIn('procreg_writer_last_snapshot_seq{hub="t"} ', r.stdout)
        self.assertIn('procreg_writer_snapshots_written_total{hub="t"} ', r.stdout)
        self.assertEqual(hub.stop(), 0)
        # A snapshot write a crash cut short: an other file, not read.
        tmp = "snapshot-00000000000000000099.snap.tmp"
        with open(os.path.join(hub.log, tmp), "w") as f:
            f.write("half")
        r = run("inspect", "--log-dir", hub.log, "--json")
        self.assertEqual(r.returncode, 0, r.stdout)
        info = json.loads(r.stdout)
        self.assertTrue(info["sound"])
        self.assertEqual(info["compacted_through"], 0)
        self.assertEqual(info["other_files"], [tmp])
        snaps = info["snapshot_list"]
        seqs = [x["seq"] for x in snaps]
        self.assertTrue(2 <= len(seqs) <= 3, seqs)
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(info["snapshots"], len(seqs))
        self.assertEqual(info["valid_snapshots"], len(seqs))
        for x in snaps:
            self.assertTrue(x["valid"] and x["usable"], x)
            self.assertIsNone(x["problem"])
            self.assertEqual(x["rows"], x["seq"])  # one row per insert
            self.assertEqual(x["epoch"], info["epoch"])
            self.assertEqual(x["name"], "snapshot-%020d.snap" % x["seq"])
            self.assertEqual(x["bytes"], os.path.getsize(os.path.join(hub.log, x["name"])))
        last, prev = snaps[-1], snaps[-2]
        r = run("inspect", "--log-dir", hub.log)
        self.assertIn("snapshot %s" % last["name"], r.stdout)
        self.assertIn("%d snapshot(s) checked, %d valid, newest seq %d" % (len(seqs), len(seqs), last["seq"]), r.stdout)
        self.assertIn("other file " + tmp, r.stdout)
        # replay starts from the newest snapshot at or before the point asked for.
        r = run("replay", "--log-dir", hub.log)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual((out["last_seq"], out["rows"]), (10, 10))
        self.assertIn("started from %s (seq %d) + %d events" % (last["name"], last["seq"], 10 - last["seq"]),
                      out["recovery"])
        r = run("replay", "--log-dir", hub.log, "--upto", str(last["seq"] - 1))
        self.assertIn("started from %s" % prev["name"], json.loads(r.stdout)["recovery"])
        r = run("replay", "--log-dir", hub.log, "--no-snapshots")
        self.assertEqual(r.returncode, 0, r.stderr)
        full = json.loads(r.stdout)
        self.assertEqual(full["recovery"], "")
        self.assertEqual(full["result"], out["result"])
        # A damaged snapshot: damage (exit 1) named by file and offset; replay falls back.
        path = os.path.join(hub.log, last["name"])
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[len(data) - 30] ^= 0xFF
        with open(path, "wb") as f:
            f.write(data)
        r = run("verify", "--log-dir", hub.log, "--json")
        self.assertEqual(r.returncode, 1, r.stdout)
        report = json.loads(r.stdout)
        self.assertFalse(report["sound"])
        self.assertNotIn("damage", report)  # the segments are sound
        self.assertEqual(len(report["snapshot_damage"]), 1)
        bad = report["snapshot_damage"][0]
        self.assertEqual(bad["file"], last["name"])
        self.assertIsInstance(bad["offset"], int)
        self.assertLessEqual(bad["offset"], len(data) - 30)
        self.assertIn("corruption", bad["message"])
        r = run("verify", "--log-dir", hub.log)
        self.assertEqual(r.returncode, 1)
        self.assertIn("DAMAGED snapshot", r.stdout)
        self.assertIn("snapshot %s, offset" % last["name"], r.stdout)
        r = run("replay", "--log-dir", hub.log)
        self.assertEqual(r.returncode, 0)
        recovery = json.loads(r.stdout)["recovery"]
        self.assertIn("started from %s" % prev["name"], recovery)
        self.assertIn("skipped %s" % last["name"], recovery)

    def test_compaction_tail_replay_and_verify(self):
        archive = tempfile.mkdtemp(prefix="procreg-cli-test-archive-")
        try:
            hub = self.start_hub(extra=("--segment-bytes", "4096", "--snapshot-every-events", "10",
                                        "--snapshot-keep", "2", "--compact", "--archive-dir", archive))
            # As in test_snapshots_without_compaction, a snapshot holds whatever was appended
            # before it ran: 80 events at once may give only a snapshot at seq 10 and one at 80
            # (nothing compacted: the oldest kept covers no whole segment), or one at 80 alone
            # (one snapshot kept, not two). So 70 events, then a snapshot past the first segment
            # (seqs 1 to about 30), then 10 more: a newer snapshot, and with the two kept the
            # first segment is compacted.
            self.insert_batch(hub, 0, 70)
            written = self.wait_stats(hub, lambda s: s["last_snapshot_seq"] >= 31,
                                      "a snapshot at 31 or later")["writer"]["snapshots_written"]
            self.insert_batch(hub, 70, 10)
            stats = self.wait_stats(hub, lambda s: s["writer"]["segments_compacted"] >= 1
                                    and s["writer"]["snapshots_written"] > written, "compaction")
            self.assertEqual(stats["writer"]["snapshot_failures"], 0, stats["last_snapshot_error"])
            self.assertTrue(any(n.endswith(".log") for n in os.listdir(archive)), os.listdir(archive))
            # History the hub no longer holds: tail says so and exits 4.
            start = time.monotonic()
            r = run("tail", *hub.ep(), "--from", "1", "--count", "1")
            self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertIn("compacted", r.stderr)
            self.assertIn("no longer holds the events from seq 1", r.stderr)
            self.assertIn("the writer's log no longer holds seqs 1 to ", r.stderr)
            self.assertNotIn(hub.log, r.stderr)  # the writer's directory is not the client's
            self.assertLess(time.monotonic() - start, 10)
            r = run("tail", *hub.ep(), "--hooks", "--from", "1", "--seconds", "10")
            self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
            self.assertIn("compacted", r.stderr)
            # From a seq still kept, tail works.
            r = run("tail", *hub.ep(), "--from", "80", "--count", "1")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(lines_json(r.stdout)[0]["child"], "w79")
            # A replica starts from the served snapshot.
            r = run("call", *hub.ep(), "get_pid", '{"child_id": "w0"}')
            self.assertEqual(json.loads(r.stdout), "p0")
            self.assertEqual(hub.stop(), 0)

            r = run("inspect", "--log-dir", hub.log, "--json")
            self.assertEqual(r.returncode, 0, r.stdout)
            info = json.loads(r.stdout)
            self.assertTrue(info["sound"])
            through = info["compacted_through"]
            self.assertGreater(through, 0)
            self.assertEqual(info["segment_list"][0]["first_seq"], through + 1)
            self.assertEqual(info["records"], 80 - through)
            self.assertEqual(info["last_good_seq"], 80)
            self.assertEqual(info["other_files"], [])
            self.assertEqual(len(info["snapshot_list"]), 2)
            self.assertTrue(all(x["usable"] for x in info["snapshot_list"]))
            self.assertGreaterEqual(info["snapshot_list"][0]["seq"], through)
            r = run("verify", "--log-dir", hub.log)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("compacted through seq %d: covered by a valid snapshot" % through, r.stdout)
            # replay: from a snapshot; not without one, nor before the oldest kept snapshot.
            r = run("replay", "--log-dir", hub.log, "--query", "get_pid", "--args", '{"child_id": "w0"}')
            self.assertEqual(r.returncode, 0, r.stderr)
            out = json.loads(r.stdout)
            self.assertEqual((out["last_seq"], out["rows"], out["result"]), (80, 80, "p0"))
            self.assertIn("started from snapshot-", out["recovery"])
            r = run("replay", "--log-dir", hub.log, "--no-snapshots")
            self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
            self.assertIn("compacted", r.stderr)
            r = run("replay", "--log-dir", hub.log, "--upto", "1")
            self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
            # Without a snapshot covering the removed history, the log cannot be opened: unsound.
            for x in info["snapshot_list"]:
                os.remove(os.path.join(hub.log, x["name"]))
            r = run("verify", "--log-dir", hub.log, "--json")
            self.assertEqual(r.returncode, 1, r.stdout)
            report = json.loads(r.stdout)
            self.assertFalse(report["sound"])
            self.assertIn("compacted through seq %d" % through, report["uncovered"])
            r = run("verify", "--log-dir", hub.log)
            self.assertIn("UNSOUND: compacted through seq", r.stdout)
        finally:
            shutil.rmtree(archive, ignore_errors=True)

    # ---- demo
    def test_keygen_and_a_secured_hub(self):
        keys = tempfile.mkdtemp(prefix="procreg-cli-keys-")
        self.addCleanup(shutil.rmtree, keys, True)
        k = lambda name: os.path.join(keys, name)
        made = {}
        for name in ("hub", "ops", "app", "viewer", "stranger"):
            r = run("keygen", k(name))
            self.assertEqual(r.returncode, 0, r.stderr)
            made[name] = json.loads(r.stdout)
            self.assertEqual(os.stat(k(name) + ".key_secret").st_mode & 0o777, 0o600)
        self.assertEqual(len(made["hub"]["public_key"]), 40)
        r = run("keygen", k("hub"))  # never replaced without --force
        self.assertEqual(r.returncode, 1)
        self.assertIn("--force", r.stderr)
        for role, name in (("admin", "ops"), ("writer-client", "app"), ("reader", "viewer")):
            os.makedirs(k("policy/" + role))
            shutil.copy(k(name + ".key"), k("policy/" + role))
        hub = self.start_hub(extra=("--curve-key", k("hub"), "--curve-policy", k("policy")))

        def call(who, method, args=None, timeout_ms="5000"):
            return run("call", *hub.ep(), "--timeout-ms", timeout_ms, "--curve-key", k(who),
                       "--curve-server", k("hub.key"), method,
                       *([json.dumps(args)] if args is not None else []))
        r = call("app", "insert", insert_args("w1"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = call("viewer", "get_pid", {"child_id": "w1"})
        self.assertEqual(json.loads(r.stdout), "p1")
        for who, method, args in (("viewer", "insert", insert_args("v1")),
                                  ("viewer", "erase", {"child_id": "w1"}),
                                  ("app", "clear_all", None), ("app", "node_down", {"node": "n1"})):
            r = call(who, method, args)
            self.assertEqual(r.returncode, 1, (who, method, r.stdout, r.stderr))
            self.assertEqual(json.loads(r.stdout)["error"]["code"], "permission_denied")
        # An unknown key and a plaintext client get no connection, and are told why at once.
        r = call("stranger", "get_pid", {"child_id": "w1"}, "5000")
        self.assertEqual(r.returncode, 1)
        self.assertIn("permission_denied", r.stdout + r.stderr)
        self.assertIn("ZAP status 400", r.stdout + r.stderr)
        r = run("call", *hub.ep(), "--timeout-ms", "5000", "get_pid", json.dumps({"child_id": "w1"}))
        self.assertEqual(r.returncode, 3)
        self.assertIn("CURVE", r.stdout + r.stderr)
        # The keys also come from the environment; a readable secret is refused.
        env = dict(os.environ, PROCREG_CURVE_KEY=k("viewer"), PROCREG_CURVE_SERVER=k("hub.key"))
        r = subprocess.run([PROCREG, "stats", *hub.ep()], capture_output=True, text=True,
                           timeout=WAIT_S, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        server = json.loads(r.stdout)["server"]
        self.assertEqual(server["permission_denied"], 4)
        self.assertGreaterEqual(server["connections_refused"], 1)
        os.chmod(k("viewer.key_secret"), 0o644)
        r = call("viewer", "get_pid", {"child_id": "w1"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("chmod 600", r.stderr)
        self.assertEqual(call("ops", "clear_all").returncode, 0)
        # A replica with a writer-client key follows the hub (bus and replay under CURVE).
        dump = k("replica.json")
        r = run("replica", *hub.ep(), "--curve-key", k("app"), "--curve-server", k("hub.key"),
                "--seconds", "1", "--dump", dump)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_plaintext_network_endpoints_need_insecure(self):
        d = tempfile.mkdtemp(prefix="procreg-cli-insecure-")
        self.addCleanup(shutil.rmtree, d, True)
        for args in (["serve", "--log-dir", os.path.join(d, "log"), "--command", "tcp://0.0.0.0:0"],
                     ["serve", "--log-dir", os.path.join(d, "log"), "--bus-frontend", "tcp://*:0"],
                     ["bus", "--backend", "tcp://0.0.0.0:0"],
                     ["replica", "--serve", "tcp://0.0.0.0:0", "--seconds", "0.1"]):
            r = run(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("--insecure", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "log")))  # refused before the log opened

    def test_demo(self):
        r = run("demo", "--children", "12", "--rounds", "3", timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("demo OK", r.stdout)
        self.assertIn("replica-2's dump equals the writer's", r.stdout)


def client_follower(hub):
    """The client module, and a Follower of `hub` (hub "t") that has not synchronised yet."""
    import importlib.util
    import types
    spec = importlib.util.spec_from_file_location("procreg_client", CLIENT)
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    with open(hub.endpoints) as f:
        endpoints = json.load(f)
    args = types.SimpleNamespace(hub="t", bus=endpoints["bus"], replay=endpoints["replay"],
                                 timeout_ms=5000, events=False)
    follower = client.Follower(args)
    FOLLOWER_CONTEXTS.append(follower.context)
    return client, follower


# The followers' ZeroMQ contexts, destroyed after each test: a context left to the garbage
# collector can block it (term() waits for sockets that are collected after it).
FOLLOWER_CONTEXTS = []


class ConnectionLimitTest(unittest.TestCase):
    """The attack of a few hundred idle clients on a writer limited to 256 open files."""

    def test_a_flood_of_connections_is_refused_and_the_hub_goes_on(self):
        import zmq  # python3-zmq, as examples/python
        hub = Hub(open_files=256)
        ctx = zmq.Context()
        ctx.MAX_SOCKETS = 2048
        try:
            hub.call("insert", insert_args("before"))
            stats = json.loads(run("stats", *hub.ep()).stdout)["server"]
            self.assertEqual(stats["max_connections"], 256 - 128)
            with open(hub.endpoints) as f:
                endpoints = json.load(f)
            flood = []
            for i in range(400):
                s = ctx.socket(zmq.DEALER)
                s.setsockopt(zmq.LINGER, 0)
                s.setsockopt(zmq.RECONNECT_IVL, 60000)
                s.connect(endpoints["command" if i % 2 else "replay"])
                flood.append(s)
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                stats = json.loads(run("stats", *hub.ep()).stdout)["server"]
                if stats["connections_over_limit"] >= 400 - 128:
                    break
                time.sleep(0.2)
            self.assertGreaterEqual(stats["connections_over_limit"], 400 - 128)
            # Refused connections count as open until their disconnection is read (under a
            # sanitizer build, a while): what stays open is at most the cap.
            while stats["connections_open"] > 128 and time.monotonic() < deadline:
                time.sleep(0.2)
                stats = json.loads(run("stats", *hub.ep()).stdout)["server"]
            self.assertLessEqual(stats["connections_open"], 128)
            # Peers in their handshake count too, so the burst may leave places: fill them.
            for i in range(200):
                stats = json.loads(run("stats", *hub.ep()).stdout)["server"]
                if stats["connections_open"] >= 128:
                    break
                s = ctx.socket(zmq.DEALER)
                s.setsockopt(zmq.LINGER, 0)
                s.connect(endpoints["command"])
                flood.append(s)
                time.sleep(0.02)
            self.assertEqual(stats["connections_open"], 128)
            # A new client is told why at once; the writer's log and bus go on.
            r = run("call", *hub.ep(), "--timeout-ms", "10000", "get_pid", json.dumps({"child_id": "before"}))
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # not a timeout (3)
            self.assertIn("resource_exhausted", r.stdout + r.stderr)
            self.assertIsNone(hub.proc.poll())
            for s in flood:
                s.close()
            # Once the flood is gone, clients get in again.
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                r = run("call", *hub.ep(), "get_pid", json.dumps({"child_id": "before"}))
                if r.returncode == 0:
                    break
                time.sleep(0.2)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            hub.call("insert", insert_args("after"))
            self.assertEqual(hub.stop(), 0)
        finally:
            ctx.destroy(linger=0)
            hub.close()


class PythonClientTest(unittest.TestCase):
    def tearDown(self):
        while FOLLOWER_CONTEXTS:
            FOLLOWER_CONTEXTS.pop().destroy(linger=0)

    def test_client_rebuilds_what_dump_all_shows(self):
        hub = Hub()
        try:
            hub.call("insert", {"spec": {"id": "w1", "start": ["M", "f", [1, -2, 2.5, {"$bin": "AAE="}]],
                                         "restart": "temporary"},
                                "node_pids": [["n1", "p1"]], "metadata": {"tag": "db"}, "hooks": True})
            hub.call("insert", dict(insert_args("t2-child"), table="other"))
            client = subprocess.Popen(["/usr/bin/python3", CLIENT, "--endpoints", hub.endpoints,
                                       "--until-seq", "7", "--events"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.3)  # snapshot loaded; the rest arrives live
            batch = "\n".join(json.dumps(x) for x in [
                {"method": "node_down", "args": {"node": "n1"}},
                {"method": "insert", "args": {"spec": {"id": "w3"}, "node_pids": [["n2", "p3"]], "ttl_ms": 100000}},
                {"method": "update", "args": {"child_id": "w3", "metadata": {"x": -1}}},
                {"method": "bulk_insert", "args": {"entries": {"w4": {"spec": {}, "node_pids": [["n2", "p4"]]}}}},
                {"method": "erase", "args": {"child_id": "w4"}},
            ]) + "\n"
            r = run("call", *hub.ep(), "--batch", "-", stdin=batch)
            self.assertEqual(r.returncode, 0, r.stdout)
            out, err = client.communicate(timeout=WAIT_S)
            self.assertEqual(client.returncode, 0, err)
            lines = out.splitlines()
            rebuilt = json.loads(lines[-1])
            expected = json.loads(hub.call("dump_all_tables").stdout)
            self.assertEqual(rebuilt, expected)
            self.assertEqual(rebuilt["t"], json.loads(hub.call("dump_all").stdout))
            self.assertEqual(json.loads(lines[-2])["seq"], 7)
            r = subprocess.run(["/usr/bin/python3", CLIENT, "--hub", "t", "--bus", "tcp://127.0.0.1:9",
                                "--replay", "tcp://127.0.0.1:9", "--timeout-ms", "300",
                                "--seconds", "1"], capture_output=True, text=True, timeout=WAIT_S)
            self.assertEqual(r.returncode, 3, r.stderr)
        finally:
            hub.close()


    def test_client_applies_event_batches_and_drops_their_duplicates(self):
        # procreg serve publishes one event per message unless calls meet in a commit group, so
        # the batches are built here, from the writer's own events as the replay service
        # serves them, and fed to the client's bus handler (PROTOCOL.md, "Event messages").
        import msgpack
        hub = Hub()
        try:
            for i in range(7):
                hub.call("insert", insert_args("b%d" % i, tag="t%d" % (i % 2)))
            hub.call("erase", {"child_id": "b3"})  # seq 8
            client, follower = client_follower(hub)
            epoch, head = follower.replay.head()
            self.assertEqual(head, 8)
            follower.registry.epoch = epoch
            raw = [msgpack.packb(e, use_bin_type=True) for _, e in follower.replay.range(1, 8)]
            self.assertEqual(len(raw), 8)
            topic = client.topic_prefix("t") + b"e/1:t"

            def message(first, last, version=2):
                header = {"v": version, "seq": first, "ep": epoch, "prev": 0}
                if version == 1:
                    return [topic, msgpack.packb(header), raw[first - 1]]
                header["n"] = last - first + 1
                return [topic, msgpack.packb(header), msgpack.packb(raw[first - 1:last],
                                                                    use_bin_type=True)]

            follower.on_message(message(1, 3))
            self.assertEqual(follower.registry.seq, 3)
            follower.on_message(message(2, 5))     # 2 and 3 again: dropped, 4 and 5 applied
            self.assertEqual(follower.registry.seq, 5)
            follower.on_message(message(6, 6, 1))  # version 1
            follower.on_message(message(5, 7))
            self.assertEqual(follower.registry.seq, 7)
            bad = message(8, 8, 1)
            bad[1] = msgpack.packb({"v": 2, "seq": 8, "ep": epoch, "prev": 0, "n": 2})
            bad[2] = msgpack.packb([raw[7]], use_bin_type=True)  # 1 event where n says 2
            follower.on_message(bad)               # counted, and seq 8 fetched instead
            self.assertEqual(follower.bad_frames, 1)
            self.assertEqual(follower.registry.seq, 8)
            self.assertEqual(follower.registry.dump_all_tables(),
                             json.loads(hub.call("dump_all_tables").stdout))
        finally:
            hub.close()


    def test_client_resyncs_when_the_writers_head_is_below_its_state(self):
        # A writer back on an older copy of its log keeps the epoch but its head is below what a
        # follower applied (PROTOCOL.md, "Replicas", step 6). The follower's state is put past
        # the head here; a heartbeat below the applied seq makes it ask for the head and start
        # over. An old heartbeat (head not below the state) changes nothing.
        import msgpack
        hub = Hub()
        try:
            for i in range(6):
                hub.call("insert", insert_args("h%d" % i))
            client, follower = client_follower(hub)
            follower.sync()
            self.assertEqual(follower.registry.seq, 6)
            syncs = []
            real_sync = follower.sync
            follower.sync = lambda: (syncs.append(1), real_sync())
            topic = client.topic_prefix("t") + b"hb"

            def beat(seq):
                return [topic, msgpack.packb({"v": 1, "seq": seq, "ep": follower.registry.epoch,
                                              "t": 0, "reg": 0, "unreg": 0})]

            follower.on_message(beat(4))  # older than the state, the writer's head is 6: nothing
            self.assertEqual(syncs, [])
            self.assertEqual(follower.registry.seq, 6)
            follower.registry.seq = 9     # events the writer no longer holds
            follower.registry.tables["t"]["lost"] = follower.registry.tables["t"]["h0"]
            follower.on_message(beat(6))
            self.assertEqual(syncs, [1])
            self.assertEqual(follower.registry.seq, 6)
            self.assertEqual(follower.registry.dump_all_tables(),
                             json.loads(hub.call("dump_all_tables").stdout))
        finally:
            hub.close()


def client_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("procreg_client", CLIENT)
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    return client


def run_client(hub, *words, stdin=None):
    """procreg_client.py in call mode against `hub`'s command channel."""
    return subprocess.run(["/usr/bin/python3", CLIENT, "--endpoints", hub.endpoints, "call", *words],
                          input=stdin, capture_output=True, text=True, timeout=WAIT_S)


def batch_text(requests):
    return "".join(json.dumps(r) + "\n" for r in requests)


def canonical(method, result):
    """Paged reads come in each node's page order: compare their rows as sets."""
    if method in ("match_tag", "process_list", "local_data", "local_child_specs"):
        return sorted(result, key=lambda r: json.dumps(r, sort_keys=True))
    return result


# Every read of the command channel with its arguments (docs/PROTOCOL.md, "Reads"), for the
# state call_state() writes.
READ_CALLS = [
    ("lookup", {"child_id": "w1"}), ("lookup", {"child_id": "w1", "with_metadata": True}),
    ("lookup", {"child_id": "nope"}), ("lookup", {"child_id": "w2", "table": "other"}),
    ("get_pid", {"child_id": "w1"}), ("get_pid", {"child_id": "gone"}),
    ("get_pids", {"child_id": "w1"}), ("local_pid", {"child_id": "w1"}),
    ("local_pid", {"child_id": "w3"}), ("entry_exists", {"child_id": "w1"}),
    ("entry_exists", {"child_id": "gone"}),
    ("contains_children", {"child_ids": ["w1", "nope", "w3", "gone"]}),
    ("match_tag", {"tag": "db"}), ("match_tag", {"tag": "db", "table": "other"}),
    ("dump", {}), ("dump", {"table": "other"}), ("dump_all", {}), ("registry", {}),
    ("process_list", {}), ("process_list", {"scope": "local"}), ("local_children", {}),
    ("local_data", {}), ("local_child_specs", {}), ("dump_all_tables", {}),
    ("last_sequence", {}), ("epoch", {}), ("hub", {}), ("local_node", {}),
]


def call_state(hub):
    """Rows of every kind: tagged, on the local node n1 and elsewhere, in two tables, unbound
    (bulk_delete), with a TTL, with Values of every type."""
    requests = [{"method": "insert", "args": {
        "spec": {"id": "w1", "start": ["M", "f", [1, -2, 2.5, None, True, {"$bin": "AAE="}]],
                 "restart": "temporary"},
        "node_pids": [["n1", "p1"], ["n2", "p9"]], "metadata": {"tag": "db", "x": {"y": [1]}},
        "ttl_ms": 3600000}}]
    requests += [{"method": "insert", "args": insert_args("w%d" % i, node="n%d" % (i % 3),
                                                          pid="p%d" % i, tag="db" if i % 2 else None)}
                 for i in range(2, 30)]
    requests += [{"method": "insert", "args": dict(insert_args("w2", tag="db"), table="other")},
                 {"method": "bulk_delete", "args": {"deletes": [["gone", ["n1"]], ["w4", ["n1"]]]}},
                 {"method": "insert", "args": insert_args("gone")},
                 {"method": "bulk_delete", "args": {"deletes": {"gone": ["n1"]}}}]
    r = run("call", *hub.ep(), "--node", "n1", "--batch", "-", stdin=batch_text(requests))
    assert r.returncode == 0, r.stdout + r.stderr


class PythonCurveTest(unittest.TestCase):
    """procreg_client.py with CURVE keys made by procreg keygen, against a secured serve."""

    def test_keys_and_roles_from_python(self):
        keys = tempfile.mkdtemp(prefix="procreg-cli-pykeys-")
        self.addCleanup(shutil.rmtree, keys, True)
        k = lambda name: os.path.join(keys, name)
        for name in ("hub", "app", "viewer"):
            self.assertEqual(run("keygen", k(name)).returncode, 0)
        for role, name in (("writer-client", "app"), ("reader", "viewer")):
            os.makedirs(k("policy/" + role))
            shutil.copy(k(name + ".key"), k("policy/" + role))
        hub = Hub(extra=("--curve-key", k("hub"), "--curve-policy", k("policy")))
        self.addCleanup(hub.close)

        def client(who, *words, timeout_ms="5000"):
            return subprocess.run(["/usr/bin/python3", CLIENT, "--endpoints", hub.endpoints,
                                   "--timeout-ms", timeout_ms, "--curve-key", k(who),
                                   "--curve-server", k("hub.key"), *words],
                                  capture_output=True, text=True, timeout=WAIT_S)
        r = client("app", "call", "insert", json.dumps(insert_args("w1")))
        self.assertEqual(json.loads(r.stdout), {"seq": 1}, r.stderr)
        r = client("viewer", "call", "insert", json.dumps(insert_args("w2")))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "permission_denied")
        self.assertEqual(json.loads(client("viewer", "call", "get_pid",
                                           json.dumps({"child_id": "w1"})).stdout), "p1")
        # Follow mode reads the bus and the replay service under CURVE.
        r = client("viewer", "--until-seq", "1", "--seconds", "10")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("w1", lines_json(r.stdout)[-1][hub_name(hub)])
        # Without keys: no connection, exit 3.
        r = subprocess.run(["/usr/bin/python3", CLIENT, "--endpoints", hub.endpoints,
                            "--timeout-ms", "700", "call", "get_pid", json.dumps({"child_id": "w1"})],
                           capture_output=True, text=True, timeout=WAIT_S)
        self.assertEqual(r.returncode, 3)
        os.chmod(k("viewer.key_secret"), 0o640)
        r = client("viewer", "call", "get_pid", json.dumps({"child_id": "w1"}))
        self.assertEqual(r.returncode, 2)
        self.assertIn("chmod 600", r.stderr)


def hub_name(hub):
    with open(hub.endpoints) as f:
        return json.load(f)["hub"]


class PythonCallTest(unittest.TestCase):
    """procreg_client.py's call mode against procreg serve's command channel."""

    def setUp(self):
        self.hub = Hub(extra=("--node", "n1"))
        self.addCleanup(self.hub.close)

    def expected(self, calls):
        """What procreg call (a replica of the hub, local node n1) prints for `calls`."""
        r = run("call", *self.hub.ep(), "--node", "n1", "--batch", "-",
                stdin=batch_text({"method": m, "args": a} for m, a in calls))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return [line["result"] for line in lines_json(r.stdout)]

    def test_every_read_equals_procreg_call(self):
        call_state(self.hub)
        expected = self.expected(READ_CALLS)
        # One at a time (a sample of them), and all in one batch.
        for (method, args), want in zip(READ_CALLS, expected):
            if method in ("lookup", "dump_all_tables", "process_list", "stats") or args == {}:
                r = run_client(self.hub, method, json.dumps(args))
                self.assertEqual(r.returncode, 0, method + ": " + r.stdout + r.stderr)
                self.assertEqual(canonical(method, json.loads(r.stdout)), canonical(method, want),
                                 method)
        r = run_client(self.hub, "--batch", "-",
                       stdin=batch_text({"method": m, "args": a, "id": i}
                                        for i, (m, a) in enumerate(READ_CALLS)))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = lines_json(r.stdout)
        self.assertEqual([l["id"] for l in lines], list(range(len(READ_CALLS))))
        for (method, args), want, line in zip(READ_CALLS, expected, lines):
            self.assertEqual(canonical(method, line["result"]), canonical(method, want),
                             "%s %s" % (method, args))
        stats = json.loads(run_client(self.hub, "stats").stdout)
        self.assertEqual((stats["hub"], stats["role"], stats["local_node"]), ("t", "writer", "n1"))
        self.assertEqual(stats["last_sequence"], expected[READ_CALLS.index(("last_sequence", {}))])

    def test_paged_reads_with_small_pages_join_to_the_whole(self):
        call_state(self.hub)
        paged = [("dump_all", {}), ("dump", {}), ("registry", {}), ("match_tag", {"tag": "db"}),
                 ("process_list", {}), ("process_list", {"scope": "local"}),
                 ("local_children", {}), ("local_data", {}), ("local_child_specs", {}),
                 ("dump_all_tables", {})]
        expected = self.expected(paged)
        for (method, args), want in zip(paged, expected):
            r = run_client(self.hub, method, json.dumps(args), "--page-rows", "2")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(canonical(method, json.loads(r.stdout)), canonical(method, want),
                             method)
        # In process: the pages a read took (28 bound rows of table t, 2 a page).
        client = client_module()
        with open(self.hub.endpoints) as f:
            endpoint = json.load(f)["command"]
        context = client.zmq.Context()
        channel = client.CommandChannel(context, endpoint, "t")
        sent = []
        real_send = channel.send
        channel.send = lambda op, keys, wait, done: (sent.append(keys), real_send(op, keys, wait, done))
        options = type("Options", (), {"timeout_ms": 5000, "at_least_seq": None, "page_rows": 2})
        call = client.Call("dump", {}, options)
        client.run_calls(channel, [call], 1, lambda i: None)
        context.destroy(linger=0)
        self.assertIsNone(call.error)
        self.assertEqual(call.result, expected[1])
        self.assertGreaterEqual(len(sent), 14)
        self.assertNotIn("cur", sent[0])
        self.assertTrue(all(isinstance(k["cur"], bytes) and k["lim"] == 2 for k in sent[1:]))

    def test_writes_then_reads_back(self):
        seqs = []
        for method, args in [
                ("insert", dict(insert_args("a1", tag="web"), ttl_ms=100000)),
                ("bulk_insert", {"entries": {"a2": {"spec": {}, "node_pids": [["n1", "p2"]]},
                                             "a3": {"spec": {}, "node_pids": [["n2", "p3"]]}}}),
                ("bulk_insert", {"entries": [{"spec": {"id": "x1"}}], "table": "other"}),
                ("bulk_delete", {"deletes": [["a3", ["n2"]]]}),
                ("erase", {"child_id": "a2"}), ("node_down", {"node": "nX"}),
                ("clear_all", {"table": "other"})]:
            r = run_client(self.hub, method, json.dumps(args))
            self.assertEqual(r.returncode, 0, method + ": " + r.stdout + r.stderr)
            seqs.append(json.loads(r.stdout)["seq"])
        self.assertEqual(seqs[:5], [1, 2, 3, 4, 5])
        self.assertGreaterEqual(seqs[6], 6)
        mine = json.loads(run_client(self.hub, "dump_all_tables").stdout)
        self.assertEqual(mine, self.expected([("dump_all_tables", {})])[0])
        self.assertEqual(sorted(mine["t"]), ["a1", "a3"])
        self.assertEqual(mine["t"]["a3"]["node_pids"], [])
        r = run_client(self.hub, "get_pid", '{"child_id": "a1"}', "--at-least-seq", str(seqs[0]))
        self.assertEqual(json.loads(r.stdout), "p1")
        # update needs a replica; bad arguments are usage errors; the writer's refusals fail.
        r = run_client(self.hub, "update", '{"child_id": "a1", "metadata": {}}')
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "invalid_argument")
        r = run_client(self.hub, "insert", '{"node_pids": []}')
        self.assertEqual(r.returncode, 2, r.stdout)
        r = run_client(self.hub, "process_list", '{"scope": "near"}')
        self.assertEqual((r.returncode, json.loads(r.stdout)["error"]["code"]),
                         (1, "invalid_argument"), r.stdout)
        r = run_client(self.hub, "insert", json.dumps({"spec": {"id": ""}, "node_pids": [["n1", "p"]]}))
        self.assertEqual((r.returncode, json.loads(r.stdout)["error"]["code"]),
                         (1, "invalid_argument"), r.stdout)
        r = subprocess.run(["/usr/bin/python3", CLIENT, "--endpoints", self.hub.endpoints,
                            "--hub", "other-hub", "call", "dump"],
                           capture_output=True, text=True, timeout=WAIT_S)
        self.assertEqual((r.returncode, json.loads(r.stdout)["error"]["code"]), (1, "not_found"))
        r = subprocess.run(["/usr/bin/python3", CLIENT, "--endpoint", "tcp://127.0.0.1:9",
                            "--hub", "t", "--timeout-ms", "300", "call", "dump"],
                           capture_output=True, text=True, timeout=WAIT_S)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)

    def test_a_batch_of_writes_is_pipelined(self):
        writes = [{"method": "insert", "args": insert_args("b%03d" % i, tag="batch"), "id": i}
                  for i in range(300)]
        requests = writes + [{"method": "update", "args": {"child_id": "b000"}, "id": "u"},
                             {"method": "match_tag", "args": {"tag": "batch"}, "id": "read"}]
        r = run_client(self.hub, "--batch", "-", stdin=batch_text(requests))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # the update line
        lines = lines_json(r.stdout)
        self.assertEqual([l["line"] for l in lines], list(range(1, 303)))
        self.assertEqual(sorted(l["result"]["seq"] for l in lines[:300]), list(range(1, 301)))
        self.assertEqual(lines[300]["error"]["code"], "invalid_argument")
        self.assertEqual(len(lines[301]["result"]), 300)  # the read waited for every write
        # In process: how many were in flight at once, and the writer's groups.
        client = client_module()
        with open(self.hub.endpoints) as f:
            endpoint = json.load(f)["command"]
        context = client.zmq.Context()
        channel = client.CommandChannel(context, endpoint, "t")
        most = [0]
        real_turn = channel.turn
        channel.turn = lambda: (most.__setitem__(0, max(most[0], len(channel.pending))), real_turn())
        options = type("Options", (), {"timeout_ms": 10000, "at_least_seq": None, "page_rows": None})
        calls = [client.Call("insert", insert_args("c%03d" % i), options) for i in range(200)]
        done = []
        client.run_calls(channel, calls, 64, done.append)
        context.destroy(linger=0)
        self.assertEqual(done, list(range(200)))
        self.assertTrue(all(c.error is None for c in calls))
        self.assertEqual(most[0], 64)  # the bound, reached

    def test_at_least_seq_waits_for_the_write_or_times_out(self):
        self.hub.call("insert", insert_args("w1"))  # seq 1
        r = run_client(self.hub, "get_pid", '{"child_id": "w1"}', "--at-least-seq", "9",
                       "--timeout-ms", "300")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        error = json.loads(r.stdout)["error"]
        self.assertEqual(error["code"], "timeout")
        self.assertIn("this node applied seq 1, not 9", error["message"])
        waiting = subprocess.Popen(
            ["/usr/bin/python3", CLIENT, "--endpoints", self.hub.endpoints, "call", "get_pid",
             '{"child_id": "w2"}', "--at-least-seq", "2", "--timeout-ms", "20000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            r = run_client(self.hub, "get_pid", '{"child_id": "w2"}')
            self.assertEqual(json.loads(r.stdout), None)  # not yet written
            self.hub.call("insert", insert_args("w2", pid="p2"))  # seq 2
            out, err = waiting.communicate(timeout=WAIT_S)
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.wait()
        self.assertEqual(waiting.returncode, 0, err)
        self.assertEqual(json.loads(out), "p2")


def main():
    global PROCREG, CLIENT, MODEL_CHECK
    argv = sys.argv[1:]
    rest = []
    while argv:
        a = argv.pop(0)
        if a == "--procreg":
            PROCREG = os.path.abspath(argv.pop(0))
        elif a == "--client":
            CLIENT = argv.pop(0)
        elif a == "--model-check":
            MODEL_CHECK = os.path.abspath(argv.pop(0))
        else:
            rest.append(a)
    if not PROCREG:
        sys.exit("usage: cli_test.py --procreg PATH [--client PATH]")
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for case in (PythonClientTest, PythonCallTest, PythonCurveTest) if CLIENT else (CliTest, ConnectionLimitTest):
        suite.addTests(loader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
