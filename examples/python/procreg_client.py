#!/usr/bin/python3
"""A procreg client in Python, written from docs/PROTOCOL.md and docs/EVENT_FORMAT.md alone.

Follow mode: it follows a hub the way a replica does (PROTOCOL.md, "Replicas"): it subscribes
to the hub's events and heartbeats on the bus first, loads a snapshot from the replay service,
fetches the range of events above it, then applies the live events (one per message, or an
event batch) in sequence order, repairing any gap (an event above the next seq, or a heartbeat
ahead of it) and any message it cannot read from the replay service, and starting over when the
writer's head falls below what it applied (a writer back on an older copy of its log). It
prints each event it applies as a JSON line (--events) and, at the end, the whole state as one
JSON object {table: {child_id: entry}}, in the shape `procreg call dump_all_tables` prints.

    procreg_client.py --hub HUB --bus EP --replay EP [--until-seq S] [--seconds T] [--events]
    procreg_client.py --endpoints FILE ...     (the file `procreg serve --endpoints-file` writes)

Call mode: it sends commands on the command channel (PROTOCOL.md, "The command channel" and
"Reads") of a writer or of a replica's serve endpoint, on one DEALER, and prints each result as
JSON in the shape `procreg call` prints (a paged read: every page, joined; a write: {"seq"}).
--batch sends one command per JSON line {"method", "args"?, "id"?}, pipelined: consecutive
writes are all in flight at once (up to --max-in-flight), replies matched by id; a read waits
for every line before it. It prints one {"line", "id"?, "result" | "error"} line per line.

    procreg_client.py --endpoint EP --hub HUB call METHOD ['{json args}'] [--at-least-seq S]
                      [--page-rows N] [--timeout-ms MS]
    procreg_client.py --endpoints FILE call --batch FILE|- [--max-in-flight N]

Needs Debian's python3-zmq and python3-msgpack. Exit status: 0 ok, 1 failure (an error
answered, a batch line failed), 2 usage, 3 unreachable (no reply in time, or an answer
`timeout` or `unavailable`).
"""
import argparse
import base64
import json
import os
import sys
import time

import msgpack
import zmq
import zmq.auth

MAX_SEQ = 2**64 - 1
WIRE_VERSION = 1


def netstring(name):
    raw = name.encode()
    return str(len(raw)).encode() + b":" + raw


def topic_prefix(hub):
    return b"prc1/" + netstring(hub) + b"/"


class Unreachable(Exception):
    pass


class ReplayClient:
    """The replay service: a DEALER, one frame per request, replies matched by id."""

    def __init__(self, context, endpoint, hub, timeout_ms):
        self.context, self.endpoint, self.hub, self.timeout_ms = context, endpoint, hub, timeout_ms
        self.next_id = 1
        self.socket = None
        self._connect()

    def _connect(self):
        if self.socket is not None:
            self.socket.close(linger=0)
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        secure(self.socket)
        self.socket.connect(self.endpoint)

    def call(self, op, **fields):
        request_id = self.next_id
        self.next_id += 1
        request = {"v": WIRE_VERSION, "id": request_id, "hub": self.hub, "op": op,
                   "from": fields.get("from_", 1), "to": fields.get("to", 0),
                   "sid": fields.get("sid", 0), "off": fields.get("off", 0),
                   "max_n": 1024, "max_b": 1 << 20}
        self.socket.send(msgpack.packb(request, use_bin_type=True))
        deadline = time.monotonic() + self.timeout_ms / 1000
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.socket.poll(int(left * 1000) + 1):
                self._connect()  # nothing of the abandoned request can arrive later
                raise Unreachable("no reply from the replay service at %s within %d ms"
                                  % (self.endpoint, self.timeout_ms))
            frames = self.socket.recv_multipart()
            header = msgpack.unpackb(frames[0], raw=False)
            if header.get("id") != request_id:
                continue  # a reply to an earlier, abandoned request
            status = header["status"]
            if status["code"] != "ok":
                raise RuntimeError("replay %s: %s: %s" % (op, status["code"], status["message"]))
            return header, frames[1:]

    def head(self):
        header, _ = self.call("range", from_=MAX_SEQ)
        return header["ep"], header["head"]

    def range(self, first, to=0):
        """Yields (epoch, event) for first..to (0: the head), page by page."""
        while True:
            header, frames = self.call("range", from_=first, to=to)
            for frame in frames:
                yield header["ep"], msgpack.unpackb(frame, raw=False)
            if header["n"] > 0:
                first = header["last"] + 1
            if header["end"] or header["n"] == 0:
                return

    def snapshot(self):
        """Returns (epoch, seq, rows) of a new snapshot."""
        header, frames = self.call("snapshot")
        rows = [msgpack.unpackb(f, raw=False) for f in frames]
        epoch, seq, sid = header["ep"], header["last"], header["sid"]
        while not header["end"]:
            header, frames = self.call("snapshot", sid=sid, off=header["next"])
            rows.extend(msgpack.unpackb(f, raw=False) for f in frames)
        return epoch, seq, rows


