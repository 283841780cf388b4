"""Commands for a stage server under test (tests/test_stage_server.py): what `pm2gan`'s main is
to the real one, small enough to show what a forked child sees and does."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def run(argv: list[str]) -> int:
    """`echo FILE CODE`: write what this process sees to FILE, print to both streams, exit CODE.
    `wait FILE`: write this pid to FILE, print "ready", wait for Ctrl+C; on it print "interrupted"
    and exit 130 (what an interrupted sweep exits with). `uncaught`: raise Ctrl+C's exception."""
    command, *rest = argv
    if command == "echo":
        Path(rest[0]).write_text(json.dumps({"cwd": os.getcwd(), "argv": sys.argv, "pid": os.getpid(),
                                             "ppid": os.getppid(), "env": os.environ.get("STAGE_TEST_VALUE")}))
        print("to stdout")
        print("to stderr", file=sys.stderr)
        return int(rest[1])
    if command == "wait":
        Path(rest[0]).write_text(str(os.getpid()))
        try:  # "ready" inside the try: the test's Ctrl+C may land while print is still returning
            print("ready", flush=True)
            while True:
                time.sleep(0.05)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            return 130
    if command == "uncaught":
        raise KeyboardInterrupt
    raise ValueError(f"no such test command: {command}")


if __name__ == "__main__":  # a stage server for these commands: python -m tests.stage_commands SOCKET
    from pipeline.orchestration import stage_server

    served = stage_server.serve(stage_server.listen(sys.argv[1]), run)
    print(f"served {sum(served.values())}", file=sys.stderr, flush=True)
