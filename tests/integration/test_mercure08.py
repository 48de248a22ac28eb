#!/usr/bin/env python3
"""test_mercure08.py -- Mercure 1.0 (protocol draft-08) subscribers next to
draft-07 ones on one hub, behind lighttpd: match and match_exact matchers,
the reserved match namespace and the value rules (400), last_event_id and
the Mercure-Last-Event-ID response header, and both drafts receiving the
same updates at once."""

import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

A, B = 'https://example.com/m08/a', 'https://example.com/m08/b'


def target(pairs):
    """The hub's path with the query of (name, value) pairs, encoded as
    URLSearchParams does."""
    return H.HUB_PATH + '?' + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


def subscribe08(s, pairs, **kw):
    return s.subscribe(None, target=target(pairs), **kw)


def test_match_exact():
    """match and match_exact select topics byte for byte; several matchers
    are a union; a '{' is a character, not a template; '*' is every topic."""
    with Stack() as s:
        sub = subscribe08(s, [('match', A), ('match_exact', 'https://example.com/m08/{id}')])
        expect_eq(sub.status, 200, 'status')
        expect_eq(sub.header('content-type'), 'text/event-stream', 'content type')
        expect(sub.header('mercure-last-event-id') is None,
               'no Mercure-Last-Event-ID without a last event id')
        s.publish_ok(B, 'not for it')
        s.publish_ok('https://example.com/m08/7', 'nor this: exact, not a template')
        ida = s.publish_ok(A, 'for it')
        idt = s.publish_ok('https://example.com/m08/{id}', 'the literal topic')
        evs = sub.events(2, scaled(5))
        expect_eq([e['id'] for e in evs], [ida, idt], 'the two exact topics, in order')
        expect_eq(evs[0]['data'], 'for it', 'data')
        sub.close()
        # Relative and non-URL exact matchers, and the wildcard.
        every = subscribe08(s, [('match', '*')])
        rel = subscribe08(s, [('match', 'books/1')])
        idr = s.publish_ok('books/1', 'relative')
        expect_eq(rel.next_event(scaled(5))['id'], idr, 'relative exact topic')
        expect_eq(every.next_event(scaled(5))['id'], idr, 'match=* gets every topic')
        rel.close()
        every.close()


def test_refused_parameters():
    """The reserved match namespace, mixed drafts, bad values and the caps
    are answered 400 by hub.fcgi, before any stream opens."""
    long_matcher = 'x' * 2049
    cases = [
        [('match_foo', A)], [('MATCH', A)], [('Match_exact', A)], [('matchx', A)],
        [('match_EXACT', A)], [('topic', A), ('match', B)], [('match', A), ('topic', B)],
        [('match', '')], [('match', 'a\u200bb')], [('match', '\u0085')],
        [('match', '\x7f')], [('match', 'a\ufeff')], [('match', long_matcher)],
        [('match', 'x%d' % i) for i in range(65)],
        [('match', A), ('last_event_id', 'a\nb')],
    ]
    with Stack() as s:
        for pairs in cases:
            st, h, body = s.request('GET', target(pairs), headers={'Accept': 'text/event-stream'})
            expect_eq(st, 400, 'status for %r' % (pairs[:2],))
            expect(body.strip(), 'a reason in the body for %r' % (pairs[:2],))
        # Invalid UTF-8 cannot come from urlencode: raw percent-encoding.
        for raw in ('match=%FF', 'match=%ED%A0%80', 'match=%C0%AF'):
            st, h, body = s.request('GET', H.HUB_PATH + '?' + raw)
            expect_eq(st, 400, 'status for %s' % raw)
        # At the caps: taken.
        sub = subscribe08(s, [('match', 'y' * 2048)] + [('match', 'z%d' % i) for i in range(63)])
        expect_eq(sub.status, 200, 'status at the caps')
        sub.close()


