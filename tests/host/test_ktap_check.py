"""tests/host/test_ktap_check.py - does the KTAP judge (xptools.ktap, behind
scripts/ktap-check.py and every stanza of judge ktap) catch every way a run
can go wrong? Each case is a log the judge must judge correctly."""
import unittest

from xptools import ktap

GOOD = """xpoke: booting
smp: 2 of 2 CPU(s) online
KTAP version 1
1..3
# cpus online: 2 of 2 present
# PASS: something
ok 1 a.first # 3 ms
CPU 1: int3 at ffffffff80100000 <x+0x0/0x1> (not a patch site); continuing
ok 2 a.second # SKIP needs 4 CPUs, 2 online
ok 3 a.third # 0 ms
ktest: 2 passed, 0 failed, 1 skipped
"""


def run(log, status=1, cpus=None):
    return ktap.check(log.splitlines(True), status, 1, cpus)


class KtapCheck(unittest.TestCase):
    def test_good_run_passes(self):
        p, f, s, errors, failures = run(GOOD, cpus=2)
        self.assertEqual((p, f, s, errors, failures), (2, 0, 1, [], []))

    def test_crlf_line_endings_are_fine(self):
        p, f, s, errors, _ = run(GOOD.replace("\n", "\r\n"))
        self.assertEqual((p, f, s, errors), (2, 0, 1, []))

    def test_not_ok_is_a_failure_with_its_diagnostics(self):
        log = GOOD.replace("ok 3 a.third # 0 ms", "# FAIL: it broke\nnot ok 3 a.third # 1 failure(s)")
        log = log.replace("2 passed, 0 failed", "1 passed, 1 failed")
        p, f, s, errors, failures = run(log, status=3)
        self.assertEqual(f, 1)
        self.assertEqual(failures[0][1], "a.third")
        self.assertIn("# FAIL: it broke", failures[0][3])
        self.assertTrue(any("status 3" in e for e in errors))

    def test_missing_version_line(self):
        _, _, _, errors, _ = run(GOOD.replace("KTAP version 1\n", ""))
        self.assertTrue(errors and "KTAP version" in errors[0])

    def test_plan_mismatch_when_the_run_stops_early(self):
        log = GOOD.split("ok 3")[0]          # crashed before test 3 and the summary
        _, _, _, errors, _ = run(log, status=5)
        self.assertTrue(any("plan says 3 tests, 2 reported" in e for e in errors))
        self.assertTrue(any("no 'ktest:" in e for e in errors))

    def test_command_line_words_not_applied_fail_the_run(self):
        log = GOOD + "ktest: 1 command-line word(s) not applied (see 'cmdline:' at boot): the run fails\n"
        _, _, _, errors, _ = run(log, status=3)
        self.assertTrue(any("not applied" in e for e in errors))

    def test_missing_summary(self):
        _, _, _, errors, _ = run(GOOD.replace("ktest: 2 passed, 0 failed, 1 skipped\n", ""))
        self.assertTrue(any("summary" in e for e in errors))

    def test_summary_disagreeing_with_results(self):
        _, _, _, errors, _ = run(GOOD.replace("2 passed", "3 passed"))
        self.assertTrue(any("summary says 3 passed" in e for e in errors))

    def test_triple_fault_exit_status_zero_fails(self):
        _, _, _, errors, _ = run(GOOD, status=0)
        self.assertTrue(any("triple fault" in e for e in errors))

    def test_timeout_status_fails(self):
        _, _, _, errors, _ = run(GOOD, status=124)
        self.assertTrue(any("timeout" in e for e in errors))

    def test_numbers_out_of_order(self):
        _, _, _, errors, _ = run(GOOD.replace("ok 2 a.second", "ok 7 a.second"))
        self.assertTrue(any("not 1..3 in order" in e for e in errors))

    def test_judge_reports_each_failure_and_counts_harness_errors(self):
        log = GOOD.replace("ok 3 a.third # 0 ms", "# FAIL: it broke\nnot ok 3 a.third # 1 failure(s)")
        log = log.replace("2 passed, 0 failed", "1 passed, 1 failed")
        passed, failed, lines = ktap.judge(log, 3, "x")
        self.assertEqual((passed, failed), (1, 2))        # the test, and status 3 as a harness error
        self.assertIn("x: not ok 3 a.third # 1 failure(s)", lines)
        self.assertIn("    # FAIL: it broke", lines)
        self.assertEqual(lines[-1], "x: 1 passed, 1 failed, 1 skipped, 1 harness error(s)")

    def test_cpu_count_mismatch(self):
        _, _, _, errors, _ = run(GOOD, cpus=8)
        self.assertTrue(any("expected 8" in e for e in errors))


if __name__ == "__main__":
    unittest.main()
