#!/usr/bin/env python3
"""test_subscriptions.py -- the Mercure subscriptions API through lighttpd +
hub.fcgi + hubd: off by default; when on, a private update on
/.well-known/mercure/subscriptions/{topic}/{subscriber} when a subscriber
connects and disconnects (with the JWT's mercure.payload), and GET of the
active subscriptions, by topic, and one by one, behind subscriber
authorization."""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import HUB_PATH, Stack, expect, expect_eq, scaled  # noqa: E402

BOOK = 'https://example.com/books/1'
SUBS = HUB_PATH + '/subscriptions'
TEMPLATE = SUBS + '{/topic}{/subscriber}'


def enc(s):
    return urllib.parse.quote(s, safe='')


def get(s, path, token):
    h = {'Authorization': 'Bearer ' + token} if token else {}
    st, hd, body = s.request('GET', path, headers=h)
    try:
        return st, hd, json.loads(body)
    except ValueError:
        return st, hd, body


def test_off_by_default():
    with Stack() as s:
        st, _, _ = get(s, SUBS, s.token(publish=None, subscribe=[TEMPLATE]))
        expect_eq(st, 404, 'the subscriptions API is off unless configured')


def test_events_and_listing():
    # A departed client is noticed at hubd's next write: a 1 s heartbeat.
    with Stack(heartbeat=1, extra_hubd_args=['--subscriptions', 'yes']) as s:
        admin = s.token(publish=None, subscribe=[TEMPLATE])
        watcher = s.subscribe(TEMPLATE, headers={'Authorization': 'Bearer ' + admin})
        ev = watcher.next_event(scaled(5))   # its own subscription, announced
        own = json.loads(ev['data'])
        expect_eq((own['type'], own['topic'], own['active']), ('Subscription', TEMPLATE, True),
                  "the watcher's own subscription")

        # A token with a mercure.payload claim.
        body = {'mercure': {'subscribe': [BOOK], 'payload': {'user': 'alice'}}}
        alice = H.make_jwt(body, s.subscriber_key, 'HS256')
        sub = s.subscribe(BOOK, headers={'Authorization': 'Bearer ' + alice})
        ev = watcher.next_event(scaled(5))
        doc = json.loads(ev['data'])
        sid = doc['subscriber']
        expect(sid.startswith('urn:uuid:'), 'subscriber id %r', sid)
        expect_eq((doc['@context'], doc['type'], doc['topic'], doc['active'], doc['payload']),
                  ('https://mercure.rocks/', 'Subscription', BOOK, True, {'user': 'alice'}),
                  'connect update')
        expect_eq(doc['id'], '%s/%s/%s' % (SUBS, enc(BOOK), enc(sid)), 'subscription IRI')

        st, hd, lst = get(s, SUBS, admin)
        expect_eq(st, 200, 'list status')
        expect_eq(hd.get('Content-Type', '').split(';')[0], 'application/ld+json', 'media type')
        expect_eq((lst['type'], lst['id']), ('Subscriptions', SUBS), 'list document')
        expect('lastEventID' in lst, 'lastEventID in %r', lst)
        topics = sorted(x['topic'] for x in lst['subscriptions'])
        expect_eq(topics, sorted([BOOK, TEMPLATE]), 'both active subscriptions listed')

        st, _, by_topic = get(s, '%s/%s' % (SUBS, enc(BOOK)), admin)
        expect_eq((st, [x['subscriber'] for x in by_topic['subscriptions']]), (200, [sid]),
                  'subscriptions of one topic')
        st, _, one = get(s, '%s/%s/%s' % (SUBS, enc(BOOK), enc(sid)), admin)
        expect_eq((st, one['subscriber'], one['active']), (200, sid, True), 'one subscription')
        st, _, _ = get(s, '%s/%s/%s' % (SUBS, enc(BOOK), enc('urn:uuid:nobody')), admin)
        expect_eq(st, 404, 'an unknown subscriber')

        st, _, _ = get(s, SUBS, None)
        expect_eq(st, 401, 'without a token')
        st, _, _ = get(s, SUBS, s.token(publish=None, subscribe=[BOOK]))
        expect_eq(st, 403, 'a token that does not cover the subscriptions IRI')

        sub.close()
        ev = watcher.next_event(scaled(10))
        doc = json.loads(ev['data'])
        expect_eq((doc['subscriber'], doc['active']), (sid, False), 'disconnect update')
        st, _, _ = get(s, '%s/%s/%s' % (SUBS, enc(BOOK), enc(sid)), admin)
        expect_eq(st, 404, 'gone from the list')

        # The updates are private: an anonymous template subscriber sees none.
        anon = s.subscribe(TEMPLATE)
        other = s.subscribe(BOOK)
        marker = s.publish_ok(SUBS + '/marker', 'public marker')
        expect_eq(anon.next_event(scaled(5))['id'], marker, 'no private subscription update')
        for c in (watcher, anon, other):
            c.close()


if __name__ == '__main__':
    H.run_tests(globals())