class Registry:
    """The projection: table -> child_id -> (row, revision). EVENT_FORMAT.md's events applied."""

    def __init__(self):
        self.tables = {}
        self.epoch = 0
        self.seq = 0

    def load(self, epoch, seq, rows):
        self.tables, self.epoch, self.seq = {}, epoch, seq
        for r in rows:
            self.tables.setdefault(r["tbl"], {})[r["row"]["spec"]["id"]] = (r["row"], r["rev"])

    def apply(self, event):
        table = self.tables.setdefault(event["tbl"], {})
        kind, body, seq = event["k"], event["b"], event["seq"]
        if kind == "insert":
            table[body["row"]["spec"]["id"]] = (body["row"], seq)
        elif kind == "bulk_insert":
            for item in body["items"]:
                table[item["row"]["spec"]["id"]] = (item["row"], seq)
        elif kind == "delete":
            table.pop(body["id"], None)
        elif kind == "bulk_delete":
            for item in body["items"]:
                if item["chg"] and item["id"] in table:
                    row = dict(table[item["id"]][0])
                    row["np"] = item["np"]
                    row.pop("exp", None)
                    if "exp" in item:
                        row["exp"] = item["exp"]
                    table[item["id"]] = (row, seq)
        elif kind == "update":
            table[body["row"]["spec"]["id"]] = (body["row"], seq)
        elif kind == "clear":
            table.clear()
        elif kind == "expire":
            for item in body["items"]:
                if item["id"] in table and table[item["id"]][1] == item["rs"]:
                    del table[item["id"]]
        else:
            raise RuntimeError("unknown event kind %r" % kind)
        self.seq = seq

    def dump_all_tables(self):
        return {name: {cid: entry_json(row) for cid, (row, _) in sorted(rows.items())}
                for name, rows in sorted(self.tables.items())}


def value_json(v):
    if isinstance(v, bytes):
        return {"$bin": base64.b64encode(v).decode()}
    if isinstance(v, list):
        return [value_json(e) for e in v]
    if isinstance(v, dict):
        return {k: value_json(e) for k, e in v.items()}
    return v


def entry_json(row):
    spec = row["spec"]
    out = {k: value_json(v) for k, v in spec.items() if k not in ("id", "start")}
    out["id"] = spec["id"]
    module, function, args = spec["start"]
    out["start"] = [module, function, value_json(args)]
    return {"spec": out, "node_pids": [[n, p] for n, p in row["np"]], "metadata": value_json(row["md"])}


