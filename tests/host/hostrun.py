#!/usr/bin/env python3
"""tests/host/hostrun.py - run host test modules with unittest and report
in the form scripts/test.sh adds up: "RESULT passed=P failed=F".

  hostrun.py tests/host/test_ktap_check.py [more modules...]
"""
import importlib.util
import os
import sys
import unittest


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return unittest.defaultTestLoader.loadTestsFromModule(mod)


def main(paths):
    suite = unittest.TestSuite(load(p) for p in paths)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    # A test fails once however many of its subTests fail (unittest lists
    # each failing subTest, and an error in setUpClass, separately).
    bad = len({getattr(t, "test_case", t).id() for t, _ in result.failures + result.errors} |
              {t.id() for t in result.unexpectedSuccesses})
    print(f"RESULT passed={result.testsRun - bad - len(result.skipped)} failed={bad}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
