#!/usr/bin/python3
"""A scripted Modbus peer for the gateway's wire tests (pymodbus 3.0, Debian): Modbus TCP,
RTU over TCP (a serial-to-Ethernet converter) or RTU on a serial line (one end of a pty pair).

Run:  /usr/bin/python3 test/sim/modbus_server.py '<json spec>'   (or a path to a JSON file)

Spec (every key optional):
  {
    "host": "127.0.0.1", "port": 0,            # port 0 = pick a free one
    "framer": "socket",                        # TCP framing: "socket" (Modbus TCP, MBAP) or "rtu"
                                               # (RTU frames with CRC over TCP, like a converter)
    "serial": {"port": "/dev/pts/3",           # instead of TCP: serve RTU on this serial device
               "baudrate": 9600, "parity": "N", "bytesize": 8, "stopbits": 1},
    "deadUnits": [9],                          # unit ids answered with exception 0x0B (a TCP gateway
                                               # whose serial device is off); any other unknown unit id
                                               # gets no answer at all (the client times out)
    "units": {                                 # default: {"1": {}}
      "1": {
        "size": 1000,                          # registers/bits per area (addresses 0..size-1)
        "sparse": false,                       # true: ONLY the addresses listed below exist;
                                               #       reading across a hole answers exception 02
        "holding":  {"0": [1, 2, 3]},          # start address -> list of words (0..65535)
        "input":    {"10": [42]},
        "coil":     {"0": [true, false]},
        "discrete": {"0": [1]}
      }
    },
    "evolutions": [                            # scripted counters
      {"unit": 1, "area": "holding", "address": 0, "type": "uint32",
       "wordOrder": "ABCD", "step": 5, "everyMs": 100}
    ]
  }
  Evolution types: uint16 int16 uint32 int32 uint64 int64 (add `step` modulo 2^bits, so a
  uint16 counter wraps) and float32 float64 (add `step`); word orders ABCD CDAB BADC DCBA.

Addresses are the 0-based protocol addresses (pymodbus ModbusSlaveContext zero_mode=True):
`mbpoll -m tcp -p PORT -a 1 -r 1 -c 4 -t 4 127.0.0.1` (1-based) reads holding 0..3.

When listening it prints one line with the port number on stdout. Then it reads commands
from stdin, one per line, and answers each with one line starting "ok" or "err":
  set [uN] <area> <address> <v1> [v2 ...]    write words (or 0/1 for bits) into unit N (default: first unit)
  get [uN] <area> <address> <count>         -> "ok v1 v2 ..."
  pause | resume                             stop/restart the evolutions
  drop                                       close every client connection (a device reboot)
  fault <kind> [n]                           corrupt the next n replies (default 1; RTU framing only):
                                               crc      last CRC byte flipped
                                               truncate only the first half of the frame
                                               noise    3 noise bytes, then the good frame
                                               garbage  7 noise bytes instead of the frame
                                               split    the frame in two writes 5 ms apart
                                               silent   no reply at all
  fault clear                                forget pending faults
  noise <hex>                                write raw bytes onto the line now (serial: the bus;
                                             TCP: every connection)
  count [reset]                              -> "ok <unit>:<requests> ..." request frames seen on the
                                             wire per unit id (CRC-valid, answered or not)
  stop                                       exit
End of stdin (the test runner died) also exits.

The first line printed is the TCP port, or 0 for a serial peer once the device is open.
"""

import asyncio
import json
import logging
import os
import struct
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
    ModbusSparseDataBlock,
)
from pymodbus.exceptions import NoSuchSlaveException
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.framer.socket_framer import ModbusSocketFramer
from pymodbus.server.async_io import (
    ModbusConnectedRequestHandler,
    ModbusSerialServer,
    ModbusSingleRequestHandler,
    ModbusTcpServer,
)
from pymodbus.utilities import computeCRC

AREA_KEYS = {"holding": "hr", "input": "ir", "coil": "co", "discrete": "di"}
# function-code keys pymodbus's context uses for get/setValues
AREA_FC = {"holding": 3, "input": 4, "coil": 1, "discrete": 2}
BITS = {"coil", "discrete"}