def test_last_event_id():
    """last_event_id (query) and Last-Event-ID (header, wins) replay what
    followed; Mercure-Last-Event-ID names the update before the first one
    sent, or earliest."""
    with Stack() as s:
        ids = [s.publish_ok(A if i % 2 == 0 else B, 'u%d' % i) for i in range(6)]
        a_ids = ids[0::2]
        # Known id: replay after it, the header names it.
        sub = subscribe08(s, [('match', A), ('last_event_id', ids[1])])
        expect_eq(sub.status, 200, 'status')
        expect_eq(sub.header('mercure-last-event-id'), ids[1], 'Mercure-Last-Event-ID')
        expect(sub.header('last-event-id') is None, 'no draft-07 Last-Event-ID header')
        expect_eq([e['id'] for e in sub.events(2, scaled(5))], a_ids[1:], 'replayed')
        live = s.publish_ok(A, 'live')
        expect_eq(sub.next_event(scaled(5))['id'], live, 'then live, no duplicate')
        sub.close()
        # The header wins over the parameter.
        sub = subscribe08(s, [('match', A), ('last_event_id', ids[0])], last_event_id=ids[3])
        expect_eq(sub.header('mercure-last-event-id'), ids[3], 'the header wins')
        expect_eq(sub.next_event(scaled(5))['id'], ids[4], 'replayed after the header id')
        sub.close()
        # earliest: everything, and the header says earliest.
        sub = subscribe08(s, [('match', A), ('last_event_id', 'earliest')])
        expect_eq(sub.header('mercure-last-event-id'), 'earliest', 'earliest')
        expect_eq([e['id'] for e in sub.events(4, scaled(5))], a_ids + [live], 'all of A')
        sub.close()
        # An unknown id: earliest, and hubd's replay reset.
        sub = subscribe08(s, [('match', A), ('last_event_id', 'urn:nope')])
        expect_eq(sub.header('mercure-last-event-id'), 'earliest', 'unknown id')
        expect_eq(sub.header('x-hubd-replay'), 'reset', 'replay reset header')
        ev = sub.next_event(scaled(5))
        expect_eq(ev['event'], 'hubd-replay-reset', 'the reset event')
        sub.close()
        # The newest id: nothing to replay, the header names it.
        sub = subscribe08(s, [('match', A), ('last_event_id', live)])
        expect_eq(sub.header('mercure-last-event-id'), live, 'newest id')
        nxt = s.publish_ok(A, 'next')
        expect_eq(sub.next_event(scaled(5))['id'], nxt, 'only the next live update')
        sub.close()
        # Draft-07's lastEventID is no draft-08 parameter: ignored.
        sub = subscribe08(s, [('match', A), ('lastEventID', ids[0])])
        expect(sub.header('mercure-last-event-id') is None, 'lastEventID ignored in draft-08')
        sub.close()


def test_both_drafts_at_once():
    """Draft-07 and draft-08 subscribers on one hub get the same updates in
    the same order, each with its own response header."""
    with Stack() as s:
        first = s.publish_ok(A, 'before')
        old = s.subscribe([A, B], last_event_id=first)
        new = subscribe08(s, [('match', A), ('match', B)], last_event_id=first)
        expect_eq(old.header('last-event-id'), first, 'draft-07: the newest id')
        expect(old.header('mercure-last-event-id') is None, 'draft-07: no Mercure- header')
        expect_eq(new.header('mercure-last-event-id'), first, 'draft-08 header')
        ids = [s.publish_ok(A if i % 3 else B, 'x%d' % i) for i in range(20)]
        expect_eq([e['id'] for e in old.events(20, scaled(10))], ids, 'draft-07 stream')
        expect_eq([e['id'] for e in new.events(20, scaled(10))], ids, 'draft-08 stream')
        old.close()
        new.close()


def test_private_not_for_anonymous():
    """A draft-08 subscriber without a token gets no private update."""
    with Stack() as s:
        sub = subscribe08(s, [('match', A)])
        s.publish_ok(A, 'secret', private=True)
        pub = s.publish_ok(A, 'public')
        expect_eq(sub.next_event(scaled(5))['id'], pub, 'only the public update')
        sub.close()