class Follower:
    def __init__(self, args):
        self.args = args
        self.context = zmq.Context()
        self.sub = self.context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        prefix = topic_prefix(args.hub)
        self.sub.setsockopt(zmq.SUBSCRIBE, prefix + b"e/")   # every table's events
        self.sub.setsockopt(zmq.SUBSCRIBE, prefix + b"hb")   # heartbeats
        secure(self.sub, bus=True)
        self.sub.connect(args.bus)                          # 1. subscribe first
        self.replay = ReplayClient(self.context, args.replay, args.hub, args.timeout_ms)
        self.registry = Registry()
        self.bad_frames = 0  # bus messages this client could not read (repaired instead)

    def sync(self):
        """3. a snapshot, then the range above it."""
        self.registry.load(*self.replay.snapshot())
        self.repair(0)

    def repair(self, to):
        for epoch, event in self.replay.range(self.registry.seq + 1, to):
            if epoch != self.registry.epoch:
                return self.sync()  # 6. a new log: start over
            self.applied(event)

    def check_head(self):
        """6. a writer whose head is below the applied seq in the same log lost events it had
        published (it came back on an older copy of its log): start over."""
        epoch, head = self.replay.head()
        if epoch != self.registry.epoch or head < self.registry.seq:
            self.sync()

    def applied(self, event):
        if event["seq"] != self.registry.seq + 1:
            raise RuntimeError("expected seq %d, got %d" % (self.registry.seq + 1, event["seq"]))
        self.registry.apply(event)
        if self.args.events:
            print(json.dumps({"seq": event["seq"], "kind": event["k"], "table": event["tbl"]}),
                  flush=True)

    def on_message(self, frames):
        topic = frames[0]
        if topic.endswith(b"/hb") and len(frames) == 2:
            beat = msgpack.unpackb(frames[1], raw=False)
            if beat["ep"] != self.registry.epoch or beat["seq"] > self.registry.seq:
                self.repair(0)  # a loss (or another log): ask the replay service
            elif beat["seq"] < self.registry.seq:
                self.check_head()  # an old heartbeat, or a writer back on a shorter log
        elif len(frames) == 3:
            header = msgpack.unpackb(frames[1], raw=False)
            if header["v"] == 1:     # one event: frame 2 is its bytes
                events = [frames[2]]
            elif header["v"] == 2:   # an event batch: an array of n bins, seq .. seq + n - 1
                events = msgpack.unpackb(frames[2], raw=False)
            if (header["v"] not in (1, 2) or not isinstance(events, list)
                    or len(events) != header.get("n", 1)
                    or not all(isinstance(e, bytes) for e in events)):
                self.bad_frames += 1  # a newer or malformed message: the replay service has it
                return self.repair(0)
            first, last = header["seq"], header["seq"] + len(events) - 1
            if header["ep"] != self.registry.epoch:
                self.repair(0)
            elif first > self.registry.seq + 1:   # a gap: fetch it (this message included)
                self.repair(last)
            else:
                for i, raw in enumerate(events):  # 5. the next events; those at or below the
                    if first + i == self.registry.seq + 1:  # applied seq are duplicates
                        self.applied(msgpack.unpackb(raw, raw=False))

    def run(self):
        self.sync()
        deadline = time.monotonic() + self.args.seconds if self.args.seconds else None
        last_heard = time.monotonic()
        while True:
            if self.args.until_seq is not None and self.registry.seq >= self.args.until_seq:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            if self.sub.poll(100):
                last_heard = time.monotonic()
                self.on_message(self.sub.recv_multipart())
            elif time.monotonic() - last_heard > 3:
                last_heard = time.monotonic()
                self.repair(0)  # heard nothing: ask for the head ourselves
                self.check_head()
        print(json.dumps(self.registry.dump_all_tables(), sort_keys=True), flush=True)


# ---- call mode: the command channel (PROTOCOL.md, "The command channel", "Reads") ----------

READ_TIMEOUT_MS = 10000


class UsageError(Exception):
    pass


# CURVE (docs/SECURITY.md): this client's key pair and the servers' public keys, or None.
CURVE = None


def public_key_of(arg):
    """A public key given as its 40 Z85 characters or as a certificate file."""
    if len(arg) == 40 and not os.path.isfile(arg):
        return arg.encode()
    public, _ = zmq.auth.load_certificate(arg)
    return public