TYPE_INFO = {  # words, struct format of the big-endian value
    "uint16": (1, ">H"), "int16": (1, ">h"),
    "uint32": (2, ">I"), "int32": (2, ">i"),
    "uint64": (4, ">Q"), "int64": (4, ">q"),
    "float32": (2, ">f"), "float64": (4, ">d"),
}


def to_device_words(be_words, order):
    """Big-endian words (ABCD) -> words as stored in the given word order."""
    words = list(be_words)
    if order in ("CDAB", "DCBA"):
        words.reverse()
    if order in ("BADC", "DCBA"):
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


def from_device_words(words, order):
    return to_device_words(words, order)  # both steps are involutions


def pack_words(value, type_name):
    n, fmt = TYPE_INFO[type_name]
    data = struct.pack(fmt, value)
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, 2 * n, 2)]


def unpack_words(words, type_name):
    _, fmt = TYPE_INFO[type_name]
    data = b"".join(int(w).to_bytes(2, "big") for w in words)
    return struct.unpack(fmt, data)[0]


def build_block(area, unit_spec):
    size = int(unit_spec.get("size", 1000))
    initial = unit_spec.get(area, {}) or {}
    is_bit = area in BITS

    def norm(v):
        return bool(v) if is_bit else int(v) & 0xFFFF

    if unit_spec.get("sparse"):
        values = {}
        for start, vals in initial.items():
            for i, v in enumerate(vals):
                values[int(start) + i] = norm(v)
        return ModbusSparseDataBlock(values, mutable=False)
    values = [False if is_bit else 0] * size
    for start, vals in initial.items():
        for i, v in enumerate(vals):
            values[int(start) + i] = norm(v)
    return ModbusSequentialDataBlock(0, values)


class PeerContext(ModbusServerContext):
    """Server context that also accepts `dead` unit ids, then fails them.

    pymodbus 3.0 drops frames for unit ids not in slaves() (no answer); a unit
    listed here passes that filter and raises NoSuchSlaveException on access,
    which the server answers with exception 0x0B (gateway target failed)."""

    def __init__(self, slaves, dead):
        super().__init__(slaves=slaves, single=False)
        self.dead = set(dead)

    def slaves(self):
        return list(self._slaves.keys()) + sorted(self.dead)

    def __getitem__(self, slave):
        if slave in self.dead:
            raise NoSuchSlaveException(f"unit {slave} is dead")
        return super().__getitem__(slave)


def rtu_request_length(buf, i):
    """Length of the RTU request frame starting at buf[i], or 0 if unknown, None if more bytes needed."""
    if len(buf) - i < 2:
        return None
    fc = buf[i + 1]
    if 1 <= fc <= 6:
        return 8
    if fc in (15, 16):
        if len(buf) - i < 7:
            return None
        return 9 + buf[i + 6]
    return 0


class RequestCounter:
    """Counts CRC-valid RTU request frames per unit id as they arrive on the wire, before
    pymodbus decides whether to answer (an unknown unit id is counted too)."""

    def __init__(self):
        self.counts = {}

    def feed(self, buf):
        """Consume whole frames from buf (a bytearray); keep an incomplete tail."""
        i = 0
        while True:
            n = rtu_request_length(buf, i)
            if n is None or (n and len(buf) - i < n):
                break
            if n and computeCRC(bytes(buf[i : i + n - 2])) == int.from_bytes(buf[i + n - 2 : i + n], "big"):
                self.counts[buf[i]] = self.counts.get(buf[i], 0) + 1
                i += n
            else:
                i += 1  # not a frame start: resynchronise one byte later
        del buf[:i]


FAULT_KINDS = ("crc", "truncate", "noise", "garbage", "split", "silent")
NOISE = bytes([0x00, 0xFF, 0x5A, 0x13, 0xA5, 0x00, 0xFE])