class QueryStream:
    """A QUERY subscription (draft-08: the matchers in a form body) on a raw
    connection, read with the harness's parser."""

    def __init__(self, s, query, pairs, headers=None):
        body = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote).encode()
        head = ['QUERY %s?%s HTTP/1.1' % (H.HUB_PATH, query), 'Host: %s:%d' % (s.host, s.port),
                'Accept: text/event-stream',
                'Content-Type: application/x-www-form-urlencoded',
                'Content-Length: %d' % len(body)] + ['%s: %s' % kv for kv in (headers or {}).items()]
        self.sock = socket.create_connection((s.host, s.port), timeout=scaled(10))
        self.sock.sendall(('\r\n'.join(head) + '\r\n\r\n').encode() + body)
        self.parser = H.ResponseParser(sse=True, keep_body=False)
        H.wait_for(lambda: self.parser.feed(self.sock.recv(65536)) or self.parser.head_done,
                   scaled(10), 'the QUERY answer', interval=0)

    def next_event(self, timeout):
        H.wait_for(lambda: self.parser.sse.events or self.parser.feed(self.sock.recv(65536)),
                   timeout, 'an event on the QUERY stream', interval=0)
        return self.parser.sse.events.popleft()

    def close(self):
        self.sock.close()


def test_query_method():
    """QUERY carries the matchers in its body (more than a URL holds: 60
    matchers of 300 bytes); last_event_id may be in the query; a bad body
    is 400 or 415."""
    with Stack() as s:
        first = s.publish_ok(A, 'before')
        many = [('match', 'https://example.com/m08/%s/%03d' % ('x' * 260, i)) for i in range(59)]
        qs = QueryStream(s, 'last_event_id=' + urllib.parse.quote(first), many + [('match', A)])
        expect_eq(qs.parser.status, 200, 'QUERY status')
        expect_eq(qs.parser.header('mercure-last-event-id'), first, 'cursor from the query')
        uid = s.publish_ok(A, 'to the last matcher')
        expect_eq(qs.next_event(scaled(5))['id'], uid, 'the update on a body matcher')
        qs.close()
        st, _, body = s.request('QUERY', H.HUB_PATH, body='match=a',
                                headers={'Content-Type': 'text/plain'})
        expect_eq(st, 415, 'a body that is no form: %s' % body)
        st, _, body = s.request('QUERY', H.HUB_PATH, body='topic=a',
                                headers={'Content-Type': 'application/x-www-form-urlencoded'})
        expect_eq(st, 400, 'topic in a QUERY body: %s' % body)
        st, h, _ = s.request('OPTIONS', H.HUB_PATH)
        expect('QUERY' in h.get('Allow', ''), 'Allow names QUERY: %r' % h.get('Allow'))


def test_max_stream_lifetime():
    """max-stream-lifetime ends each stream cleanly after 90-100% of it;
    the client resumes with Last-Event-ID and loses nothing."""
    with Stack(extra_hubd_args=['--max-stream-lifetime', '2']) as s:
        t0 = time.monotonic()
        old = s.subscribe([A])
        new = subscribe08(s, [('match', A)])
        first = s.publish_ok(A, 'one')
        for sub in (old, new):
            expect_eq(sub.next_event(scaled(5))['id'], first, 'delivered before the end')
            expect(sub.wait_closed(scaled(6)), 'the stream ended cleanly')
        took = time.monotonic() - t0
        expect(0.8 <= took <= scaled(4), 'the streams ended after %.2f s (want 1-3)' % took)
        # Published while no stream was open: the resumed stream has it.
        gap = s.publish_ok(A, 'two')
        again = subscribe08(s, [('match', A)], last_event_id=first)
        expect_eq(again.next_event(scaled(5))['id'], gap, 'resumed without loss')
        again.close()


if __name__ == '__main__':
    H.run_tests(globals())
