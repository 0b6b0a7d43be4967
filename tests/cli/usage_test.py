#!/usr/bin/python3
"""`procreg` never misleads about how it was called: every subcommand's --help ends with
examples that use only its own flags, and the exit code of a failure class is the same in every
subcommand (docs/CLI.md, "Exit codes"): a malformed endpoint is a usage error (2) naming the
flag and the expected form, an endpoint nobody answers is 3, a mistyped option is named before
anything it leaves missing, and a write asked of a read-only replay is a usage error. Real
processes, sockets on 127.0.0.1 with ephemeral ports, every wait bounded.

    usage_test.py --procreg PATH [unittest args...]
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import cli_test
from cli_test import Hub, free_port, insert_args

EXPECTED_FORM = "tcp://HOST:PORT"


def run(*args, env=None):
    if env is None:
        return cli_test.run(*args)
    return subprocess.run([cli_test.PROCREG, *args], capture_output=True, text=True,
                          timeout=cli_test.WAIT_S, env=dict(os.environ, **env))


def options(help_text):
    """The long options a --help text lists."""
    return set(re.findall(r"^  (?:-\w,)?(--[a-z][a-z0-9-]*)", help_text, re.M))


def examples(help_text):
    """The example commands of a --help footer, continuation lines joined, as words."""
    if "\nExamples:\n" not in help_text:
        return []
    block = help_text.split("\nExamples:\n", 1)[1].split("\n\n", 1)[0]
    commands = []
    for line in block.splitlines():
        if line.startswith("    ") and commands:
            commands[-1] += "\n" + line
        else:
            commands.append(line.strip())
    return [shlex.split(c.replace("\\\n", " ")) for c in commands]


def example_problems(words, helps, methods):
    """What is wrong with one example (a list of words): "" when nothing. `helps` maps a
    subcommand path to its --help text, `methods` lists `procreg call --list`."""
    if not words or words[0] != "procreg":
        return "does not start with procreg: %r" % words
    path, i = [], 1
    while i < len(words) and " ".join(path + [words[i]]) in helps:
        path.append(words[i])
        i += 1
    if not path:
        return "names no subcommand: %r" % words
    known = options(helps[" ".join(path)])
    for w in words[i:]:
        if w in (">", ">>"):
            break  # a redirection: the rest is the shell's
        if w.startswith("--") and w.split("=")[0] not in known:
            return "%s is not an option of %s: %r" % (w, " ".join(path), words)
    if path == ["call"]:
        method = [w for w in words[i:] if re.fullmatch(r"[a-z_]+", w)][:1]
        if "--batch" not in words and (not method or method[0] not in methods):
            return "names no method of call --list: %r" % words
    if "--query" in words and words[words.index("--query") + 1] not in methods:
        return "--query names no method: %r" % words
    return ""


class HelpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.paths = cli_test.subcommand_paths(lambda *words: run(*words, "--help").stdout)
        cls.helps = {}
        for path in cls.paths:
            r = run(*path.split(), "--help")
            assert r.returncode == 0, (path, r.stderr)
            cls.helps[path] = r.stdout
        cls.methods = run("call", "--list").stdout.split()

    def test_every_subcommand_has_examples_and_the_exit_codes(self):
        for path in ("serve", "bus", "call", "tail", "replica", "replay", "verify", "inspect",
                     "log dump", "stats", "health", "promote", "demo", "keygen", "completion"):
            self.assertIn(path, self.paths)
        for path, text in self.helps.items():
            self.assertIn("\nExamples:\n", text, path)
            self.assertGreaterEqual(len(examples(text)), 1, path)
            self.assertLessEqual(len(examples(text)), 3, path)
            self.assertIn("Exit codes: 0 ok, 1 failure, 2 usage error, 3 unreachable", text, path)
        top = run("--help")
        self.assertEqual(top.returncode, 0)
        self.assertIn("Exit codes: 0 ok", top.stdout)

    def test_every_example_uses_its_subcommands_flags(self):
        for path, text in self.helps.items():
            for words in examples(text):
                self.assertEqual(example_problems(words, self.helps, self.methods), "", path)

    def test_completion_prints_its_script(self):
        for _ in range(3):  # it once read its argument into freed memory
            r = run("completion", "bash")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("complete -o default -F _procreg procreg", r.stdout)

    def test_the_check_finds_a_flag_that_does_not_exist(self):
        for bad in ("procreg serve --logdir /var/lib/procreg/orders",
                    "procreg log dump --log-dir d --form 1", "procreg call dumpall",
                    "procreg replay --log-dir d --query dumpall", "procreg sevre"):
            self.assertNotEqual(example_problems(shlex.split(bad), self.helps, self.methods), "",
                                bad)


def closed_endpoint():
    return "tcp://127.0.0.1:%d" % free_port()


class EndpointTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="procreg-usage-test-")
        self.log = os.path.join(self.dir, "log")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def assert_usage(self, flag, args, env=None, names=None):
        started = time.monotonic()
        r = run(*args, env=env)
        self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
        self.assertLess(time.monotonic() - started, 5, args)
        self.assertIn((names or flag) + ": ", r.stderr, args)
        self.assertIn(EXPECTED_FORM, r.stderr, args)
        self.assertEqual(r.stdout, "", args)
        return r

    def test_a_schemeless_endpoint_is_a_usage_error_naming_the_flag(self):
        bad = "localhost:7402"
        timeout = ["--timeout-ms", "500"]
        cases = [("call", "--bus", ["dump_all"]), ("call", "--replay", ["dump_all"]),
                 ("call", "--command", ["dump_all"]), ("call", "--command", ["--replica", "dump_all"]),
                 ("tail", "--bus", []), ("tail", "--replay", []), ("stats", "--stats", []),
                 ("replica", "--bus", []), ("replica", "--replay", []),
                 ("replica", "--command", []), ("replica", "--serve", []),
                 ("replica", "--stats", []), ("bus", "--frontend", []), ("bus", "--backend", []),
                 ("promote", "--stats", []), ("promote", "--peer", ["--stats", closed_endpoint()])]
        for sub, flag, rest in cases:
            r = self.assert_usage(flag, [sub, flag, bad, *rest, *timeout])
            self.assertIn("tcp://localhost:7402?", r.stderr)
        for flag in ("--bus-frontend", "--bus-backend", "--replay", "--command", "--stats",
                     "--bind", "--connect", "--advertise-bus", "--standby-of", "--serve"):
            self.assert_usage(flag, ["serve", "--log-dir", self.log, flag, bad, "--seconds", "1"])
        self.assertFalse(os.path.exists(self.log), "nothing ran")

    def test_other_malformed_endpoints(self):
        for sub, flag, value in (("call", "--command", "tcp://127.0.0.1"),
                                 ("call", "--command", "tcp://*:7404"),
                                 ("call", "--command", "http://127.0.0.1:7404"),
                                 ("stats", "--stats", "tcp://127.0.0.1:99999"),
                                 ("tail", "--bus", "ipc://"),
                                 ("bus", "--frontend", "tcp://127.0.0.1:x")):
            self.assert_usage(flag, [sub, flag, value, "--timeout-ms", "500"]
                              if sub != "bus" else [sub, flag, value, "--seconds", "1"])

    def test_from_the_environment_and_from_an_endpoints_file(self):
        r = self.assert_usage("--bus", ["tail", "--timeout-ms", "500"],
                              env={"PROCREG_BUS": "localhost:7402"})
        self.assertIn("PROCREG_BUS", r.stderr)
        path = os.path.join(self.dir, "endpoints.json")
        with open(path, "w") as f:
            json.dump({"hub": "t", "command": "127.0.0.1:7404"}, f)
        self.assert_usage(None, ["call", "--endpoints", path, "dump_all"],
                          names='the endpoints file %s: "command"' % path)

    def test_well_formed_endpoints_and_none_are_taken(self):
        # Binding: * ports, ipc, and "none" where a service may be off.
        endpoints = os.path.join(self.dir, "endpoints.json")
        r = run("serve", "--log-dir", self.log, "--durability", "none", "--bus-frontend",
                "tcp://127.0.0.1:*", "--bus-backend", "ipc://%s/bus" % self.dir,
                "--replay", "none", "--command", "none", "--stats", "tcp://127.0.0.1:*",
                "--endpoints-file", endpoints, "--seconds", "0.3")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Connecting: a well-formed endpoint nobody answers is unreachable (3), not usage.
        for args in (["stats", "--stats", "ipc://%s/nobody" % self.dir],
                     ["stats", "--stats", closed_endpoint()],
                     ["promote", "--stats", closed_endpoint()],
                     ["call", "--command", closed_endpoint(), "dump_all"],
                     ["tail", "--bus", closed_endpoint(), "--replay", closed_endpoint()]):
            started = time.monotonic()
            r = run(*args, "--timeout-ms", "500")
            self.assertEqual(r.returncode, 3, (args, r.stdout, r.stderr))
            self.assertLess(time.monotonic() - started, 5, args)
            self.assertRegex(r.stderr, r"tcp://127\.0\.0\.1:\d+|ipc://", args)


class UnknownOptionTest(unittest.TestCase):
    def test_an_unknown_option_is_named_before_a_missing_required_one(self):
        for args, named in ((["serve", "--logdir", "X"], "--logdir of serve; did you mean --log-dir?"),
                            (["serve", "--logdir=X"], "--logdir of serve; did you mean --log-dir?"),
                            (["log", "dump", "--logdir", "X"], "--logdir of log dump"),
                            (["replay", "--log-dir", "X", "--up-to", "3"], "--up-to of replay"),
                            (["verify", "--frobnicate"], "--frobnicate of verify")):
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("procreg: unknown option " + named, r.stderr, args)
            self.assertNotIn("is required", r.stderr, args)
        r = run("serve")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--log-dir is required", r.stderr)
        r = run("sevre")
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown subcommand "sevre"; did you mean serve?', r.stderr)


class ReplayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hub = Hub()
        try:
            for child in ("w1", "w2"):
                cls.hub.call("insert", insert_args(child))
            cls.hub.stop()
        except BaseException:
            cls.hub.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def test_a_write_query_is_a_usage_error_before_replaying(self):
        args = json.dumps(insert_args("w3"))
        for log in (self.hub.log, os.path.join(self.hub.dir, "missing")):
            r = run("replay", "--log-dir", log, "--query", "insert", "--args", args)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertIn("--query insert writes, and a replay is read-only", r.stderr)
        r = run("replay", "--log-dir", self.hub.log, "--query", "get_pid", "--args",
                '{"child_id": "w1"}')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["result"], "p1")

    def test_upto_past_the_head_says_so_and_replays_to_the_head(self):
        r = run("replay", "--log-dir", self.hub.log, "--upto", "99", "--query", "last_sequence")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["result"], 2)
        self.assertIn("--upto 99 is past the log's head (seq 2)", r.stderr)
        r = run("replay", "--log-dir", self.hub.log, "--upto", "1", "--query", "last_sequence")
        self.assertEqual((r.returncode, json.loads(r.stdout)["result"]), (0, 1), r.stderr)
        self.assertNotIn("past the log's head", r.stderr)


if __name__ == "__main__":
    cli_test.run_test_file("usage_test.py")