class FaultMixin:
    """Request handler additions: count requests, corrupt replies on command."""

    def data_received(self, data):
        if getattr(self.server, "rtu", False):
            self._sniffed = getattr(self, "_sniffed", bytearray()) + data
            self.server.peer.counter.feed(self._sniffed)
        super().data_received(data)

    def _send_(self, data):
        transport = self.transport
        if transport is None:
            return
        peer = self.server.peer
        fault = peer.faults.pop(0) if peer.faults and getattr(self.server, "rtu", False) else None
        if fault is None:
            transport.write(data)
        elif fault == "crc":
            transport.write(data[:-1] + bytes([data[-1] ^ 0x5A]))
        elif fault == "truncate":
            transport.write(data[: max(2, len(data) // 2)])
        elif fault == "noise":
            transport.write(NOISE[:3] + data)
        elif fault == "garbage":
            transport.write(NOISE)
        elif fault == "split":
            half = len(data) // 2
            transport.write(data[:half])
            asyncio.get_running_loop().call_later(0.005, transport.write, data[half:])
        # "silent": nothing


class TcpHandler(FaultMixin, ModbusConnectedRequestHandler):
    pass


class SerialHandler(FaultMixin, ModbusSingleRequestHandler):
    pass


class Peer:
    def __init__(self, spec):
        self.spec = spec
        units = spec.get("units") or {"1": {}}
        self.first_unit = int(next(iter(units.keys())))
        slaves = {}
        for unit_id, unit_spec in units.items():
            kwargs = {AREA_KEYS[a]: build_block(a, unit_spec) for a in AREA_KEYS}
            slaves[int(unit_id)] = ModbusSlaveContext(zero_mode=True, **kwargs)
        self.context = PeerContext(slaves, [int(u) for u in spec.get("deadUnits", [])])
        self.paused = False
        self.server = None
        self.faults = []
        self.counter = RequestCounter()

    # -- datastore access (the same path a Modbus request takes) --
    def set_values(self, unit, area, address, values):
        slave = self.context[unit]
        if area in BITS:
            values = [bool(int(v)) for v in values]
        else:
            values = [int(v) & 0xFFFF for v in values]
        if not slave.validate(AREA_FC[area], address, len(values)):
            raise ValueError(f"address {address}+{len(values)} not in {area} of unit {unit}")
        slave.setValues(AREA_FC[area], address, values)

    def get_values(self, unit, area, address, count):
        slave = self.context[unit]
        if not slave.validate(AREA_FC[area], address, count):
            raise ValueError(f"address {address}+{count} not in {area} of unit {unit}")
        return slave.getValues(AREA_FC[area], address, count)

    # -- scripted evolutions --
    async def evolve(self, ev):
        unit = int(ev.get("unit", self.first_unit))
        area = ev.get("area", "holding")
        address = int(ev["address"])
        type_name = ev.get("type", "uint16")
        order = ev.get("wordOrder", "ABCD")
        step = ev.get("step", 1)
        every = float(ev.get("everyMs", 1000)) / 1000.0
        n, _ = TYPE_INFO[type_name]
        while True:
            await asyncio.sleep(every)
            if self.paused:
                continue
            words = from_device_words(self.get_values(unit, area, address, n), order)
            if type_name.startswith("float"):
                value = unpack_words(words, type_name) + float(step)
            else:
                bits = 16 * n
                unsigned = unpack_words(words, "uint" + str(bits))
                raw = (unsigned + int(step)) % (1 << bits)
                value = raw if type_name.startswith("uint") else (raw - (1 << bits) if raw >= 1 << (bits - 1) else raw)
            self.set_values(unit, area, address, to_device_words(pack_words(value, type_name), order))

    # -- control channel --
    def command(self, line):
        parts = line.split()
        if not parts:
            return "err empty command"
        cmd, args = parts[0], parts[1:]
        unit = self.first_unit
        if args and args[0].startswith("u") and args[0][1:].isdigit():
            unit = int(args[0][1:])
            args = args[1:]
        if cmd == "set":
            area, address, values = args[0], int(args[1]), args[2:]
            if area not in AREA_KEYS or not values:
                return "err usage: set [uN] <area> <address> <values...>"
            self.set_values(unit, area, address, values)
            return "ok"
        if cmd == "get":
            area, address, count = args[0], int(args[1]), int(args[2])
            values = self.get_values(unit, area, address, count)
            return "ok " + " ".join(str(int(v)) for v in values)
        if cmd == "pause":
            self.paused = True
            return "ok"
        if cmd == "resume":
            self.paused = False
            return "ok"
        if cmd == "drop":
            if isinstance(self.server, ModbusSerialServer):
                return "ok 0"
            n = 0
            for handler in list(self.server.active_connections.values()):
                transport = getattr(handler, "transport", None)
                if transport is not None:
                    transport.abort()
                    n += 1
            return f"ok {n}"
        if cmd == "fault":
            if args == ["clear"]:
                self.faults = []
                return "ok"
            if not args or args[0] not in FAULT_KINDS:
                return f"err usage: fault <{'|'.join(FAULT_KINDS)}> [n] | fault clear"
            self.faults.extend([args[0]] * (int(args[1]) if len(args) > 1 else 1))
            return "ok"
        if cmd == "noise":
            data = bytes.fromhex("".join(args))
            for transport in self.transports():
                transport.write(data)
            return "ok"
        if cmd == "count":
            if args == ["reset"]:
                self.counter.counts = {}
                return "ok"
            return "ok " + " ".join(f"{u}:{n}" for u, n in sorted(self.counter.counts.items()))
        return f"err unknown command {cmd!r}"

    def transports(self):
        if isinstance(self.server, ModbusSerialServer):
            return [self.server.transport] if self.server.transport is not None else []
        return [h.transport for h in self.server.active_connections.values() if getattr(h, "transport", None)]


async def main():
    raw = sys.argv[1] if len(sys.argv) > 1 else "{}"
    if not raw.lstrip().startswith("{"):
        with open(raw, encoding="utf-8") as f:
            raw = f.read()
    spec = json.loads(raw)
    # pymodbus calls logging.basicConfig at import; replace it (logs go to stderr, never stdout)
    logging.basicConfig(
        level=logging.DEBUG if spec.get("verbose") else logging.CRITICAL, stream=sys.stderr, force=True
    )

    peer = Peer(spec)
    serve_task = None
    if spec.get("serial"):
        ser = spec["serial"]
        server = ModbusSerialServer(
            peer.context,
            framer=ModbusRtuFramer,
            port=ser["port"],
            baudrate=int(ser.get("baudrate", 9600)),
            parity=ser.get("parity", "N"),
            bytesize=int(ser.get("bytesize", 8)),
            stopbits=int(ser.get("stopbits", 1)),
            handler=SerialHandler,
            ignore_missing_slaves=False,
        )
        server.rtu = True
        server.peer = peer
        peer.server = server
        await server.start()
        if server.transport is None:
            raise RuntimeError(f"cannot open serial device {ser['port']}")
        port = 0
    else:
        rtu = spec.get("framer", "socket") == "rtu"
        server = ModbusTcpServer(
            peer.context,
            framer=ModbusRtuFramer if rtu else ModbusSocketFramer,
            address=(spec.get("host", "127.0.0.1"), int(spec.get("port", 0))),
            handler=TcpHandler,
            allow_reuse_address=True,
            ignore_missing_slaves=False,
        )
        server.rtu = rtu
        server.peer = peer
        peer.server = server
        serve_task = asyncio.create_task(server.serve_forever())
        await server.serving
        port = server.server.sockets[0].getsockname()[1]
    tasks = [asyncio.create_task(peer.evolve(ev)) for ev in spec.get("evolutions", [])]
    print(port, flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        text = line.decode("utf-8", "replace").strip()
        if text == "stop":
            print("ok", flush=True)
            break
        try:
            answer = peer.command(text)
        except Exception as exc:  # a bad command must never kill the peer
            answer = f"err {exc}"
        print(answer, flush=True)

    for t in tasks:
        t.cancel()
    # Leave without a graceful pymodbus shutdown: the OS closes every socket at exit,
    # which is what a device that is switched off does.
    if serve_task is not None:
        serve_task.cancel()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
