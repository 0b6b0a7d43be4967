#!/usr/bin/python3
"""Tests of what procreg installs for operators: the man page, the bash completion and the
systemd units of examples/systemd. Real processes on 127.0.0.1 with ephemeral ports, every
wait bounded, temporary directories removed.

    packaging_test.py --procreg PATH --build-dir DIR --source-dir DIR --cmake PATH
                      [--help2man PATH] [unittest args...]

The build tree is installed with `cmake --install` into a temporary prefix. Without --help2man
(help2man was not found at configure time) the man page's tests are skipped.
"""
import configparser
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from cli_test import subcommand_paths, subcommands_in  # shared with usage_test.py

PROCREG = None
BUILD_DIR = None
SOURCE_DIR = None
CMAKE = None
HELP2MAN = None
WAIT_S = 20
UNITS = ("procreg-bus.service", "procreg-writer@.service", "procreg-replica@.service")


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=WAIT_S, **kw)


def help_of(*words):
    r = run(PROCREG, *words, "--help")
    assert r.returncode == 0, r.stderr
    return r.stdout


class Installed:
    """`cmake --install` of the build tree into a temporary prefix, shared by the tests."""
    prefix = None

    @classmethod
    def get(cls):
        if cls.prefix is None:
            cls.prefix = tempfile.mkdtemp(prefix="procreg-install-test-")
            r = run(CMAKE, "--install", BUILD_DIR, "--prefix", cls.prefix)
            if r.returncode != 0:
                raise AssertionError("cmake --install failed: " + r.stdout + r.stderr)
        return cls.prefix

    @classmethod
    def remove(cls):
        if cls.prefix:
            shutil.rmtree(cls.prefix, ignore_errors=True)


class InstallTest(unittest.TestCase):
    def test_installed_files(self):
        prefix = Installed.get()
        expected = ["bin/procreg", "share/bash-completion/completions/procreg"]
        expected += ["share/doc/procreg/examples/systemd/" + u for u in UNITS + ("README.md",)]
        if HELP2MAN:
            expected.append("share/man/man1/procreg.1")
        for path in expected:
            self.assertTrue(os.path.isfile(os.path.join(prefix, path)), path)


class ManPageTest(unittest.TestCase):
    def setUp(self):
        self.page = os.path.join(Installed.get(), "share/man/man1/procreg.1")
        with open(self.page) as f:
            self.roff = f.read()

    def test_names_every_subcommand_and_its_options(self):
        for path in subcommand_paths(help_of):
            self.assertIn('.SS "procreg %s"' % path, self.roff, path)
        # Options come from each subcommand's --help, as roff.
        for option in ("\\-\\-log\\-dir", "\\-\\-durability", "\\-\\-kind", "\\-\\-until\\-seq"):
            self.assertIn("\\fB%s\\fR" % option, self.roff)
        self.assertNotIn('.SH CALL', self.roff)  # an include file's "[call]" taken for a section

    def test_sections(self):
        sections = re.findall(r'^\.SH "?([A-Z ]+?)"?$', self.roff, re.M)
        for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS", "EXIT STATUS",
                     "ENVIRONMENT", "FILES", "SEE ALSO"):
            self.assertIn(name, sections)
        for var in ("PROCREG_HUB", "PROCREG_BUS", "PROCREG_REPLAY", "PROCREG_COMMAND",
                    "PROCREG_STATS", "PROCREG_ENDPOINTS", "PROCREG_TIMEOUT_MS"):
            self.assertIn(".B " + var, self.roff)
        version = run(PROCREG, "--version").stdout.split(" (")[0]
        title = re.search(r"^\.TH .*$", self.roff, re.M).group(0)
        self.assertRegex(title, r'^\.TH PROCREG "1" "[^"]*" "%s"' % re.escape(version))

    def test_exit_status_matches_cli_md(self):
        with open(os.path.join(SOURCE_DIR, "docs/CLI.md")) as f:
            documented = re.findall(r"^\| (\d) \| ", f.read(), re.M)
        exit_status = self.roff.split(".SH \"EXIT STATUS\"")[1].split(".SH")[0]
        self.assertEqual(re.findall(r"^\.B (\d)$", exit_status, re.M), documented)

    def test_renders(self):
        if shutil.which("groff"):
            r = run("groff", "-man", "-ww", "-z", self.page)
            self.assertEqual((r.returncode, r.stderr), (0, ""))
        if shutil.which("man"):
            r = run("man", "-l", self.page, env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0",
                                                     MANPAGER="cat", PAGER="cat"))
            self.assertEqual(r.returncode, 0, r.stderr)
            text = re.sub(r".\x08", "", r.stdout)
            for path in subcommand_paths(help_of):
                self.assertIn("procreg " + path, text)