def load_curve(key_file, server, bus):
    """Reads --curve-key (refused if its group or others can read it) and the server keys."""
    path = key_file if os.path.isfile(key_file) else key_file + ".key_secret"
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o077:
        raise UsageError("secret key file %s is readable by others (mode %04o); run chmod 600 %s"
                         % (path, mode, path))
    public, secret = zmq.auth.load_certificate(path)
    if not secret:
        raise UsageError("%s holds no secret-key (a public certificate)" % path)
    if not server:
        raise UsageError("--curve-key needs --curve-server (the server's public key)")
    server_key = public_key_of(server)
    return {"public": public, "secret": secret, "server": server_key,
            "bus": public_key_of(bus) if bus else server_key}


def secure(socket, bus=False):
    """Makes `socket` a CURVE client of the server (or the bus) when --curve-key was given."""
    if CURVE is None:
        return
    socket.curve_secretkey = CURVE["secret"]
    socket.curve_publickey = CURVE["public"]
    socket.curve_serverkey = CURVE["bus" if bus else "server"]


class CommandChannel:
    """One DEALER, many commands in flight, each reply matched to its command by id. Ids are
    never reused, so a late reply to a command given up on is recognised and dropped."""

    def __init__(self, context, endpoint, hub):
        self.endpoint, self.hub = endpoint, hub
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        secure(self.socket)
        self.socket.connect(endpoint)
        self.next_id = 1
        self.pending = {}  # id -> (deadline, done(reply or None))

    def send(self, op, keys, wait_s, done):
        request_id = self.next_id
        self.next_id += 1
        body = {"v": WIRE_VERSION, "id": request_id, "hub": self.hub, "op": op}
        body.update(keys)
        self.socket.send(msgpack.packb(body, use_bin_type=True))
        self.pending[request_id] = (time.monotonic() + wait_s, done)

    def turn(self):
        """Waits for a reply or the nearest deadline; completes what it can."""
        now = time.monotonic()
        nearest = min(deadline for deadline, _ in self.pending.values())
        if self.socket.poll(max(0, int((nearest - now) * 1000)) + 1):
            while self.socket.poll(0):
                reply = msgpack.unpackb(self.socket.recv(), raw=False)
                entry = self.pending.pop(reply.get("id"), None)
                if entry is not None:  # else the reply to a command given up on
                    entry[1](reply)
        now = time.monotonic()
        for request_id in [i for i, (deadline, _) in self.pending.items() if deadline <= now]:
            self.pending.pop(request_id)[1](None)


def value_in(j, what):
    """A JSON value as a Value (EVENT_FORMAT.md, "Values"): {"$bin": base64} is a binary."""
    if isinstance(j, dict):
        if len(j) == 1 and "$bin" in j:
            return base64.b64decode(j["$bin"])
        return {k: value_in(e, what + "." + k) for k, e in j.items()}
    if isinstance(j, list):
        return [value_in(e, what) for e in j]
    return j


def spec_in(j, what):
    if not isinstance(j, dict) or not isinstance(j.get("id"), str):
        raise UsageError(what + ': expected an object {"id": str, "start": ...}')
    start = j.get("start", ["", "", []])
    if isinstance(start, dict):
        start = [start.get("module"), start.get("function"), start.get("args", [])]
    if (not isinstance(start, list) or len(start) != 3 or not isinstance(start[0], str)
            or not isinstance(start[1], str) or not isinstance(start[2], list)):
        raise UsageError(what + ".start: expected [module, function, [args]]")
    spec = {"id": j["id"], "start": [start[0], start[1], value_in(start[2], what + ".start")]}
    for key in sorted(k for k in j if k not in ("id", "start")):
        spec[key] = value_in(j[key], what + "." + key)
    return spec


def node_pids_in(j, what):
    out = []
    for pair in j if isinstance(j, list) else [None]:
        if isinstance(pair, dict):
            pair = [pair.get("node"), pair.get("pid")]
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(x, str) for x in pair)):
            raise UsageError(what + ": expected [[node, pid], ...]")
        out.append(pair)
    return out


def metadata_in(j, what):
    if j is None:
        return {}
    if not isinstance(j, dict):
        raise UsageError(what + ": expected an object")
    return value_in(j, what)


