"""PID 1 of a lab host: run the host's command as its child, reap every process that ends,
and pass termination signals on.

A real host's init reaps the orphans of its pid namespace. Without one, the host's first
process (salt-minion) inherits every double-forked daemon and never waits for them: a stopped
postmaster (Patroni starts it detached) stayed a zombie, Patroni's wait for its pid never
ended, and a switchover's old leader sat in "demote in progress" with PostgreSQL down.

    /usr/bin/python3 lab_init.py CMD [ARGS...]

Exits with CMD's status (128 + N when a signal N ended it). Standard library only.
"""

from __future__ import annotations

import os
import signal
import sys

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)  # fmt: skip


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: lab_init.py CMD [ARGS...]", file=sys.stderr)
        return 2
    child = os.fork()
    if child == 0:
        os.execvp(argv[0], argv)
    for signum in FORWARDED:
        signal.signal(signum, lambda received, _frame: os.kill(child, received))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
