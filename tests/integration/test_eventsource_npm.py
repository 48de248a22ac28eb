#!/usr/bin/env python3
"""test_eventsource_npm.py -- a Node client on the `eventsource` npm package
(tests/browser/eventsource_client.mjs) against hubd behind lighttpd: it
receives updates with their ids and multi-line data, private ones with a
bearer token sent through its fetch hook, and sees 401 as a fatal error;
when the token expires the stream ends, the package reconnects with the
expired token and stops on the 401. Needs node and tests/browser/node_modules
(contrib/quickstart test installs them); skipped outside CI without them,
a failure in CI."""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

NODE = os.environ.get('NODE') or shutil.which('node') or '/usr/bin/node'
BROWSER_DIR = os.path.join(H.SRCDIR, 'tests', 'browser')
CLIENT = os.path.join(BROWSER_DIR, 'eventsource_client.mjs')
CI = os.environ.get('CI', '').lower() not in ('', '0', 'false', 'no')
T = 'https://example.com/npm/books/1'


class Client:
    """One eventsource_client.mjs process; its JSON lines in a queue.
    close() ends it (stdin closed, then SIGKILL by pid)."""

    def __init__(self, url, bearer=None):
        argv = [NODE, CLIENT, url, '--seconds', str(int(scaled(30)))]
        if bearer:
            argv += ['--bearer', bearer]
        self.proc = subprocess.Popen(argv, cwd=BROWSER_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, what, timeout=10.0):
        """The next line that has key what (others before it are skipped
        and returned too, for messages that must not be there)."""
        deadline = time.monotonic() + scaled(timeout)
        skipped = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise H.Timeout('no %r from the eventsource client (saw %r)' % (what, skipped))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if what in line:
                return line[what], skipped
            skipped.append(line)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            H.stop_process(self.proc)


def url(s, topic=T):
    return s.base_url + s.subscribe_target(topic)


def test_receives_updates_with_ids():
    with Stack() as s:
        c = Client(url(s))
        try:
            c.next('open')
            pid = s.publish_ok(T, 'first line\nsecond line\n\nafter an empty line', id='npm-1')
            msg, _ = c.next('message')
            expect_eq((msg['id'], msg['data']),
                      ('npm-1', 'first line\nsecond line\n\nafter an empty line'),
                      'id and multi-line data')
            expect_eq(pid, 'npm-1', 'publisher id echoed')
        finally:
            c.close()


def test_private_with_bearer_and_401():
    with Stack() as s:
        anon = Client(url(s))
        auth = Client(url(s), bearer=s.token(publish=None, subscribe=[T]))
        bad = Client(url(s), bearer=s.token(publish=None, subscribe=[T], key='another-key'))
        try:
            anon.next('open')
            auth.next('open')
            err, skipped = bad.next('error')
            expect_eq((err['code'], err['readyState']), (401, 2),
                      'a bad token: 401, and the client gives up (CLOSED)')
            expect(not any('open' in x for x in skipped), 'no open before the 401: %r', skipped)
            secret = s.publish_ok(T, 'secret', private=True)
            public = s.publish_ok(T, 'public')
            expect_eq([auth.next('message')[0]['id'] for _ in range(2)], [secret, public],
                      'the bearer subscriber gets both')
            msg, skipped = anon.next('message')
            expect_eq(msg['id'], public, 'the anonymous one only the public update')
        finally:
            for c in (anon, auth, bad):
                c.close()


def test_token_expiry_ends_the_stream():
    with Stack() as s:
        c = Client(url(s), bearer=s.token(publish=None, subscribe=[T], exp=2))
        try:
            c.next('open')
            # The stream ends at exp; the package reconnects with the same
            # (now expired) token and stops at the 401.
            err, skipped = c.next('error', timeout=8)
            while err['code'] != 401:
                err, more = c.next('error', timeout=8)
                skipped += more
            expect_eq(err['readyState'], 2, 'CLOSED after the 401')
        finally:
            c.close()


def test_across_a_restart():
    """hubd stopped with SIGTERM and started again 5 s later: the package
    follows hub.fcgi's retry answers (a 200 stream of only a retry: that
    ends) instead of giving up on a 503, then resumes with Last-Event-ID:
    the update published right after the restart arrives, nothing twice."""
    env = {'HUBD_RETRY': '500-1500'}
    with Stack(fcgi_env=env, extra_hubd_args=['--retry', '500-1500']) as s:
        c = Client(url(s))
        try:
            c.next('open')
            first = s.publish_ok(T, 'before the restart')
            expect_eq(c.next('message')[0]['id'], first, 'the update before the restart')
            s.kill_hubd(signal.SIGTERM)
            time.sleep(5)
            s.start_hubd()
            after = s.publish_ok(T, 'right after the restart')
            msg, skipped = c.next('message', timeout=15)
            expect_eq((msg['id'], msg['data']), (after, 'right after the restart'),
                      'the next update the client gets')
            errors = [x['error'] for x in skipped if 'error' in x]
            expect(len(errors) >= 3, 'the client kept reconnecting while hubd was down: %r',
                   skipped)
            expect(all(e['readyState'] == 0 for e in errors),
                   'every error was followed by a reconnect (CONNECTING), never CLOSED: %r',
                   errors)
            live = s.publish_ok(T, 'live')
            msg, skipped = c.next('message')
            expect_eq(msg['id'], live, 'then live updates')
            expect(not any('message' in x for x in skipped), 'nothing else: %r', skipped)
        finally:
            c.close()


if __name__ == '__main__':
    missing = []
    if not (NODE and os.access(NODE, os.X_OK)):
        missing.append('node (apt-get install nodejs)')
    if not os.path.isdir(os.path.join(BROWSER_DIR, 'node_modules', 'eventsource')):
        missing.append('the eventsource package (cd %s && npm ci)' % BROWSER_DIR)
    if missing:
        for m in missing:
            print('# missing: %s' % m)
        if CI:
            print('not ok - cannot run in CI without them')
            print('0 passed, 1 failed')
            sys.exit(1)
        print('0 passed, 0 failed')
        sys.exit(77)
    H.run_tests(globals())