def entry_in(j, what):
    if not isinstance(j, dict):
        raise UsageError(what + ': expected {"spec", "node_pids", "metadata"}')
    return {"spec": spec_in(j.get("spec"), what + ".spec"),
            "np": node_pids_in(j.get("node_pids", []), what + ".node_pids"),
            "md": metadata_in(j.get("metadata"), what + ".metadata")}


def entries_in(j):
    if isinstance(j, list):
        return [entry_in(e, "entries[%d]" % i) for i, e in enumerate(j)]
    if isinstance(j, dict):  # ProcessHub's map child_id -> entry
        out = []
        for cid, e in j.items():
            if isinstance(e, dict) and isinstance(e.get("spec"), dict) and "id" not in e["spec"]:
                e = dict(e, spec=dict(e["spec"], id=cid))
            out.append(entry_in(e, "entries." + cid))
        return out
    raise UsageError("entries: expected an array of entries or an object by child id")


def deletes_in(j):
    pairs = j.items() if isinstance(j, dict) else j if isinstance(j, list) else None
    if pairs is None:
        raise UsageError("deletes: expected [[child_id, [node, ...]], ...]")
    out = []
    for pair in pairs:
        pair = list(pair) if isinstance(pair, (list, tuple)) else None
        if (pair is None or len(pair) != 2 or not isinstance(pair[0], str)
                or not isinstance(pair[1], list) or not all(isinstance(n, str) for n in pair[1])):
            raise UsageError("deletes: expected [[child_id, [node, ...]], ...]")
        out.append(pair)
    return out


def spec_json(spec):
    out = {k: value_json(v) for k, v in spec.items() if k not in ("id", "start")}
    out["id"] = spec["id"]
    module, function, args = spec["start"]
    out["start"] = [module, function, value_json(args)]
    return out


def pairs_json(rows):
    return [[cid, [[n, p] for n, p in np]] for cid, np in rows]


def lookup_json(found):
    if found is None:
        return None
    out = {"spec": spec_json(found["spec"]), "node_pids": [[n, p] for n, p in found["np"]]}
    if "md" in found:
        out["metadata"] = value_json(found["md"])
    return out


def dump_json(rows):
    return {cid: entry_json(entry) for cid, entry in rows}


def tables_json(rows):
    out = {}
    for table, cid, entry in rows:
        out.setdefault(table, {})[cid] = entry_json(entry)
    return out


def arg(args, key, kind, default=None, required=False):
    if key not in args:
        if required:
            raise UsageError("missing argument %r" % key)
        return default
    value = args[key]
    if (kind is not None and not isinstance(value, kind)) or (kind is int and isinstance(value, bool)):
        raise UsageError("argument %r: expected %s" % (key, kind.__name__))
    return value


# The reads: method -> (op, paged, the op's keys from the arguments, the answer as JSON).
def child(a):
    return {"cid": arg(a, "child_id", str, required=True)}


READS = {
    "lookup": ("lookup", False,
               lambda a: dict(child(a), wmd=arg(a, "with_metadata", bool, False)), lookup_json),
    "get_pid": ("get_pid", False, child, lambda r: r),
    "get_pids": ("get_pids", False, child, lambda r: r),
    "local_pid": ("local_pid", False, child, lambda r: r),
    "entry_exists": ("entry_exists", False, child, lambda r: r),
    "contains_children": ("contains_children", False,
                          lambda a: {"cids": arg(a, "child_ids", list, required=True)},
                          lambda r: r),
    "stats": ("stats", False, lambda a: {}, value_json),
    "last_sequence": ("stats", False, lambda a: {}, lambda r: r["last_sequence"]),
    "epoch": ("stats", False, lambda a: {}, lambda r: str(r["epoch"])),  # a string, as procreg prints it
    "hub": ("stats", False, lambda a: {}, lambda r: r["hub"]),
    "local_node": ("stats", False, lambda a: {}, lambda r: r["local_node"]),
    "match_tag": ("match_tag", True, lambda a: {"tag": arg(a, "tag", str, required=True)},
                  pairs_json),
    "dump": ("dump", True, lambda a: {}, dump_json),
    "dump_all": ("dump_all", True, lambda a: {}, dump_json),
    "local_children": ("local_children", True, lambda a: {}, dump_json),
    "registry": ("registry", True, lambda a: {},
                 lambda rows: {cid: {"spec": spec_json(s), "node_pids": [[n, p] for n, p in np]}
                               for cid, s, np in rows}),
    "process_list": ("process_list", True,
                     lambda a: {"scope": arg(a, "scope", str, "global")}, pairs_json),
    "local_data": ("local_data", True, lambda a: {},
                   lambda rows: [[cid, entry_json(e)] for cid, e in rows]),
    "local_child_specs": ("local_child_specs", True, lambda a: {},
                          lambda rows: [spec_json(s) for s in rows]),
    "dump_all_tables": ("dump_all_tables", True, lambda a: {}, tables_json),
}


