#!/usr/bin/env python3
"""test_mercure08_auth.py -- Mercure 1.0 (draft-08) access tokens and URL
patterns on a real hub behind lighttpd: tokens made by hubctl token --at
(Ed25519 and HS256 issuers, keys made by openssl here), grants in
authorization_details for private updates (exact and URL pattern, live,
in replay and in history), the token cookie, publishing with grants and
draft-08's publish rules, every RFC 6750 answer with its challenge, the
stream closed at the token's exp, match_urlpattern routing (absolute and
relative), and draft-07 tokens beside them."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

ISS = 'https://issuer.example'
ISS_HS = 'https://hs.example'
BOOKS = 'https://example.com/books/'
METADATA = '/.well-known/oauth-protected-resource/.well-known/mercure'


class Keys:
    """An Ed25519 key pair and an HS256 secret, in files of a temporary
    folder (removed at the end)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='hubd-at-')
        self.private = os.path.join(self.dir, 'ed25519.pem')
        self.public = os.path.join(self.dir, 'ed25519.pub.pem')
        self.other = os.path.join(self.dir, 'other.pem')
        self.secret = os.path.join(self.dir, 'hs256.key')
        for path in (self.private, self.other):
            subprocess.run(['openssl', 'genpkey', '-algorithm', 'ed25519', '-out', path],
                           check=True, capture_output=True)
        subprocess.run(['openssl', 'pkey', '-in', self.private, '-pubout', '-out', self.public],
                       check=True, capture_output=True)
        with open(self.secret, 'w') as f:
            f.write('a shared secret of more than thirty-two bytes, for HS256')

    def close(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


KEYS = None


def stack(**kw):
    args = ['--token-issuer', '%s %s' % (ISS, KEYS.public),
            '--token-issuer', '%s %s' % (ISS_HS, KEYS.secret)] + kw.pop('args', [])
    return Stack(extra_hubd_args=args, **kw)


def mint(s, *args, key=None, issuer=ISS, audience=None, ttl=3600):
    """hubctl token --at with the stack's URL as audience."""
    argv = ['token', '--at', '--issuer', issuer, '--audience',
            audience or s.base_url + H.HUB_PATH, '--key-file', key or KEYS.private,
            '--ttl', str(ttl)] + list(args)
    r = s.hubctl(*argv)
    expect_eq(r.returncode, 0, 'hubctl token --at: %s' % r.stderr)
    return r.stdout.strip()


def target(pairs):
    return H.HUB_PATH + '?' + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


def sub08(s, pairs, token=None, cookie=None, **kw):
    h = dict(kw.pop('headers', {}))
    if token:
        h['Authorization'] = 'Bearer ' + token
    if cookie:
        h['Cookie'] = cookie
    return s.subscribe(None, target=target(pairs), headers=h, **kw)


def get(s, pairs, headers=None):
    h = {'Accept': 'text/event-stream'}
    h.update(headers or {})
    return s.request('GET', target(pairs), headers=h)


def publish08(s, topics, data='x', token=None, **kw):
    return s.publish(topics, data, token=token, **kw)


def test_private_with_grants():
    """A private update reaches a draft-08 subscriber whose token grants
    subscribe on one of its topics (exact or URL pattern, header or
    cookie), and no one else."""
    with stack() as s:
        exact = mint(s, '--subscribe', BOOKS + '1')
        pattern = mint(s, '--subscribe-urlpattern', BOOKS + ':id')
        other = mint(s, '--subscribe', BOOKS + '2')
        anon = sub08(s, [('match', BOOKS + '1')])
        a = sub08(s, [('match', BOOKS + '1')], token=exact)
        b = sub08(s, [('match', BOOKS + '1')], token=pattern)
        c = sub08(s, [('match', BOOKS + '1')], token=other)
        d = sub08(s, [('match', BOOKS + '1')],
                  cookie='x=1; __Secure-mercure_access_token=%s; y=2' % exact)
        for st in (anon, a, b, c, d):
            expect_eq(st.status, 200, 'stream status')
        secret = s.publish_ok(BOOKS + '1', 'secret', private=True)
        public = s.publish_ok(BOOKS + '1', 'public')
        for name, st in (('exact grant', a), ('URL pattern grant', b), ('cookie', d)):
            expect_eq([e['id'] for e in st.events(2, scaled(5))], [secret, public], name)
        for name, st in (('anonymous', anon), ('other grant', c)):
            expect_eq(st.next_event(scaled(5))['id'], public, name + ': only the public one')
        # An alternate topic carries the grant (the spec's example).
        alt = mint(s, '--subscribe-urlpattern', 'https://example.com/users/42/*')
        e = sub08(s, [('match_urlpattern', BOOKS + ':id')], token=alt)
        via = s.publish_ok([BOOKS + '3', 'https://example.com/users/42/books/3'], 'via alt',
                           private=True)
        expect_eq(e.next_event(scaled(5))['id'], via, 'granted through the alternate topic')


def test_replay_and_history_recheck_the_token():
    """Replayed private updates follow the token presented now; history
    too."""
    with stack() as s:
        first = s.publish_ok(BOOKS + '1', 'public first')
        secret = s.publish_ok(BOOKS + '1', 'secret', private=True)
        last = s.publish_ok(BOOKS + '1', 'public last')
        granted = mint(s, '--subscribe', BOOKS + '1')
        other = mint(s, '--subscribe', BOOKS + '9')
        a = sub08(s, [('match', BOOKS + '1'), ('last_event_id', first)], token=granted)
        expect_eq([e['id'] for e in a.events(2, scaled(5))], [secret, last], 'granted replay')
        b = sub08(s, [('match', BOOKS + '1'), ('last_event_id', first)], token=other)
        expect_eq(b.next_event(scaled(5))['id'], last, 'replay without the grant')
        st, _, hist = s.history(BOOKS + '1', headers={'Authorization': 'Bearer ' + granted})
        expect_eq((st, [u['id'] for u in hist]), (200, [first, secret, last]), 'history')
        st, _, hist = s.history(BOOKS + '1', headers={'Authorization': 'Bearer ' + other})
        expect_eq((st, [u['id'] for u in hist]), (200, [first, last]), 'history, no grant')


def test_rfc6750_answers():
    """No token: 401 with a Bearer challenge naming the metadata and no
    error; a bad token: invalid_token; a token without the grant: 403
    insufficient_scope; a token in the query: 400 invalid_request."""
    with stack(args=['--anonymous', 'no']) as s:
        meta = 'resource_metadata="%s%s"' % (s.base_url, METADATA)
        st, h, _ = get(s, [('match', BOOKS + '1')])
        expect_eq(st, 401, 'no token')
        expect_eq(h['WWW-Authenticate'], 'Bearer ' + meta, 'challenge without an error')
        bad = [
            ('another key', mint(s, '--subscribe', '*', key=KEYS.other)),
            ('another audience', mint(s, '--subscribe', '*', audience='https://other.example/')),
            ('an unknown issuer', mint(s, '--subscribe', '*', issuer='https://nobody.example',
                                       key=KEYS.private)),
            ('a draft-07 JWT', s.token(subscribe=['*'])),
            ('garbage', 'not.a.token'),
        ]
        for name, tok in bad:
            st, h, _ = get(s, [('match', BOOKS + '1')], {'Authorization': 'Bearer ' + tok})
            expect_eq(st, 401, name)
            expect_eq(h['WWW-Authenticate'], 'Bearer error="invalid_token", ' + meta, name)
        st, h, _ = get(s, [('match', BOOKS + '1'), ('authorization', 'x.y.z')])
        expect_eq((st, h['WWW-Authenticate']), (400, 'Bearer error="invalid_request"'),
                  'a token in the query')
        st, h, _ = get(s, [('match', BOOKS + '1')], {'Authorization': 'Basic dTpw'})
        expect_eq((st, h['WWW-Authenticate']), (400, 'Bearer error="invalid_request"'),
                  'not a Bearer token')
        # Publishing without the grant for every topic.
        pub = mint(s, '--publish', BOOKS + '1')
        st, h, _ = publish08(s, [BOOKS + '1', BOOKS + '2'], token=pub)
        expect_eq((st, h['WWW-Authenticate']),
                  (403, 'Bearer error="insufficient_scope", ' + meta), 'one topic not granted')
        st, h, _ = publish08(s, BOOKS + '1', token=mint(s, '--publish', '*', key=KEYS.other))
        expect_eq((st, h['WWW-Authenticate']), (401, 'Bearer error="invalid_token", ' + meta),
                  'a publisher token with a bad signature')
        # Draft-07 keeps its own answers.
        st, h, _ = s.request('GET', H.HUB_PATH + '?topic=x', headers={'Accept': 'text/plain'})
        expect_eq((st, h['WWW-Authenticate']), (401, 'Bearer realm="hubd"'), 'draft-07')


def test_publish_with_grants_and_rules():
    """A draft-08 publisher needs a grant for every topic; draft-08's own
    rules refuse *, the hub's path, type mercure and id earliest (400)
    whatever the grant."""
    with stack() as s:
        pub = mint(s, '--publish-urlpattern', 'https://example.com/*', '--publish', 'urn:x')
        every = mint(s, '--publish', '*')
        sub = sub08(s, [('match', BOOKS + '5')])
        st, h, body = publish08(s, [BOOKS + '5', 'urn:x'], token=pub)
        expect_eq(st, 200, 'granted publish: %s' % body)
        expect_eq(h['Content-Type'], 'text/plain; charset=utf-8', 'content type')
        expect_eq(sub.next_event(scaled(5))['id'], body, 'delivered')
        refused = [
            (['*'], {}), (['/.well-known/mercure/subscriptions/x'], {}),
            (['https://hub.example/.well-known/%6Dercure/x'], {}),
            (['https://h.example/a/../.well-known/mercure'], {}),
            ([BOOKS + '5'], {'type': 'mercure'}), ([BOOKS + '5'], {'id': 'earliest'}),
            ([BOOKS + '5', 'a\u200bb'], {}),
        ]
        for topics, extra in refused:
            st, _, body = s.publish(topics, 'x', token=every, **extra)
            expect_eq(st, 400, 'refused %r %r: %s' % (topics, extra, body))
        # Draft-07 publishers keep draft-07's rules.
        st, _, body = s.publish(BOOKS + '5', 'x', type='mercure')
        expect_eq(st, 200, 'draft-07 publish with type mercure: %s' % body)


def test_stream_ends_at_exp():
    """The stream of a subscriber with a token ends at its exp."""
    with stack() as s:
        tok = mint(s, '--subscribe', '*', ttl=2)
        t0 = time.monotonic()
        sub = sub08(s, [('match', BOOKS + '1')], token=tok)
        expect(sub.wait_closed(scaled(6)), 'the stream ended cleanly')
        took = time.monotonic() - t0
        expect(took <= scaled(4), 'ended %.1f s after it opened (exp 2 s)' % took)


def test_urlpattern_routing():
    """match_urlpattern selects topics by pattern; relative patterns and
    topics resolve against the hub's URL; a bad pattern is 400."""
    with stack(args=['--resource', 'https://hub.example/.well-known/mercure']) as s:
        abs_ = sub08(s, [('match_urlpattern', BOOKS + ':id(\\d+)')])
        rel = sub08(s, [('match_urlpattern', '/books/:id')])
        s.publish_ok(BOOKS + 'x1', 'not digits')
        s.publish_ok('https://example.com/authors/1', 'not a book')
        one = s.publish_ok(BOOKS + '1', 'a book')
        two = s.publish_ok('/books/2', 'a relative topic')
        three = s.publish_ok('https://hub.example/books/3', 'the hub host')
        expect_eq(abs_.next_event(scaled(5))['id'], one, 'absolute pattern')
        expect_eq([e['id'] for e in rel.events(2, scaled(5))], [two, three],
                  'relative pattern: relative topic and the hub host')
        # A pathological regexp group: cut off by the cost limit, counted,
        # no match, and the stream stays.
        expect_eq(s.stats()['urlpattern_aborted'], 0, 'no match cut off yet')
        slow = sub08(s, [('match_urlpattern', '/x/:v((?:a+)+b)')])
        s.publish_ok('/x/' + 'a' * 40 + '!b', 'would take forever to match')
        marker = s.publish_ok('/books/4', 'marker')
        expect_eq(rel.next_event(scaled(5))['id'], marker, 'delivery goes on')
        H.wait_for(lambda: s.stats()['urlpattern_aborted'] >= 1, scaled(5),
                   'the cut-off match counted')
        expect(not slow.closed(), 'the pathological subscriber keeps its stream')
        for bad in ('https://example.com/(', '/books/:id(', '{', '/a/(?<x>b)'):
            st, _, body = get(s, [('match_urlpattern', bad)])
            expect_eq(st, 400, 'bad pattern %r: %s' % (bad, body))


def test_metadata():
    """The RFC 9728 metadata document: the resource (the request's hub URL,
    or the resource setting), the detail type, header bearer method, the
    cookie, the matcher types, subscriptions when on; the address in every
    challenge serves it."""
    with stack(args=['--subscriptions', 'yes']) as s:
        st, _, _ = get(s, [('match', BOOKS + '1')], {'Authorization': 'Bearer x.y.z'})
        st, h, _ = get(s, [('match', BOOKS + '1')], {'Authorization': 'Bearer x.y.z'})
        url = h['WWW-Authenticate'].split('resource_metadata="')[1].rstrip('"')
        expect_eq(url, s.base_url + METADATA, 'the challenge names the metadata')
        st, h, body = s.request('GET', METADATA)
        expect_eq((st, h['Content-Type']), (200, 'application/json'), 'metadata: %r' % body)
        doc = json.loads(body)
        expect_eq(doc, {
            'resource': s.base_url + H.HUB_PATH,
            'authorization_details_types_supported':
                ['https://mercure.rocks/authorization-detail'],
            'bearer_methods_supported': ['header'],
            'mercure_cookie': '__Secure-mercure_access_token',
            'mercure_matcher_types_supported': ['exact', 'urlpattern'],
            'mercure_subscriptions': True,
        }, 'the document')
        st, _, _ = s.request('POST', METADATA, body='x')
        expect_eq(st, 405, 'POST to the metadata')
    with stack(args=['--resource', 'https://hub.example/.well-known/mercure',
                     '--token-cookie', 'at']) as s:
        doc = json.loads(s.request('GET', METADATA)[2])
        expect_eq((doc['resource'], doc['mercure_cookie'], 'mercure_subscriptions' in doc),
                  ('https://hub.example/.well-known/mercure', 'at', False),
                  'resource and cookie from the settings')


def test_subscriptions_api_and_events():
    """Draft-08 subscription events (one per matcher, on
    /subscriptions/{match_type}/{match}/{subscriber}, private, event type
    mercure, plain JSON) and the JSON API with the cursor in the Link
    header; a draft-07 token keeps the draft-07 API."""
    SUBS = H.HUB_PATH + '/subscriptions'
    q = lambda v: urllib.parse.quote(v, safe='')  # noqa: E731
    with stack(args=['--subscriptions', 'yes']) as s:
        # (the collection itself needs its own matcher: /* needs a slash)
        watch = mint(s, '--subscribe-urlpattern', SUBS + '/*', '--subscribe', SUBS)
        watcher = sub08(s, [('match_urlpattern', SUBS + '/*')], token=watch)
        own = watcher.next_event(scaled(5))  # its own subscription, first
        expect_eq(own['event'], 'mercure', 'the event type')
        pattern = BOOKS + ':id'
        # (a's token ends its stream in 6 s: the end events come then)
        who = mint(s, '--subscribe', BOOKS + '1', '--payload', '{"tenant":"t1"}', ttl=6)
        a = sub08(s, [('match', BOOKS + '1'), ('match_urlpattern', pattern)], token=who)
        evs = [watcher.next_event(scaled(5)) for _ in range(2)]
        docs = [json.loads(e['data']) for e in evs]
        subscriber = docs[0]['subscriber']
        expect_eq([(d['match_type'], d['match'], d['active']) for d in docs],
                  [('exact', BOOKS + '1', True), ('urlpattern', pattern, True)], 'the events')
        for e, d in zip(evs, docs):
            expect_eq(e['event'], 'mercure', 'event type')
            expect_eq(d['id'], '%s/%s/%s/%s' % (SUBS, d['match_type'], q(d['match']),
                                                q(subscriber)), 'id: the topic, encoded once')
            expect_eq(d['type'], 'subscription', 'type')
            expect_eq(d['subscriber'], subscriber, 'one subscriber for both')
        expect_eq(docs[0].get('payload'), {'tenant': 't1'}, 'the grant payload')
        # The API: the collection, one matcher's, one subscription.
        auth = {'Authorization': 'Bearer ' + watch}
        st, h, body = s.request('GET', SUBS, headers=auth)
        expect_eq((st, h['Content-Type']), (200, 'application/json'), 'collection: %s' % body)
        coll = json.loads(body)
        expect_eq((coll['id'], coll['type']), (SUBS, 'subscriptions'), 'collection id, type')
        expect_eq(len(coll['subscriptions']), 3, 'the watcher and a\'s two')
        link = h['Link']
        expect(link.startswith('<%s%s>; rel="mercure"; last-event-id="' % (s.base_url, H.HUB_PATH))
               and 'type="mercure"' in link, 'the Link header: %r' % link)
        path = '%s/urlpattern/%s' % (SUBS, q(pattern))
        st, _, body = s.request('GET', path, headers=auth)
        expect_eq((st, [x['match'] for x in json.loads(body)['subscriptions']]), (200, [pattern]),
                  'one matcher\'s collection')
        st, _, body = s.request('GET', path + '/' + q(subscriber), headers=auth)
        expect_eq((st, json.loads(body)), (200, docs[1]), 'one subscription: the event document')
        st, _, _ = s.request('GET', path + '/urn%3Anobody', headers=auth)
        expect_eq(st, 404, 'an unknown subscriber')
        st, _, _ = s.request('GET', SUBS + '/regex/x', headers=auth)
        expect_eq(st, 404, 'an unknown matcher type')
        narrow = mint(s, '--subscribe', SUBS + '/exact/x')
        st, h, _ = s.request('GET', SUBS, headers={'Authorization': 'Bearer ' + narrow})
        expect_eq((st, h['WWW-Authenticate'].split(',')[0]),
                  (403, 'Bearer error="insufficient_scope"'), 'a token not covering it')
        # A draft-07 token: the draft-07 API (JSON-LD).
        st, h, body = s.request('GET', SUBS, headers={
            'Authorization': 'Bearer ' + s.token(publish=None, subscribe=['*'])})
        expect_eq((st, h['Content-Type'], json.loads(body)['type']),
                  (200, 'application/ld+json', 'Subscriptions'), 'draft-07 API')
        # a's stream ends (its token's exp): both subscriptions end.
        expect(a.wait_closed(scaled(10)), 'a ended at its exp')
        gone = [json.loads(watcher.next_event(scaled(5))['data']) for _ in range(2)]
        expect_eq(sorted((d['match_type'], d['active']) for d in gone),
                  [('exact', False), ('urlpattern', False)], 'the end events')


def test_per_token_cap():
    """max-streams-per-token: a token's third stream is refused (429; an
    EventSource gets the retry answer), another token's is not, and a place
    comes back when one of the token's streams goes."""
    with stack(args=['--max-streams-per-token', '2']) as s:
        tok = mint(s, '--subscribe', '*')
        subs = [sub08(s, [('match', BOOKS + str(i))], token=tok) for i in range(2)]
        st, _, body = s.request('GET', target([('match', BOOKS + 'x')]),
                                headers={'Authorization': 'Bearer ' + tok, 'Accept': '*/*'})
        expect_eq(st, 429, 'the third stream of one token: %s' % body)
        third = sub08(s, [('match', BOOKS + 'x')], token=tok, wait_ok=False)
        expect_eq((third.status, third.header('x-hubd-status')), (200, '429'),
                  'an EventSource: the retry answer')
        third.close()
        other = sub08(s, [('match', BOOKS + 'x')], token=mint(s, '--subscribe', '*'))
        expect_eq(other.status, 200, 'another token')
        expect(s.stats()['refused_token'] >= 2, 'counted: %r' % s.stats()['refused_token'])
        subs[0].close()

        def place_back():
            again = sub08(s, [('match', BOOKS + 'y')], token=tok, wait_ok=False)
            ok = again.status == 200 and again.header('x-hubd-status') is None
            again.close()
            return ok
        H.wait_for(place_back, scaled(15), 'a place for the token once a stream went',
                   interval=0.5)


def test_draft07_off():
    """draft-07 = no: topic subscriptions get 400, draft-07 JWTs 401
    invalid_token; draft-08 goes on."""
    with stack(args=['--draft-07', 'no']) as s:
        meta = 'resource_metadata="%s%s"' % (s.base_url, METADATA)
        st, _, body = s.request('GET', H.HUB_PATH + '?topic=' + urllib.parse.quote(BOOKS + '1'),
                                headers={'Accept': 'text/event-stream'})
        expect_eq(st, 400, 'a topic subscription: %s' % body)
        expect('match' in body, 'the answer says what to use: %r' % body)
        st, h, _ = s.publish(BOOKS + '1', 'x')  # the harness's draft-07 JWT
        expect_eq((st, h['WWW-Authenticate']), (401, 'Bearer error="invalid_token", ' + meta),
                  'a draft-07 publisher')
        sub = sub08(s, [('match', BOOKS + '1')])
        uid = s.publish_ok(BOOKS + '1', 'x', token=mint(s, '--publish', '*'))
        expect_eq(sub.next_event(scaled(5))['id'], uid, 'draft-08 on a draft-08-only hub')


if __name__ == '__main__':
    KEYS = Keys()
    try:
        H.run_tests(globals())
    finally:
        KEYS.close()