def complete(script, *words):
    """What the completion function offers for `words`, the last one being completed."""
    program = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _procreg; '
               'printf "%s\\n" "${COMPREPLY[@]}"')
    r = run("bash", "--norc", "--noprofile", "-c", program, "bash", script, *words)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


class CompletionTest(unittest.TestCase):
    def setUp(self):
        self.script = os.path.join(Installed.get(), "share/bash-completion/completions/procreg")

    def test_installed_script_is_the_commands(self):
        with open(self.script) as f:
            self.assertEqual(f.read(), run(PROCREG, "completion", "bash").stdout)
        r = run("bash", "--norc", "--noprofile", "-c", 'source "$1" && complete -p procreg', "bash",
                self.script)
        self.assertEqual(r.stdout.strip(), "complete -o default -F _procreg procreg", r.stderr)

    def test_subcommands(self):
        self.assertEqual(complete(self.script, "procreg", "se"), ["serve"])
        self.assertEqual(complete(self.script, "procreg", ""), subcommands_in(help_of()))
        self.assertEqual(complete(self.script, "procreg", "--config", "x.toml", "ser"), ["serve"])
        self.assertEqual(complete(self.script, "procreg", "log", ""), ["dump"])
        self.assertEqual(complete(self.script, "procreg", "completion", ""), ["bash"])

    def test_options(self):
        self.assertEqual(complete(self.script, "procreg", "serve", "--log"), ["--log-dir"])
        self.assertIn("--from", complete(self.script, "procreg", "log", "dump", "--"))
        self.assertNotIn("--log-dir", complete(self.script, "procreg", "tail", "--"))
        options = re.findall(r"^  (?:-\w,)?(--[\w-]+)", help_of("tail"), re.M)
        self.assertEqual(complete(self.script, "procreg", "tail", "--hub", "x", "--c"),
                         [o for o in options if o.startswith("--c")])

    def test_choices(self):
        kinds = re.search(r"--kind TEXT:\{([^}]*)\}", help_of("tail")).group(1).split(",")
        self.assertIn("bulk_insert", kinds)
        self.assertEqual(complete(self.script, "procreg", "tail", "--kind", ""), kinds)
        self.assertEqual(complete(self.script, "procreg", "tail", "--kind", "bulk"),
                         ["bulk_insert", "bulk_delete"])
        self.assertEqual(complete(self.script, "procreg", "serve", "--durability", ""),
                         ["sync", "group", "none"])
        self.assertEqual(complete(self.script, "procreg", "serve", "--durability", "=", "g"),
                         ["group"])

    def test_directories_after_a_dir_option(self):
        d = tempfile.mkdtemp(prefix="procreg-completion-test-")
        try:
            os.mkdir(os.path.join(d, "logs"))
            open(os.path.join(d, "log.txt"), "w").close()
            offered = complete(self.script, "procreg", "serve", "--log-dir", d + "/lo")
            self.assertEqual(offered, [d + "/logs"])
        finally:
            shutil.rmtree(d, ignore_errors=True)


def read_unit(name):
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read(os.path.join(SOURCE_DIR, "examples/systemd", name))
    return unit


