#!/usr/bin/env python3
"""test_lifecycle.py -- durability across SIGKILL, clean shutdown on
SIGTERM/SIGINT, slow readers, departed clients."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import front_checks  # noqa: E402
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

T = 'https://example.com/lifecycle'


def test_sigkill_keeps_acknowledged_updates():
    """Publishers race a SIGKILL, three rounds: after each restart every
    acknowledged update is there, in each publisher's order, and nothing
    else but possibly the one update each publisher had in flight."""
    acked = {}        # every acknowledged update so far: id -> data
    with Stack() as s:
        for rnd in range(3):
            pubs = [H.Publisher(s, [T], 100000, prefix='r%dp%d' % (rnd, i))
                    for i in range(8)]
            for p in pubs:
                p.start()
            try:
                H.wait_for(lambda: sum(len(p.acked) for p in pubs) >= 150
                           or not any(p.is_alive() for p in pubs),
                           scaled(60), '150 acknowledged publishes')
                old_pid = s.hubd_pid
                s.kill_hubd(signal.SIGKILL)
                for p in pubs:
                    p.join(scaled(30))
                    expect(not p.is_alive(), 'a publisher did not stop after hubd died')
            finally:
                for p in pubs:
                    p.stop_flag.set()
            for p in pubs:
                expect(p.errors, 'publisher %s saw no error after SIGKILL' % p.prefix)
                i, st, body = p.errors[0]
                expect(st in (503, 'exc'), 'publish while hubd is dead: %r %r', st, body)
            acked.update({uid: data for p in pubs for uid, data in p.acked})

            s.start_hubd()
            expect(s.hubd_pid != old_pid, 'a new hubd')
            sub = s.subscribe(T, last_event_id='earliest', keep_body=False)
            expect_eq(sub.status, 200, 'subscribe after restart')
            end = s.publish_ok(T, 'after restart %d' % rnd)
            got = []
            while True:
                ev = sub.next_event(scaled(20))
                if ev['id'] == end:
                    break
                got.append((ev['id'], ev['data']))
            sub.close()
            ids = [g[0] for g in got]
            expect_eq(len(ids), len(set(ids)), 'replayed ids are unique')
            have = set(ids)
            missing = [u for u in acked if u not in have]
            expect(not missing, 'round %d: %d of %d acknowledged updates lost, e.g. %r',
                   rnd, len(missing), len(acked), missing[:3])
            for p in pubs:
                mine = [d for _, d in got if d.startswith(p.prefix + '-')]
                want = [d for _, d in p.acked]
                # The in-flight update may or may not have been committed.
                expect(mine == want or mine == want + ['%s-%d' % (p.prefix, len(want))],
                       'publisher %s: replay %r... does not match acknowledged %r...',
                       p.prefix, mine[-3:], want[-3:])
            for uid, data in got:
                if uid in acked:
                    expect_eq(data, acked[uid], 'data of %s' % uid)


def curl_stream(s, topic, outfile):
    """curl -N on a subscription; returns the Popen (stdout = http code)."""
    url = s.base_url + s.subscribe_target(topic)
    return subprocess.Popen(['curl', '-sS', '-N', '-o', outfile, '-w', '%{http_code}',
                             '--max-time', str(int(scaled(60))), url],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigterm_ends_streams_cleanly(front='lighttpd'):
    """Also run by test_nginx.py with front='nginx'."""
    with Stack(front=front) as s:
        before = [s.publish_ok(T, 'before %d' % i) for i in range(3)]
        subs = [s.subscribe(T), s.subscribe([T, 'urn:other']), s.subscribe('urn:other')]
        curl = None
        out = os.path.join(s.tmpdir, 'curl.out')
        try:
            if shutil.which('curl'):
                curl = curl_stream(s, T, out)

                def curl_open():
                    try:
                        with open(out, 'rb') as f:
                            head = f.read(8)
                        return head.startswith(b':') and b'ok\n\n' in head
                    except OSError:
                        return False
                H.wait_for(curl_open, scaled(10), 'curl to receive the opening comment')
            last = s.publish_ok(T, 'last before SIGTERM')
            for sub in subs[:2]:
                expect_eq(sub.next_event(scaled(5))['id'], last, 'live event')
            status = s.kill_hubd(signal.SIGTERM)
            expect_eq(status, 0, 'hubd exit status after SIGTERM')
            for i, sub in enumerate(subs):
                clean = sub.wait_closed(scaled(10))
                expect(clean, 'stream %d was cut instead of ended (chunked terminator missing); '
                       'tail %r', i, sub.body[-60:])
                expect(sub.parser.chunked, 'stream %d was not chunked', i)
            if curl is not None:
                try:
                    code, err = curl.communicate(timeout=scaled(10))
                except subprocess.TimeoutExpired:
                    raise AssertionError('curl did not finish after SIGTERM')
                expect_eq((curl.returncode, code), (0, '200'),
                          'curl exit status and HTTP code (stderr %r)' % err)
                with open(out, 'rb') as f:
                    body = f.read()
                expect(('id: %s\n' % last).encode() in body, 'curl saw the last event')
        finally:
            if curl is not None and curl.poll() is None:
                H.stop_process(curl, 5)
            for sub in subs:
                sub.close()
        # While hubd is down the front answers 503; the store was flushed.
        st, _, _ = s.publish(T, 'while down')
        expect_eq(st, 503, 'publish while hubd is down')
        s.start_hubd()
        st, _, items = s.history(T)
        expect_eq([it['id'] for it in items], before + [last], 'history after restart')
        s.check_pubsub()


def test_sigint_ends_streams_cleanly():
    with Stack() as s:
        sub = s.subscribe(T)
        uid = s.publish_ok(T, 'x')
        expect_eq(sub.next_event(scaled(5))['id'], uid, 'event')
        expect_eq(s.kill_hubd(signal.SIGINT), 0, 'hubd exit status after SIGINT')
        expect(sub.wait_closed(scaled(10)), 'stream cut instead of ended on SIGINT')
        s.start_hubd()
        s.check_pubsub()


def test_streams_right_after_sigterm_restart():
    """Each hub.fcgi thread keeps its control connection to hubd. Streams
    held open on every thread (2 processes x 4 threads) leave each with a
    connection to the hubd that a SIGTERM then stops; right after the
    restart, the next stream request on every thread must still reach the
    new hubd (the handover goes again over a new connection), not get a
    503, and hub.fcgi logs no failure."""
    n = 2 * 4
    with Stack(max_procs=2, fcgi_env={'HUBD_THREADS': '4'}) as s:
        subs = [s.subscribe(T) for _ in range(n)]
        try:
            uid = s.publish_ok(T, 'before SIGTERM')
            for sub in subs:
                expect_eq(sub.next_event(scaled(5))['id'], uid, 'live event')
            expect_eq(s.kill_hubd(signal.SIGTERM), 0, 'hubd exit status after SIGTERM')
            for i, sub in enumerate(subs):
                expect(sub.wait_closed(scaled(10)), 'stream %d cut instead of ended', i)
        finally:
            for sub in subs:
                sub.close()
        s.start_hubd()
        log = os.path.join(s.tmpdir, 'lighttpd.out')
        logged = os.path.getsize(log) if os.path.exists(log) else 0
        subs = []
        try:
            for i in range(n):
                subs.append(s.subscribe(T, last_event_id=uid, wait_ok=False))
                expect_eq(subs[-1].status, 200, 'stream request %d after the restart (%r)'
                          % (i, subs[-1].body))
            after = s.publish_ok(T, 'after the restart')
            for sub in subs:
                expect_eq(sub.next_event(scaled(5))['id'], after, 'live event after the restart')
        finally:
            for sub in subs:
                sub.close()
        with open(log, 'rb') as f:
            f.seek(logged)
            expect_eq(f.read().decode('utf-8', 'replace'), '',
                      'hub.fcgi log lines after the restart')


def test_slow_reader_disconnected(front='lighttpd'):
    """A subscriber that never reads is disconnected once its queue passes
    --max-queue; a fast one on the same topic receives everything; the slow
    one recovers with Last-Event-ID. The front must not absorb the slow
    one's backlog (test_nginx.py runs this with front='nginx' too)."""
    N, SIZE = 240, 16384
    with Stack(max_queue=65536, front=front) as s:
        fast = s.subscribe(T, keep_body=False)
        slow = s.subscribe(T, rcvbuf=4096, keep_body=False)
        H.wait_for(lambda: s.stats()['subscribers'] == 2, scaled(5), 'two subscribers')
        received = []
        failure = []

        def read_fast():
            try:
                while True:
                    ev = fast.next_event(scaled(30))
                    received.append(ev['id'])
                    if ev['data'] == 'END':
                        return
            except Exception as e:  # reported by the main thread
                failure.append(e)
        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        ids = []
        t0 = time.monotonic()
        payload = 'y' * (SIZE - 8)
        for i in range(N):
            ids.append(s.publish_ok(T, '%06d %s' % (i, payload)))
        ids.append(s.publish_ok(T, 'END'))
        reader.join(scaled(60))
        expect(not failure, 'fast reader failed: %r (after %d events)',
               failure[:1], len(received))
        expect_eq(received, ids, 'fast reader got every update in order')

        # The slow one has been dropped by hubd.
        H.wait_for(lambda: s.stats()['subscribers'] == 1, scaled(10),
                   'hubd to drop the slow subscriber')
        stats = s.stats()
        expect(stats['drops'] >= 1, 'stats drops should count the slow reader: %r', stats)
        # What it had buffered is a prefix, then the stream ends.
        got = []
        try:
            while True:
                got.append(slow.next_event(scaled(10))['id'])
        except H.Closed:
            pass
        except H.Timeout:
            raise AssertionError('slow stream not closed (got %d events)' % len(got))
        expect(len(got) < len(ids), 'slow reader got everything (%d): not slowed', len(got))
        expect_eq(got, ids[:len(got)], 'the slow reader got a clean prefix')
        print('# slow reader: %d of %d events before the drop (%.1fs)'
              % (len(got), len(ids), time.monotonic() - t0))
        fast.close()
        slow.close()
        # Reconnect like a browser (EventSource reconnects with the last id
        # it saw whenever a stream ends): Last-Event-ID recovers the rest.
        reconnects = 0
        while len(got) < len(ids):
            expect(reconnects < 20, 'no recovery after 20 reconnects (%d of %d events)',
                   len(got), len(ids))
            reconnects += 1
            before = len(got)
            again = s.subscribe(T, last_event_id=got[-1] if got else 'earliest',
                                keep_body=False)
            try:
                while len(got) < len(ids):
                    got.append(again.next_event(scaled(30))['id'])
            except H.Closed:
                pass
            finally:
                again.close()
            expect(len(got) > before, 'a reconnect made no progress')
        expect_eq(got, ids, 'the reconnected reader gets the rest, in order')
        print('# recovered with %d reconnect(s)' % reconnects)


def test_departed_client_reaped():
    """Within two heartbeats, and live clients kept (front_checks.py, on
    the lighttpd FastCGI front)."""
    front_checks.check_departed_client_reaped('lighttpd')


if __name__ == '__main__':
    H.run_tests(globals())
