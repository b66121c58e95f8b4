"""pytest plugin: run ipyparallel 7.1's own test suite against our controller.

IPP_CONTROLLER_CMD (split like a shell) replaces `python -m ipyparallel.controller` in the
suite's global set-up (ipyparallel.tests.setup), which appends its own flags:
--profile=iptest --log-level=10 --ping=250 --dictdb
"""
import os
import shlex

import ipyparallel.tests as suite

cmd = os.environ.get("IPP_CONTROLLER_CMD")
if cmd:
    suite.ipcontroller_cmd_argv = shlex.split(cmd)
