#!/usr/bin/python3
"""A procreg client in Python, written from docs/PROTOCOL.md and docs/EVENT_FORMAT.md alone.

It follows a hub the way a replica does (PROTOCOL.md, "Replicas"): it subscribes to the hub's
events and heartbeats on the bus first, loads a snapshot from the replay service, fetches the
range of events above it, then applies the live events (one per message, or an event batch)
in sequence order, repairing any gap (an event above the next seq, or a heartbeat ahead of it)
and any message it cannot read from the replay service, and starting over when the writer's
head falls below what it applied (a writer back on an older copy of its log). It prints
each event it applies as a JSON line (--events) and, at the end, the whole state as one JSON
object {table: {child_id: entry}}, in the shape `procreg call dump_all_tables` prints.

    procreg_client.py --hub HUB --bus EP --replay EP [--until-seq S] [--seconds T] [--events]
    procreg_client.py --endpoints FILE ...     (the file `procreg serve --endpoints-file` writes)

Needs Debian's python3-zmq and python3-msgpack. Exit status: 0 ok, 1 failure, 3 unreachable.
"""
import argparse
import base64
import json
import sys
import time

import msgpack
import zmq

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoints", help="the endpoints file of procreg serve")
    parser.add_argument("--hub")
    parser.add_argument("--bus")
    parser.add_argument("--replay")
    parser.add_argument("--until-seq", type=int, help="stop once this seq is applied")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long")
    parser.add_argument("--timeout-ms", type=int, default=5000)
    parser.add_argument("--events", action="store_true", help="print each event applied")
    args = parser.parse_args()
    if args.endpoints:
        with open(args.endpoints) as f:
            endpoints = json.load(f)
        for key in ("hub", "bus", "replay"):
            if getattr(args, key) is None:
                setattr(args, key, endpoints.get(key))
    if not (args.hub and args.bus and args.replay):
        parser.error("give --hub, --bus and --replay (or --endpoints)")
    if args.until_seq is None and not args.seconds:
        parser.error("give --until-seq or --seconds")
    try:
        Follower(args).run()
    except Unreachable as e:
        print("procreg_client: %s" % e, file=sys.stderr)
        return 3
    except Exception as e:  # noqa: BLE001 (a clear message, not a traceback)
        print("procreg_client: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
