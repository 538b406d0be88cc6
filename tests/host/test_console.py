"""tests/host/test_console.py - peek, poke, poke-batch, text-crc, calls and call-set, imv
and imv-set, alts and alt, driven over the serial line as a user or a script would.

One boot (the [console] stanza of tests/boots.cfg gives it as BOOT; by
default build/xpoke.iso at -smp 2) with COM1 on a unix socket
(xptools.console); each command is typed at the `xpoke> ` prompt and its
reply read up to the next prompt. The requests work on the fixture
functions of lab/fixture_sites_code.asm, with branch displacements
computed from build/xpoke.sym. Every test leaves .text as it found it.
Run by scripts/boots.py (make test ONLY=console).
"""
import bisect
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

from xptools import paths
from xptools.console import Console, ConsoleChecks

BUILD = paths.BUILD
BOOT = dict(iso=paths.ISO, smp=2, timeout=120, log=os.path.join(BUILD, "boots", "console.log"))


def symbols():
    """name -> address, from build/xpoke.sym (nm -n)."""
    syms = {}
    with open(os.path.join(BUILD, "xpoke.sym")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                syms[parts[2]] = int(parts[0], 16)
    return syms


def ksyms():
    """The kernel's own symbol table, [address, size, name, fn_size] sorted,
    as scripts/gen-ksyms.py builds it from build/xpoke.elf."""
    return paths.load_file("scripts/gen-ksyms.py").text_symbols(os.path.join(BUILD, "xpoke.elf"))


def text_image():
    """The bytes of .text in build/xpoke.elf (from __text_start)."""
    out = os.path.join(tempfile.mkdtemp(prefix="xpoke-text-"), "text.bin")
    try:
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.text", os.path.join(BUILD, "xpoke.elf"), out],
                       check=True)
        with open(out, "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(os.path.dirname(out))


def section_image(name):
    """The bytes of one section of build/xpoke.elf."""
    out = os.path.join(tempfile.mkdtemp(prefix="xpoke-sec-"), "sec.bin")
    try:
        subprocess.run(["objcopy", "-O", "binary", f"--only-section={name}", os.path.join(BUILD, "xpoke.elf"), out],
                       check=True)
        with open(out, "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(os.path.dirname(out))


# clients/alternative/site_bytes.c's NOPs, 1 to 8 bytes
ALT_NOPS = ["", "90", "6690", "0f1f00", "0f1f4000", "0f1f440000", "660f1f440000", "0f1f8000000000",
            "0f1f840000000000"]


def text_after_alternatives(text, sym, has_feature):
    """.text as the boot application leaves it (clients/alternative/): every
    site of .altinstructions whose feature the CPU has (has_feature[f])
    holds its replacement, then NOPs to its length."""
    rodata, r0 = section_image(".rodata"), sym["__rodata_start"]
    out = bytearray(text)
    for at in range(sym["__alt_instructions_start"], sym["__alt_instructions_end"], 16):
        orig, repl, feature, orig_len, repl_len, pad_len = struct.unpack_from("<iiHBBB", rodata, at - r0)
        if not has_feature[feature]:
            continue
        site, new = at + orig, at + 4 + repl
        pad, length = bytearray(), orig_len + pad_len - repl_len
        while len(pad) < length:
            pad += bytes.fromhex(ALT_NOPS[min(8, length - len(pad))])
        a = site - sym["__text_start"]
        out[a:a + orig_len + pad_len] = rodata[new - r0:new - r0 + repl_len] + pad
    return bytes(out)


def text_after_static_keys(text, sym):
    """.text as static_key_init() leaves it (clients/static_key/): every
    site of a key that starts off (its `enabled` word in .static_keys is 0)
    holds a NOP of its jmp's length, 2 or 5 bytes, instead of the jmp."""
    data, d0 = section_image(".data"), sym["__data_start"]
    nops = {0xeb: bytes.fromhex("6690"), 0xe9: bytes.fromhex("0f1f440000")}
    out = bytearray(text)
    for at in range(sym["__jump_table_start"], sym["__jump_table_end"], 16):
        code, _target, key = struct.unpack_from("<iiq", data, at - d0)
        _name, enabled = struct.unpack_from("<QI", data, at + 8 + key - d0)
        if enabled:
            continue
        a = at + code - sym["__text_start"]
        nop = nops[out[a]]
        out[a:a + len(nop)] = nop
    return bytes(out)


def rel(op, at, to, size):
    """op bytes + rel32 from a size-byte instruction at `at` to `to`, as hex."""
    return op + struct.pack("<i", to - (at + size)).hex()


class ConsolePoke(ConsoleChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sym = symbols()
        cls.text = text_image()
        cls.text_start = cls.sym["__text_start"]
        cls.con = Console(**BOOT)
        try:
            cls.crc_at_boot = cls.con.send("text-crc")     # before any test pokes
            cls.alts_at_boot = cls.con.send("alts")
        except Exception:
            cls.con.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.con.close()

    # --- helpers -------------------------------------------------------------

    def peek(self, where, n):
        """The instruction lines of peek: (address, <sym+off>, hex bytes, text)."""
        rows = []
        for line in self.con.send(f"peek {where} {n}"):
            m = re.fullmatch(r"([0-9a-f]{16}) (<\S+>) +((?:[0-9a-f]{2} )*[0-9a-f]{2}) +(.*)", line)
            self.assertIsNotNone(m, f"peek line {line!r}")
            rows.append((int(m.group(1), 16), m.group(2), m.group(3), m.group(4)))
        return rows

    def old_bytes(self, name, n):
        a = self.sym[name] - self.text_start
        return self.text[a:a + n].hex()

    def call(self, at, to):
        return rel("e8", self.sym[at], self.sym[to] if isinstance(to, str) else to, 5)

    # --- the tests -----------------------------------------------------------

    def test_text_crc_is_the_crc32_of_the_image_text(self):
        """At boot only the alternatives and the static keys that start off
        have been applied: the kernel's CRC is zlib's of the ELF's .text with
        every site of a feature the CPU has (as `alts` says) holding its
        replacement, and every site of a key that starts off a NOP."""
        start, end = self.sym["__text_start"], self.sym["__text_end"]
        self.assertEqual(len(self.text), end - start)
        has = [re.match(r"\S+ +cpuid (yes|no) ", line).group(1) == "yes" for line in self.alts_at_boot]
        text = text_after_static_keys(text_after_alternatives(self.text, self.sym, has), self.sym)
        self.assertEqual(self.crc_at_boot, [f"text-crc: {zlib.crc32(text):#010x} "
                                            f"(.text {start:016x}..{end:016x}, {end - start} bytes)"])

    def test_strategies_lists_the_registry_and_patch_stats_names_it(self):
        """`strategies` lists the registry with the default marked; after a
        poke, `patch-stats` names the strategy that applied the batch."""
        lines = self.con.send("strategies")
        self.assertTrue(any(re.match(r"^\* int3 +8 phases, up to 3 round\(s\): ", l) for l in lines), lines)
        self.assertTrue(any(re.match(r"^  int3-2round +6 phases, up to 2 round\(s\): ", l) for l in lines), lines)
        self.assertTrue(any(re.match(r"^  nmi +8 phases, up to 3 round\(s\): ", l) for l in lines), lines)
        self.assertTrue(any(re.match(r"^  ool +10 phases, up to 3 round\(s\): ", l) for l in lines), lines)
        self.assertTrue(any(re.match(r"^  roll-forward +8 phases, up to 3 round\(s\): ", l) for l in lines), lines)
        self.assertEqual(len(lines), 7, f"one line per strategy: {lines}")
        self.assertTrue(all(re.search(r" \| patches: .* \| safe against: ", l) for l in lines), lines)
        call_a, call_b = self.call("flip_call_fn", "flip_ret_a"), self.call("flip_call_fn", "flip_ret_b")
        self.one(f"poke flip_call_fn {call_a} {call_b}", r"^poke: patched ")
        stats = self.con.send("patch-stats")
        self.one(f"poke flip_call_fn {call_b} {call_a}", r"^poke: patched ")
        self.assertTrue(any(re.match(r"^last batch: strategy int3, 1 site\(s\), 3 round\(s\)", l) for l in stats), stats)
        self.assertTrue(any(re.match(r"^  cycles: write int3 \d+, write tails \d+, write first bytes \d+, .*sync 3 \d+", l)
                            for l in stats), stats)

    def test_strategy_option_picks_the_batchs_strategy(self):
        """poke and patch take --strategy NAME: the batch is applied by it
        (its rounds); a missing or unknown name is refused, naming the
        strategies, and changes nothing."""
        crc0 = self.crc()
        call_a, call_b = self.call("flip_call_fn", "flip_ret_a"), self.call("flip_call_fn", "flip_ret_b")
        self.one(f"poke flip_call_fn {call_a} {call_b} --strategy int3-2round",
                 r"^poke: patched flip_call_fn\+0x0 \(2 rounds, \d+ us, strategy int3-2round\)$")
        self.one(f"poke flip_call_fn {call_b} {call_a}", r"^poke: patched .*\(3 rounds, \d+ us, strategy int3\)$")
        self.one("patch call b --strategy int3-2round", r"^patch: call is now b \(2 rounds, \d+ us, strategy int3-2round\)$")
        self.one("patch call a", r"^patch: call is now a \(3 rounds, \d+ us, strategy int3\)$")
        self.one("patch call b --strategy nmi", r"^patch: call is now b \(3 rounds, \d+ us, strategy nmi\)$")
        self.one("patch call a", r"^patch: call is now a \(3 rounds, \d+ us, strategy int3\)$")
        self.one("patch nmi_value b --strategy int3", r"^patch: refused \(PATCH_ENOT_EMULATABLE\): 0x[0-9a-f]+: .*: mov ")
        self.one("patch nmi_value b --strategy stop-machine-nmi",
                 r"^patch: nmi_value is now b \(1 rounds, \d+ us, strategy stop-machine-nmi\)$")
        self.one("patch nmi_value a --strategy stop-machine", r"^patch: nmi_value is now a \(1 rounds, \d+ us, strategy stop-machine\)$")
        self.one("patch nmi_value b --strategy ool", r"^patch: nmi_value is now b \(3 rounds, \d+ us, strategy ool\)$")
        self.one("patch nmi_value a --strategy ool", r"^patch: nmi_value is now a \(3 rounds, \d+ us, strategy ool\)$")
        self.one("patch call b --strategy nope", r"^patch: no strategy named 'nope' \(strategies: int3, int3-2round, nmi, stop-machine, stop-machine-nmi, ool, roll-forward\)$")
        self.one(f"poke flip_call_fn {call_a} {call_b} --strategy", r"^poke: --strategy needs a NAME \(strategies: ")
        self.assertEqual(self.crc(), crc0)

    def test_cr_lf_ends_one_line(self):
        """A script that ends lines with CR LF: the LF is not a second (empty)
        line, which would end poke-batch's input at once."""
        crc0 = self.crc()
        call_a, call_b = self.call("flip_call_fn", "flip_ret_a"), self.call("flip_call_fn", "flip_ret_b")
        self.assertEqual(self.con.send("poke-batch", end="\r\n"), [])
        self.assertEqual(self.con.send(f"flip_call_fn {call_a} {call_b}", end="\r\n"), [])
        self.assertRegex(" ".join(self.con.send("", end="\r\n")), r"^poke-batch: patched 1 site\(s\)")
        self.one(f"poke flip_call_fn {call_b} {call_a}", r"^poke: patched ")
        self.assertEqual(self.crc(), crc0)

    def test_poke_applies_and_peek_shows_it(self):
        """A nop becomes a call and back; a call is retargeted and back."""
        crc0 = self.crc()
        nop5 = "0f1f440000"
        call_b = self.call("flip_nop5_site", "flip_set_b")
        self.assertEqual(self.old_bytes("flip_nop5_site", 5), nop5)
        self.one(f"poke flip_nop5_site {nop5} {call_b}",
                 r"^poke: patched flip_nop5_site\+0x0 \([23] rounds, \d+ us, strategy int3\)$")
        rows = self.peek("flip_nop5_fn", 11)
        self.assertEqual([r[0] for r in rows], [self.sym["flip_nop5_fn"], self.sym["flip_nop5_site"],
                                                self.sym["flip_nop5_site"] + 5])
        self.assertEqual(rows[1][1:3], ("<flip_nop5_site+0x0>", " ".join(call_b[i:i + 2] for i in range(0, 10, 2))))
        self.assertRegex(rows[1][3], rf"^call 0x{self.sym['flip_set_b']:X} +<flip_set_b>$")
        self.assertNotEqual(self.crc(), crc0)
        # back, with the bytes spaced inside quotes
        self.one(f"poke flip_nop5_site '{call_b[:2]} {call_b[2:]}' '0f 1f 44 00 00'",
                 r"^poke: patched flip_nop5_site\+0x0 \(")
        self.assertRegex(self.peek("flip_nop5_site", 5)[0][3], r"^nop ")
        self.assertEqual(self.crc(), crc0)

        call_a, call_b = self.call("flip_call_fn", "flip_ret_a"), self.call("flip_call_fn", "flip_ret_b")
        self.assertEqual(self.old_bytes("flip_call_fn", 5), call_a)
        self.one(f"poke flip_call_fn+0 {call_a} {call_b}", r"^poke: patched flip_call_fn\+0x0 \(")
        self.assertRegex(self.peek("flip_call_fn", 1)[0][3], r"^call 0x[0-9A-F]+ +<flip_ret_b>$")
        self.one(f"poke flip_call_fn {call_b} {call_a}", r"^poke: patched flip_call_fn\+0x0 \(")
        self.assertEqual(self.crc(), crc0)

    def test_refused_pokes_print_one_line_and_write_nothing(self):
        s = self.sym
        crc0 = self.crc()
        call_a = self.call("flip_call_fn", "flip_ret_a")
        jmp_a = rel("e9", s["flip_jmp32_fn"], s["flip_jmp32_a"], 5)
        bp_first = self.old_bytes("patch_on_bp", 1)
        cases = [
            # (what, command, expected: "bad input" or a PATCH_E* code, pattern of the reason)
            ("bad hex digit", f"poke flip_call_fn {call_a} e8zz000000", "bad input", r"'z' is not a hex digit"),
            ("odd number of digits", "poke flip_call_fn e80100000 e80700000", "bad input", r"odd number of hex digits"),
            ("unknown symbol", "poke no_such_function 90 90", "bad input", r"unknown symbol 'no_such_function'"),
            ("offset past the symbol", "poke flip_call_fn+0x40 90 90", "bad input", r"offset 0x40 is outside flip_call_fn"),
            ("offset not a number", "poke flip_call_fn+x1 90 90", "bad input", r"offset 'x1' is not a number"),
            ("OLDHEX and NEWHEX of different lengths", f"poke flip_call_fn {call_a} e80700", "bad input",
             r"OLDHEX has 5 byte\(s\), NEWHEX 3"),
            ("wrong argument count", f"poke flip_call_fn {call_a}", "bad input", r"got 2 word"),
            ("empty site", "poke flip_call_fn '' ''", "PATCH_ELEN_ZERO", r"length is 0"),
            ("too long", f"poke flip_call_fn {'90' * 16} {'90' * 16}", "PATCH_ELEN_TOO_LONG", r"exceeds 15"),
            ("mid-instruction", "poke flip_call_fn+1 01 02", "PATCH_EMID_INSN", r"not at an instruction boundary"),
            ("old bytes mismatch", f"poke flip_call_fn e8020000ff {call_a}", "PATCH_EOLD_MISMATCH",
             r"byte 1 is 01, expected 02"),
            ("old bytes a part of an instruction", "poke flip_call_fn e8 c3", "PATCH_EOLD_LENGTH", r"old instruction"),
            ("old bytes two instructions", "poke two_nops_site 9090 6690", "PATCH_EMULTI_INSN", r"several instructions"),
            ("new bytes undecodable", "poke flip_ret_site c3 06", "PATCH_ENEW_UNDECODABLE", r"do not decode"),
            ("new instruction too long for the site", "poke flip_ret_site c3 e8", "PATCH_ENEW_LENGTH", r"longer"),
            ("new bytes two instructions", "poke flip_nop2_fn 6690 9090", "PATCH_EMULTI_INSN", r"several instructions"),
            ("not emulatable", "poke flip_nop2_fn 6690 31c0", "PATCH_ENOT_EMULATABLE", r"xor"),
            ("target outside .text", f"poke flip_call_fn {call_a} {self.call('flip_call_fn', s['__text_end'] + 0x100)}",
             "PATCH_ETARGET_OUTSIDE_TEXT", r"outside kernel \.text"),
            ("target mid-instruction",
             f"poke flip_jmp32_fn {jmp_a} {rel('e9', s['flip_jmp32_fn'], s['flip_jmp32_a'] + 1, 5)}",
             "PATCH_ETARGET_MID_INSN", r"flip_jmp32_a\+0x1"),
            ("target in the site's own tail",
             f"poke flip_jmp32_fn {jmp_a} {rel('e9', s['flip_jmp32_fn'], s['flip_jmp32_fn'] + 2, 5)}",
             "PATCH_ETARGET_IN_SITE", r"byte 2 of this very site"),
            ("call to a non-function", f"poke flip_call_fn {call_a} {self.call('flip_call_fn', s['flip_call_fn'] + 5)}",
             "PATCH_ECALL_NOT_FUNCTION", r"not the start of a function"),
            ("call into the no-patch region",
             f"poke flip_call_fn {call_a} {self.call('flip_call_fn', 'patch_on_bp')}",
             "PATCH_ETARGET_PROTECTED", r"patch_on_bp"),
            ("site inside the #BP handler", f"poke patch_on_bp {bp_first} 90", "PATCH_EPROTECTED",
             r"patch_on_bp"),
        ]
        self.assertGreaterEqual(len(cases), 20)
        for what, cmd, code, reason in cases:
            with self.subTest(what):
                if code == "bad input":
                    line = self.one(cmd, r"^poke: bad input: ")
                else:
                    line = self.one(cmd, rf"^poke: refused {code}: 0x[0-9a-f]+: ")
                    addr = cmd.split()[1]
                    name, _, off = addr.partition("+")
                    self.assertIn(f"{s[name] + int(off or '0', 0):#x}:", line)
                self.assertRegex(line, reason)
                self.assertEqual(self.crc(), crc0, f"{what}: .text changed")

    def test_peek_refuses_bad_input(self):
        for cmd, reason in [("peek flip_call_fn 0", r"LEN 0 is outside 1\.\.256"),
                            ("peek flip_call_fn 257", r"LEN 257 is outside 1\.\.256"),
                            ("peek flip_call_fn ten", r"LEN 'ten' is not a number"),
                            ("peek flip_call_fn", r"got 1 word"),
                            ("peek no_such_function 4", r"unknown symbol"),
                            ("peek flip_call_fn+6 4", r"outside flip_call_fn")]:
            with self.subTest(cmd):
                self.one(cmd, rf"^peek: bad input: .*{reason}")

    def test_peek_says_when_bytes_do_not_decode(self):
        """A byte that is no instruction in 64-bit mode (06 = push es, say),
        found somewhere inside an instruction of .text, peeked at."""
        table = ksyms()
        starts = [row[0] for row in table]
        for i, b in enumerate(self.text):
            if b not in (0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0xd6):
                continue
            addr = self.text_start + i
            k = bisect.bisect_right(starts, addr) - 1
            if k < 0 or addr >= table[k][0] + table[k][1]:
                continue
            rows = self.peek(f"{table[k][2]}+{addr - table[k][0]:#x}", 1)
            self.assertEqual(rows, [(addr, f"<{table[k][2]}+{addr - table[k][0]:#x}>", f"{b:02x}",
                                     "(does not decode)")])
            return
        self.skipTest("no byte of .text is an invalid opcode")

    def test_poke_batch_is_all_or_nothing(self):
        s = self.sym
        crc0 = self.crc()
        call_a, call_b = self.call("flip_call_fn", "flip_ret_a"), self.call("flip_call_fn", "flip_ret_b")
        nop5, set_b = "0f1f440000", self.call("flip_nop5_site", "flip_set_b")
        good1, good2 = f"flip_call_fn {call_a} {call_b}", f"flip_nop5_site {nop5} {set_b}"

        def batch(lines):
            self.assertEqual(self.con.send("poke-batch"), [])
            for line in lines:
                self.assertEqual(self.con.send(line), [], f"batch line {line!r} printed something")
            out = self.con.send("")
            self.assertEqual(len(out), 1, "poke-batch printed more than one result line:\n" + "\n".join(out))
            return out[0]

        for what, lines, pattern in [
            ("a malformed line", [good1, "flip_nop5_site 0f1f44000 e8"],
             r"^poke-batch: bad input on line 2: NEWHEX|^poke-batch: bad input on line 2: OLDHEX"),
            ("a refused line", [good1, f"flip_nop5_site 0f1f440001 {set_b}"],
             r"^poke-batch: refused line 2 \(flip_nop5_site\+0x0\) PATCH_EOLD_MISMATCH: 0x[0-9a-f]+: "),
            ("a site twice", [good1, f"flip_call_fn {call_a} {self.call('flip_call_fn', 'flip_set_b')}"],
             r"^poke-batch: refused line 2 \(flip_call_fn\+0x0\) PATCH_EOVERLAP: "),
            ("a protected site", [good1, good2, f"patch_on_bp {self.old_bytes('patch_on_bp', 1)} 90"],
             r"^poke-batch: refused line 3 \(patch_on_bp\+0x0\) PATCH_EPROTECTED: "),
            ("too many lines", [good1] * 17, r"^poke-batch: bad input on line 17: more than 16 requests"),
        ]:
            with self.subTest(what):
                line = batch(lines)
                self.assertRegex(line, pattern)
                self.assertRegex(line, r"; nothing written$")
                self.assertEqual(self.crc(), crc0, f"{what}: .text changed")
                self.assertRegex(self.peek("flip_call_fn", 1)[0][3], r"<flip_ret_a>$")

        self.assertRegex(batch([]), r"^poke-batch: no requests; nothing written$")
        self.assertRegex(batch([good1, good2]), r"^poke-batch: patched 2 site\(s\) \([23] rounds, \d+ us\)$")
        self.assertRegex(self.peek("flip_call_fn", 1)[0][3], r"<flip_ret_b>$")
        self.assertRegex(self.peek("flip_nop5_site", 1)[0][3], r"<flip_set_b>$")
        self.assertNotEqual(self.crc(), crc0)
        self.assertRegex(batch([f"flip_call_fn {call_b} {call_a}", f"flip_nop5_site {set_b} {nop5}"]),
                         r"^poke-batch: patched 2 site\(s\)")
        self.assertEqual(self.crc(), crc0)

    def test_keys_and_key_patch_every_site_in_one_batch(self):
        """`keys` lists the lab's static keys; `key on|off|toggle` prints one line
        with the sites, time, rounds and strategy; an unknown key is refused
        by name and writes nothing; off again gives the boot's .text back."""
        crc0 = self.crc()
        lines = self.con.send("keys")
        for name, state, n in [("lab_key_a", "off", 2), ("lab_key_b", "off", 1), ("lab_key_many", "on", 76)]:
            self.assertTrue(any(re.fullmatch(rf"{name} +{state} +{n} sites", l) for l in lines), lines)
        self.one("key on lab_key_a", r"^key: lab_key_a on: 2 sites in \d+ us \(3 rounds, strategy int3\)$")
        self.assertTrue(any(re.fullmatch(r"lab_key_a +on +2 sites", l) for l in self.con.send("keys")))
        self.assertNotEqual(self.crc(), crc0)
        self.one("key on lab_key_a", r"^key: lab_key_a already on: 2 sites, nothing written$")
        self.one("key toggle lab_key_a", r"^key: lab_key_a off: 2 sites in \d+ us \(3 rounds, strategy int3\)$")
        self.one("key off lab_key_many", r"^key: lab_key_many off: 76 sites in \d+ us \(3 rounds, strategy int3\)$")
        self.one("key toggle lab_key_many", r"^key: lab_key_many on: 76 sites in \d+ us \(3 rounds, ")
        self.assertEqual(self.crc(), crc0)
        self.one("key on no_such_key", r"^key: STATIC_KEY_EUNKNOWN: no static key named 'no_such_key' ")
        self.one("key flip lab_key_a", r"^usage: key on\|off\|toggle NAME")

    def test_call_runs_a_registered_function(self):
        """call runs a function registered with CONSOLE_CALLABLE through its
        entry and prints its result (an int sign-extended); bad input is
        refused in one line: an unregistered name, a wrong argument count, a
        word that is not a number; with no argument it lists the functions."""
        self.one("call lp_demo_answer 21", r"^lp_demo_answer\(21\) = 22 \(0x16\)$")
        self.one("call lp_demo_answer -5", r"^lp_demo_answer\(-5\) = -4 \(0xfffffffffffffffc\)$")
        self.one("call lp_demo_answer", r"^call: bad input: lp_demo_answer takes 1 argument, got 0$")
        self.one("call lp_demo_answer x", r"^call: bad input: argument 1, 'x', is not a number$")
        self.one("call nmi_handle 1", r"^call: bad input: nmi_handle is not a callable function ")
        self.assertIn("  lp_demo_answer (1 argument)", self.con.send("call"))

    def test_calls_and_call_set(self):
        """calls lists the lab's static calls; call-set moves every site of
        one in one batch (int3: 3 rounds), NULL and ret0 included; a
        non-function or a function the call does not allow is refused in
        one line and writes nothing; back to the first target, .text is as
        it was."""
        crc0 = self.crc()
        out = self.con.send("calls")
        rows = {m.group(1): (m.group(2), int(m.group(3))) for m in
                (re.fullmatch(r"(\S+) +-> (\S+) +(\d+) sites  trampoline [0-9a-f]{16}", line) for line in out) if m}
        self.assertEqual(len(rows), len(out), "calls: a line of unexpected form:\n" + "\n".join(out))
        self.assertEqual(rows["lab_call"], ("lab_fn_a", 64))
        self.assertEqual(rows["lab_call_one"], ("lab_fn_a", 1))
        self.assertEqual(rows["lab_nmi_call"], ("lab_nmi_fn_a", 1))
        self.one("call-set lab_call lab_fn_b",
                 r"^call-set: lab_call -> lab_fn_b: 64 sites in \d+ us \(3 rounds, strategy int3\)$")
        self.one("call-set lab_call_one lab_fn_b --strategy int3-2round",
                 r"^call-set: lab_call_one -> lab_fn_b: 1 sites in \d+ us \(2 rounds, strategy int3-2round\)$")
        self.assertRegex("\n".join(self.con.send("calls")), r"(?m)^lab_call +-> lab_fn_b +64 sites")
        crc_b = self.crc()
        self.refusals([
            ("not allowed", "call-set lab_call lab_fn_c",
             r"^call-set: lab_fn_c is not an allowed target of lab_call \(allowed: lab_fn_a lab_fn_b ret0 NULL\); "
             r"nothing written$"),
            ("not a function", "call-set lab_call __entry_start", r"^call-set: '__entry_start' \([0-9a-f]{16}\) is not a function$"),
            ("no symbol", "call-set lab_call no_such_fn", r"^call-set: no symbol 'no_such_fn'$"),
            ("no call", "call-set no_such_call lab_fn_a", r"^call-set: no static call named 'no_such_call'"),
        ], crc_b)
        self.one("call-set lab_call NULL", r"^call-set: lab_call -> NULL: 64 sites in \d+ us \(3 rounds, strategy int3\)$")
        self.assertRegex("\n".join(self.con.send("calls")), r"(?m)^lab_call +-> NULL +64 sites")
        self.one("call-set lab_call ret0", r"^call-set: lab_call -> static_call_ret0: 64 sites")
        self.one("call-set lab_call lab_fn_a", r"^call-set: lab_call -> lab_fn_a: 64 sites")
        self.one("call-set lab_call_one lab_fn_a", r"^call-set: lab_call_one -> lab_fn_a: 1 sites")
        self.assertEqual(self.crc(), crc0)

    def test_imv_and_imv_set(self):
        """imv lists the lab's immediate values; imv-set rewrites every
        site's immediate in one ool batch (3 rounds); an unknown name or a
        value the variable cannot hold is refused in one line and writes
        nothing; back to the first value, .text is as it was."""
        crc0 = self.crc()
        out = self.con.send("imv")
        rows = {m.group(1): (int(m.group(2), 16), int(m.group(3))) for m in
                (re.fullmatch(r"(\S+) += 0x([0-9a-f]{8}) \(-?\d+\) +(\d+) sites", line) for line in out) if m}
        self.assertEqual(len(rows), len(out), "imv: a line of unexpected form:\n" + "\n".join(out))
        self.assertEqual(rows["lab_imv"], (0x5a5a5a5a, 16))
        self.assertEqual(rows["lab_imv_one"], (0xffffffff, 1))
        self.one("imv-set lab_imv 0xa5a5a5a5",
                 r"^imv-set: lab_imv = 0xa5a5a5a5: 16 sites in \d+ us \(3 rounds, strategy ool\)$")
        self.one("imv-set lab_imv_one -7",
                 r"^imv-set: lab_imv_one = 0xfffffff9: 1 sites in \d+ us \(3 rounds, strategy ool\)$")
        self.assertRegex("\n".join(self.con.send("imv")), r"(?m)^lab_imv_one += 0xfffffff9 \(-7\) +1 sites$")
        crc_b = self.crc()
        self.refusals([
            ("no such", "imv-set no_such_imv 1",
             r"^imv-set: no immediate value named 'no_such_imv' \(see 'imv'\); nothing written$"),
            ("negative unsigned", "imv-set lab_imv -1",
             r"^imv-set: '-1' is not a value of lab_imv \(an unsigned 32-bit integer\); nothing written$"),
            ("33 bits", "imv-set lab_imv 0x100000000", r"^imv-set: '0x100000000' is not a value of lab_imv "),
        ], crc_b)
        self.one("imv-set lab_imv 0x5a5a5a5a", r"^imv-set: lab_imv = 0x5a5a5a5a: 16 sites")
        self.one("imv-set lab_imv_one -1", r"^imv-set: lab_imv_one = 0xffffffff: 1 sites")
        self.assertEqual(self.crc(), crc0)

    def test_alts_and_alt(self):
        """alts lists every feature (CPUID, masked, sites); alt mask|unmask
        re-patches a feature's sites in one stop-machine-nmi batch; a
        multi-instruction site through int3, an absent feature unmasked and
        an unknown name are refused in one line and write nothing; unmasked
        again, .text is as it was."""
        crc0 = self.crc()
        out = self.con.send("alts")
        rows = {m.group(1): (m.group(2) == "yes", m.group(3) == "yes", int(m.group(4))) for m in
                (re.match(r"(\S+) +cpuid (yes|no) +masked (yes|no) +(\d+) sites  \(CPUID 0x[0-9a-f]+\.\d+ e[a-d]x bit \d+\)$",
                          line) for line in out) if m}
        self.assertEqual(len(rows), len(out), "alts: a line of unexpected form:\n" + "\n".join(out))
        self.assertEqual({k: v[2] for k, v in rows.items() if v[2]}, {"popcnt": 1, "rdtscp": 1, "erms": 1})
        self.assertFalse(any(v[1] for v in rows.values()), "a feature masked at boot")
        if not rows["erms"][0] or not rows["rdtscp"][0]:
            self.skipTest("the CPU lacks erms or rdtscp (CPU=qemu64?): no site to re-patch")
        self.one("alt mask erms",
                 r"^alt: erms masked: 1 sites in \d+ us \(\d+ rounds, strategy stop-machine-nmi\)$")
        self.assertRegex("\n".join(self.con.send("alts")), r"(?m)^erms +cpuid yes +masked yes +1 sites")
        self.assertNotEqual(self.crc(), crc0, "alt mask erms changed no byte")
        self.one("alt unmask erms",
                 r"^alt: erms unmasked: 1 sites in \d+ us \(\d+ rounds, strategy stop-machine-nmi\)$")
        self.assertEqual(self.crc(), crc0)
        self.refusals([
            ("multi-instruction through int3", "alt mask rdtscp --strategy int3",
             r"^alt rdtscp: PATCH_EMULTI_INSN \(strategy int3\): 0x[0-9a-f]+: several instructions, and the "
             r"strategy cannot tell whether a CPU is inside the sequence it rewrites: old bytes are 2 instruction\(s\), "
             r"new 2$"),
            ("absent feature", "alt unmask avx512f", r"^alt: ENODEV: the CPU lacks avx512f .*nothing written$"),
            ("no such", "alt mask no_such_feature", r"^alt: no feature named 'no_such_feature' \(see 'alts'\); "
             r"nothing written$"),
        ], crc0)

    def test_trace_on_stats_off(self):
        """trace on GLOB patches every matching function's fentry NOP in one
        batch (int3: 3 rounds) and counts calls (a kernel function, the
        console's own text-crc, is counted twice after two calls); trace
        off puts the NOPs back (int3-2round: 2 rounds); bad input and a
        request with nothing to do are refused in one line and write
        nothing; .text ends as it was."""
        crc0 = self.crc()
        self.one("trace on mass_fn_0000*", r"^trace: 10 sites on in \d+ ms \(3 rounds, strategy int3\)$")
        self.one("trace on cmd_text_crc", r"^trace: 1 sites on in \d+ ms \(3 rounds, strategy int3\)$")
        self.one("text-crc", r"^text-crc: ")
        self.one("text-crc", r"^text-crc: ")
        out = self.con.send("trace stats cmd_text_crc")
        self.assertEqual(len(out), 2, "\n".join(out))
        self.assertRegex(out[0], r"^\s*cmd_text_crc +2$")
        self.assertRegex(out[1], r"^trace: 1 sites match, 1 traced now, 1 with hits, 2 hits in all \(0 from no site\)$")
        self.one("trace stats mass_fn_0000*",
                 r"^trace: 10 sites match, 10 traced now, 0 with hits, 0 hits in all \(0 from no site\)$")
        crc_on = self.crc()
        self.refusals([
            ("already on", "trace on mass_fn_0000*",
             r"^trace: refused \(already\): tracing is already on for all 10 function\(s\) matching "
             r"'mass_fn_0000\*'; nothing written$"),
            ("no match", "trace on no_such_fn*",
             r"^trace: refused \(no match\): no traced function matches 'no_such_fn\*' \(\d+ fentry sites\); "
             r"nothing written$"),
            ("bad subcommand", "trace frob", r"^trace: unknown subcommand 'frob' \(on, off or stats\)$"),
            ("no subcommand", "trace", r"^usage: trace on\|off\|stats \[GLOB\] \[--strategy NAME\]$"),
            ("unknown strategy", "trace on mass_fn_1* --strategy frob", r"^trace: no strategy named 'frob'"),
            ("stats with a strategy", "trace stats --strategy int3", r"^trace: stats patches nothing"),
        ], crc_on)
        self.one("trace off mass_fn_0000* --strategy int3-2round",
                 r"^trace: 10 sites off in \d+ ms \(2 rounds, strategy int3-2round\)$")
        self.one("trace off cmd_text_crc", r"^trace: 1 sites off in \d+ ms \(3 rounds, strategy int3\)$")
        self.assertEqual(self.crc(), crc0)


if __name__ == "__main__":
    unittest.main()
