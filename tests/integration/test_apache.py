#!/usr/bin/env python3
"""test_apache.py -- the hub behind Apache (mpm_event + mod_proxy_fcgi with
flushpackets=on, no enablereuse) instead of lighttpd, as
contrib/apache/hubd.conf sets it up: hub.fcgi runs as its own FastCGI
server on a Unix socket (Apache never spawns it). The checks are
front_checks.py's, with 200 concurrent streams for the burst.

Without apache2 (or its mod_proxy_fcgi) the test is skipped (exit 77),
except when CI is set: then it fails."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import front_checks  # noqa: E402

if __name__ == '__main__':
    front_checks.main(('apache',), 200, __file__)