def insert_keys(a):
    keys = {"spec": spec_in(arg(a, "spec", None, required=True), "spec"),
            "np": node_pids_in(a.get("node_pids", []), "node_pids"),
            "md": metadata_in(a.get("metadata"), "metadata")}
    if "ttl_ms" in a:
        keys["ttl"] = arg(a, "ttl_ms", int)
    return keys


# The writes: method -> (op, the op's keys from the arguments).
WRITES = {
    "insert": ("insert", insert_keys),
    "bulk_insert": ("bulk_insert",
                    lambda a: {"entries": entries_in(arg(a, "entries", None, required=True))}),
    "erase": ("erase", child),
    "delete": ("erase", child),
    "bulk_delete": ("bulk_delete",
                    lambda a: {"dels": deletes_in(arg(a, "deletes", None, required=True))}),
    "clear_all": ("clear_all", lambda a: {}),
    "node_down": ("node_down", lambda a: {"node": arg(a, "node", str, required=True)}),
}

UNREACHABLE_CODES = ("timeout", "unavailable")
GRACE_S = 1.0  # how much longer than its timeout a command's reply is waited for


class Call:
    """One method call: a write (one command) or a read (one command per page, joined)."""

    def __init__(self, method, args, options):
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise UsageError(method + ": the arguments must be a JSON object")
        self.method = method
        self.timeout_ms = arg(args, "timeout_ms", int, options.timeout_ms)
        common = {"tbl": arg(args, "table", str, "")}
        if method in WRITES:
            self.op, build = WRITES[method]
            self.is_read, self.paged = False, False
            common["hk"] = arg(args, "hooks", bool, False)
            common["tmo"] = self.timeout_ms
            self.keys = dict(common, **build(args))
        elif method in READS:
            self.op, self.paged, build, self.convert = READS[method]
            self.is_read = True
            common["tmo"] = self.timeout_ms
            self.keys = dict(common, **build(args))
            at_least = arg(args, "at_least_seq", int, options.at_least_seq or 0)
            rows = arg(args, "page_rows", int, options.page_rows or 0)
            if at_least:
                self.keys["min"] = at_least
            if rows and self.paged:
                self.keys["lim"] = rows
            # PROTOCOL.md writes the op-specific read keys after min, cur and lim.
            for key in ("tag", "cids", "wmd", "scope"):
                if key in self.keys:
                    self.keys[key] = self.keys.pop(key)
        elif method == "update":
            raise UsageError("update runs a function of the row: use a replica (procreg call)")
        else:
            raise UsageError("unknown method %r" % method)
        self.rows, self.result, self.error, self.done = [], None, None, False
        self.deadline = None
        self.unreachable = False

    def start(self, channel):
        self.deadline = time.monotonic() + self.timeout_ms / 1000
        self._send(channel, self.keys)

    def _send(self, channel, keys):
        left = max(0.0, self.deadline - time.monotonic())
        if self.is_read:
            keys = dict(keys, tmo=int(left * 1000))
        channel.send(self.op, keys, left + GRACE_S, lambda reply: self._on_reply(channel, reply))

    def _on_reply(self, channel, reply):
        if reply is None:
            self.unreachable = True
            return self._finish(error={"code": "timeout", "message": "no reply from %s within %d ms"
                                       % (channel.endpoint, self.timeout_ms)})
        status = reply["status"]
        if status["code"] != "ok":
            return self._finish(error={"code": status["code"], "message": status["message"]})
        if not self.is_read:
            return self._finish(result={"seq": reply["seq"]})
        if not self.paged:
            return self._finish(result=self.convert(reply["res"]))
        self.rows.extend(reply["res"])
        if "next" not in reply:
            return self._finish(result=self.convert(self.rows))
        if time.monotonic() >= self.deadline:
            return self._finish(error={"code": "timeout", "message": "the read's pages took longer "
                                       "than %d ms" % self.timeout_ms})
        keys = dict(self.keys, cur=reply["next"])
        keys.pop("min", None)  # the first page waited for it
        for key in ("lim", "tag", "cids", "wmd", "scope"):  # "cur" before them
            if key in keys:
                keys[key] = keys.pop(key)
        self._send(channel, keys)

    def _finish(self, result=None, error=None):
        self.result, self.error, self.done = result, error, True