class Service:
    """A unit's ExecStart run as systemd would, its specifiers pointing into `root`."""

    def __init__(self, name, instance, root):
        unit = read_unit(name)
        service = unit["Service"]
        fill = {"%i": instance, "%I": instance, "%S": root + "/state", "%t": root + "/run",
                "%H": socket.gethostname(), "%%": "%"}

        def spec(text):
            return re.sub(r"%.", lambda m: fill[m.group(0)], text)

        for key, base in (("StateDirectory", "/state/"), ("RuntimeDirectory", "/run/")):
            for d in spec(service.get(key, "")).split():
                os.makedirs(root + base + d, exist_ok=True)
        argv = shlex.split(spec(service["ExecStart"]))
        assert argv[0] == "procreg", argv
        config = argv.index("--config") + 1
        assert argv[config].startswith("/etc/procreg/"), argv
        argv[config] = root + argv[config]
        self.argv = [PROCREG] + argv[1:]
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buffer = b""

    def wait_for(self, event):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if json.loads(line).get("event") == event:
                    return json.loads(line)
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.buffer += chunk
        raise AssertionError("%s: no %s line; stderr: %s" % (" ".join(self.argv), event,
                                                            self.stop()[1]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err.decode(errors="replace")


def write_config(path, sections):
    with open(path, "w") as f:
        for name, options in sections.items():
            f.write("[%s]\n" % name)
            f.writelines('%s = "%s"\n' % kv for kv in options.items())


class SystemdUnitTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="procreg-systemd-test-")
        self.services = []

    def tearDown(self):
        for s in reversed(self.services):
            s.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def test_hardening(self):
        for name in UNITS:
            service = read_unit(name)["Service"]
            for key, value in (("Restart", "on-failure"), ("NoNewPrivileges", "yes"),
                               ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                               ("DynamicUser", "yes"), ("User", "procreg")):
                self.assertEqual(service.get(key), value, name + " " + key)
        writer = read_unit("procreg-writer@.service")["Service"]
        self.assertEqual(writer["StateDirectory"], "procreg/%i")
        self.assertEqual(writer["RuntimeDirectory"], "procreg/%i")
        self.assertIn("%S/procreg/%i", writer["ReadWritePaths"].split())

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    def test_systemd_analyze_verify(self):
        units = []
        for name in UNITS:
            with open(os.path.join(SOURCE_DIR, "examples/systemd", name)) as f:
                text = f.read()
            # systemd looks `procreg` up in /usr/local/bin and /usr/bin: the one built here.
            text = re.sub(r"^ExecStart=procreg ", "ExecStart=%s " % PROCREG, text, flags=re.M)
            with open(os.path.join(self.root, name), "w") as f:
                f.write(text)
            units.append("./" + name.replace("@.", "@orders."))
        man = os.path.join(Installed.get(), "share/man")
        flags = [] if HELP2MAN else ["--man=no"]  # else Documentation=man:procreg(1) is checked
        r = run("systemd-analyze", "verify", *flags, *units, cwd=self.root,
                env=dict(os.environ, MANPATH=man))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([l for l in (r.stdout + r.stderr).splitlines() if "procreg" in l], [])

    def start(self, name, instance=""):
        service = Service(name, instance, self.root)
        self.services.append(service)
        return service

    def test_exec_start_runs(self):
        etc = os.path.join(self.root, "etc/procreg")
        os.makedirs(etc)
        any_port = "tcp://127.0.0.1:*"
        write_config(os.path.join(etc, "bus.conf"), {"bus": {"frontend": any_port, "backend": any_port}})
        bus = self.start("procreg-bus.service").wait_for("ready")
        with open(os.path.join(self.root, "run/procreg-bus/endpoints.json")) as f:
            self.assertEqual(json.load(f)["frontend"], bus["frontend"])

        writer_endpoints = os.path.join(self.root, "run/procreg/orders/endpoints.json")
        write_config(os.path.join(etc, "orders.conf"), {
            "serve": {"connect": bus["frontend"], "advertise-bus": bus["backend"],
                      "replay": any_port, "command": any_port, "stats": any_port,
                      "durability": "none", "heartbeat-ms": "100"},
            "replica": {"endpoints": writer_endpoints, "serve": any_port}})
        writer = self.start("procreg-writer@.service", "orders").wait_for("ready")
        self.assertEqual((writer["hub"], writer["bus"]), ("orders", bus["backend"]))
        self.assertTrue(os.path.isdir(os.path.join(self.root, "state/procreg/orders")))
        self.assertTrue(os.path.isfile(writer_endpoints))

        replica = self.start("procreg-replica@.service", "orders").wait_for("caught_up")
        self.assertTrue(replica["serve"].startswith("tcp://127.0.0.1:"), replica)
        for s in reversed(self.services):
            code, err = s.stop()
            self.assertEqual(code, 0, " ".join(s.argv) + ": " + err)


def main():
    global PROCREG, BUILD_DIR, SOURCE_DIR, CMAKE, HELP2MAN
    argv = sys.argv[1:]
    rest = []
    while argv:
        a = argv.pop(0)
        if a in ("--procreg", "--build-dir", "--source-dir", "--cmake", "--help2man") and argv:
            value = argv.pop(0)
            if a == "--procreg":
                PROCREG = os.path.abspath(value)
            elif a == "--build-dir":
                BUILD_DIR = os.path.abspath(value)
            elif a == "--source-dir":
                SOURCE_DIR = os.path.abspath(value)
            elif a == "--cmake":
                CMAKE = value
            elif value and not value.endswith("-NOTFOUND"):
                HELP2MAN = value
        else:
            rest.append(a)
    if not (PROCREG and BUILD_DIR and SOURCE_DIR and CMAKE):
        sys.exit("usage: packaging_test.py --procreg PATH --build-dir DIR --source-dir DIR "
                 "--cmake PATH [--help2man PATH]")
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    cases = [InstallTest, CompletionTest, SystemdUnitTest]
    if HELP2MAN:
        cases.append(ManPageTest)
    else:
        print("help2man was not found at configure time: no man page to test", file=sys.stderr)
    for case in cases:
        suite.addTests(loader.loadTestsFromTestCase(case))
    try:
        result = unittest.TextTestRunner(verbosity=2).run(suite)
    finally:
        Installed.remove()
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
