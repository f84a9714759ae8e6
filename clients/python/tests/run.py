"""Runs every test under tests/ and fails when none ran (a run that tests
nothing must not pass). Usage, from clients/python: python3 -m tests.run [-v]"""

import sys
import unittest


def main() -> int:
    verbosity = 2 if "-v" in sys.argv[1:] else 1
    suite = unittest.defaultTestLoader.discover("tests", pattern="test_*.py", top_level_dir=".")
    result = unittest.TextTestRunner(verbosity=verbosity).run(suite)
    if result.testsRun == 0:
        print("tests/run.py: no tests ran", file=sys.stderr)
        return 1
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
