#!/usr/bin/env python3
"""test_cgi.py -- the hub as a plain CGI program (hub.cgi, run once per
request) behind lighttpd mod_cgi and behind Apache mod_cgid, as
contrib/lighttpd/hubd-cgi.conf and contrib/apache/hubd-cgi.conf set it up.

In CGI mode hub.cgi hands hubd its stdout (a pipe from lighttpd, a Unix
socket from mod_cgid) and exits; hubd writes the raw SSE bytes (no FastCGI
framing) and notices a departed client on a hang-up, an error or a failed
write (on mod_cgid that socket is also the CGI's stdin and its write side is
shut at once, so read-EOF means nothing).

front_checks.py's checks run on both fronts, with 50 streams for the burst
(each CGI stream holds a server thread on Apache, a pipe on lighttpd). A
front whose server or CGI module is missing is skipped (exit 77 when both
are), except when CI is set: then that fails."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import front_checks  # noqa: E402

if __name__ == '__main__':
    front_checks.main(('lighttpd-cgi', 'apache-cgi'), 50, __file__)
