"""run.py [pytest args] - run the Python binding's tests with pytest and
print their total as the last line, "N passed, M failed" (scripts/test.sh
sums those lines). Failed counts failing tests, errors in set-up or
tear-down, and a run that collected nothing or could not collect a file.
Skipped tests are reported by pytest above and counted in neither."""
import os
import sys

# No __pycache__ in the source tree (nor in the processes the tests start).
sys.dont_write_bytecode = True
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"

import pytest  # noqa: E402


class Count:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed:
            self.passed += 1
        elif report.failed:
            self.failed += 1

    def pytest_collectreport(self, report):
        if report.failed:
            self.failed += 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    c = Count()
    rc = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", here, here]
                     + sys.argv[1:], plugins=[c])
    if rc not in (0, 1) and c.failed == 0:
        c.failed = 1  # interrupted, usage error, internal error or no tests
    sys.stdout.flush()
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