def run_calls(channel, calls, max_in_flight, on_done):
    """Runs the calls: consecutive writes together (at most max_in_flight at once), a read once
    every call before it is done; on_done(index) in order as each completes."""
    started, reported = 0, 0
    while reported < len(calls):
        while started < len(calls) and len(channel.pending) < max_in_flight:
            unfinished = [c for c in calls[reported:started] if not c.done]
            if unfinished and (calls[started].is_read or any(c.is_read for c in unfinished)):
                break
            calls[started].start(channel)
            started += 1
        while reported < started and calls[reported].done:
            on_done(reported)
            reported += 1
        if reported < len(calls) and channel.pending:
            channel.turn()


def call_line(call, number, request_id, has_id):
    out = {"line": number}
    if has_id:
        out["id"] = request_id
    if call.error is not None:
        out["error"] = call.error
    else:
        out["result"] = call.result
    return out


def run_batch(channel, args):
    """--batch: one {"method", "args"?, "id"?} per line; one result line per line, in order."""
    source = sys.stdin if args.batch == "-" else open(args.batch)
    calls, lines = [], []  # lines: (number, id, has_id, call or an error)
    with source:
        for number, text in enumerate(source, 1):
            if not text.strip():
                continue
            try:
                request = json.loads(text)
            except ValueError as e:
                lines.append((number, None, False, {"code": "invalid_argument",
                                                    "message": "malformed JSON: %s" % e}))
                continue
            has_id = isinstance(request, dict) and "id" in request
            request_id = request.get("id") if has_id else None
            if not isinstance(request, dict) or not isinstance(request.get("method"), str):
                lines.append((number, request_id, has_id, {"code": "invalid_argument", "message":
                              'expected {"method": "...", "args": {...}} on each line'}))
                continue
            try:
                call = Call(request["method"], request.get("args"), args)
            except UsageError as e:
                lines.append((number, request_id, has_id, {"code": "invalid_argument",
                                                           "message": str(e)}))
                continue
            calls.append(call)
            lines.append((number, request_id, has_id, call))
    outcome = {"failed": False, "unreachable": False}
    printed = [0]

    def print_ready(_=None):
        while printed[0] < len(lines):
            number, request_id, has_id, item = lines[printed[0]]
            if isinstance(item, Call):
                if not item.done:
                    return
                out = call_line(item, number, request_id, has_id)
                outcome["unreachable"] |= item.unreachable
            else:
                out = {"line": number, **({"id": request_id} if has_id else {}), "error": item}
            outcome["failed"] |= "error" in out
            print(json.dumps(out, sort_keys=True), flush=True)
            printed[0] += 1

    run_calls(channel, calls, args.max_in_flight, print_ready)
    print_ready()
    return 3 if outcome["unreachable"] else 1 if outcome["failed"] else 0


