"""xptools/qmp.py - a QMP client that keeps the MEMORY_FAILURE events QEMU
sends for each machine-check injection, per CPU it reached."""
import json
import socket


class QMP:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.mce_actions = {"inject": 0, "ignore": 0, "reset": 0}
        self.recv()                                   # greeting
        self.command("qmp_capabilities")

    def recv(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        msg = json.loads(line)
        if msg.get("event") == "MEMORY_FAILURE":
            action = msg["data"]["action"]
            self.mce_actions[action] = self.mce_actions.get(action, 0) + 1
        return msg

    def command(self, name, **arguments):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.recv()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {name}: {reply['error']}")
            # asynchronous events: counted by recv()

    def hmp(self, line):
        """A human-monitor command; its output."""
        return self.command("human-monitor-command", **{"command-line": line})

    def mce(self, cpu, bank, status, mcg, addr=0, misc=0, broadcast=False):
        """Inject; return the HMP command and what QEMU did on each CPU it
        reached ({action: n})."""
        before = dict(self.mce_actions)
        cmd = f"mce {'-b ' if broadcast else ''}{cpu} {bank} {status:#x} {mcg:#x} {addr:#x} {misc:#x}"
        out = self.hmp(cmd)
        if out.strip():
            raise RuntimeError(f"'{cmd}' answered: {out.strip()}")
        return cmd, {k: self.mce_actions.get(k, 0) - before.get(k, 0) for k in self.mce_actions}

    def close(self):
        self.sock.close()