def run_call_mode(args, words):
    if not (args.endpoint and args.hub):
        raise UsageError("give --endpoint and --hub (or --endpoints)")
    context = zmq.Context()
    try:
        channel = CommandChannel(context, args.endpoint, args.hub)
        if args.batch:
            if len(words) > 1:
                raise UsageError("give a METHOD or --batch, not both")
            return run_batch(channel, args)
        if len(words) < 2 or len(words) > 3:
            raise UsageError("call METHOD ['{json args}'], or call --batch FILE")
        try:
            call_args = json.loads(words[2]) if len(words) == 3 else {}
        except ValueError as e:
            raise UsageError("malformed JSON: %s" % e)
        call = Call(words[1], call_args, args)
        run_calls(channel, [call], 1, lambda i: None)
        if call.unreachable:
            raise Unreachable(call.error["message"])
        if call.error is not None:
            print(json.dumps({"error": call.error}, sort_keys=True), flush=True)
            return 3 if call.error["code"] in UNREACHABLE_CODES else 1
        print(json.dumps(call.result, sort_keys=True), flush=True)
        return 0
    finally:
        context.destroy(linger=0)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        usage="%(prog)s [options]  (follow mode)\n"
              "       %(prog)s [options] call METHOD ['{json args}'] | call --batch FILE")
    parser.add_argument("words", nargs="*", help="call METHOD ['{json args}']: call mode")
    parser.add_argument("--endpoints", help="the endpoints file of procreg serve")
    parser.add_argument("--hub")
    parser.add_argument("--bus")
    parser.add_argument("--replay")
    parser.add_argument("--until-seq", type=int, help="stop once this seq is applied")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long")
    parser.add_argument("--timeout-ms", type=int, default=5000)
    parser.add_argument("--events", action="store_true", help="print each event applied")
    parser.add_argument("--endpoint", help="call mode: a command channel or serve endpoint")
    parser.add_argument("--at-least-seq", type=int, help="call mode: a read waits for this seq")
    parser.add_argument("--page-rows", type=int, help="call mode: rows per page of a paged read")
    parser.add_argument("--batch", help="call mode: JSON lines of calls, from FILE or - (stdin)")
    parser.add_argument("--max-in-flight", type=int, default=1024,
                        help="call mode: commands in flight at most (--batch)")
    parser.add_argument("--curve-key", default=os.environ.get("PROCREG_CURVE_KEY"),
                        help="CURVE: this client's secret certificate (procreg keygen)")
    parser.add_argument("--curve-server", default=os.environ.get("PROCREG_CURVE_SERVER"),
                        help="CURVE: the server's public key (a .key file or 40 characters)")
    parser.add_argument("--curve-bus", default=os.environ.get("PROCREG_CURVE_BUS"),
                        help="CURVE: the bus proxy's public key, if not the server's")
    args = parser.parse_intermixed_args()
    global CURVE
    if args.curve_key:
        try:
            CURVE = load_curve(args.curve_key, args.curve_server, args.curve_bus)
        except (UsageError, OSError, ValueError) as e:
            print("procreg_client: %s" % e, file=sys.stderr)
            return 2
    if args.endpoints:
        with open(args.endpoints) as f:
            endpoints = json.load(f)
        for key, name in (("hub", "hub"), ("bus", "bus"), ("replay", "replay"),
                          ("endpoint", "command")):
            if getattr(args, key) is None:
                setattr(args, key, endpoints.get(name))
    if args.words:
        if args.words[0] != "call":
            parser.error("unknown mode %r (call METHOD, or no words to follow the hub)"
                         % args.words[0])
        return exit_status(lambda: run_call_mode(args, args.words))
    if not (args.hub and args.bus and args.replay):
        parser.error("give --hub, --bus and --replay (or --endpoints)")
    if args.until_seq is None and not args.seconds:
        parser.error("give --until-seq or --seconds")
    return exit_status(lambda: Follower(args).run() or 0)


def exit_status(run):
    """run()'s exit status, or that of what it raised, said on stdout (usage) or stderr."""
    try:
        return run()
    except UsageError as e:
        print(json.dumps({"error": {"code": "invalid_argument", "message": str(e)}}), flush=True)
        return 2
    except Unreachable as e:
        print("procreg_client: %s" % e, file=sys.stderr)
        return 3
    except Exception as e:  # noqa: BLE001 (a clear message, not a traceback)
        print("procreg_client: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
