#!/usr/bin/env python3
"""test_subscriber_auth.py -- Mercure subscriber rules through lighttpd +
hub.fcgi + hubd: private updates reach only subscribers whose JWT
(Authorization header, ?authorization=, mercureAuthorization cookie) allows
them, live, in replay and in history; URI-template and "*" selectors; a
stream ends when its token expires; bad tokens and refused anonymous
subscribers get 401; publish claims may be templates."""

import os
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

BOOK1 = 'https://example.com/books/1'
BOOK2 = 'https://example.com/books/2'
REVIEW = 'https://example.com/books/1/reviews/7'
AUTHOR = 'https://example.com/authors/1'
BOOKS = 'https://example.com/books/{id}'


def sub_token(s, subscribe, exp=None):
    return s.token(publish=None, subscribe=subscribe, exp=exp)


def ids_of(sub, n):
    return [e['id'] for e in sub.events(n, scaled(5))]


def test_private_needs_a_token_that_allows_it():
    with Stack() as s:
        anon = s.subscribe(BOOK1)
        tok = sub_token(s, ['*'])
        by_header = s.subscribe(BOOK1, headers={'Authorization': 'Bearer ' + tok})
        by_query = s.subscribe(BOOK1, target=s.subscribe_target(
            BOOK1, extra_query='authorization=' + urllib.parse.quote(tok)))
        by_cookie = s.subscribe(BOOK1, headers={'Cookie': 'a=b; mercureAuthorization=' + tok})
        other = s.subscribe(BOOK1, headers={
            'Authorization': 'Bearer ' + sub_token(s, [AUTHOR])})
        tmpl = s.subscribe(BOOK1, headers={
            'Authorization': 'Bearer ' + sub_token(s, [BOOKS])})

        secret = s.publish_ok(BOOK1, 'secret', private=True)
        public = s.publish_ok(BOOK1, 'public')
        for name, sub in (('Authorization header', by_header), ('?authorization=', by_query),
                          ('cookie', by_cookie), ('template claim', tmpl)):
            expect_eq(ids_of(sub, 2), [secret, public], 'private + public via ' + name)
        for name, sub in (('anonymous', anon), ('a claim for another topic', other)):
            expect_eq(ids_of(sub, 1), [public], 'only the public update for ' + name)
        for sub in (anon, by_header, by_query, by_cookie, other, tmpl):
            sub.close()


def test_private_in_replay_and_history():
    with Stack() as s:
        secret = s.publish_ok(BOOK1, 'secret', private=True)
        public = s.publish_ok(BOOK1, 'public')
        auth = {'Authorization': 'Bearer ' + sub_token(s, [BOOK1])}

        anon = s.subscribe(BOOK1, last_event_id='earliest')
        expect_eq(ids_of(anon, 1), [public], 'anonymous replay skips the private update')
        rep = s.subscribe(BOOK1, last_event_id='earliest', headers=auth)
        expect_eq(ids_of(rep, 2), [secret, public], 'authorized replay includes it')

        st, _, items = s.history(BOOK1)
        expect_eq((st, [it['id'] for it in items]), (200, [public]), 'anonymous history')
        st, _, items = s.history(BOOK1, headers=auth)
        expect_eq((st, [it['id'] for it in items]), (200, [secret, public]),
                  'authorized history')
        st, _, items = s.history(BOOK1, headers={
            'Authorization': 'Bearer ' + sub_token(s, [AUTHOR])})
        expect_eq((st, [it['id'] for it in items]), (200, [public]),
                  'history with a claim for another topic')
        anon.close()
        rep.close()


def test_template_and_wildcard_selectors():
    with Stack() as s:
        tmpl = s.subscribe(BOOKS)
        every = s.subscribe('*')
        both = s.subscribe([BOOKS, BOOK1])   # matched twice: delivered once
        ids = [s.publish_ok(t, t) for t in (BOOK1, REVIEW, AUTHOR, BOOK2)]
        expect_eq(ids_of(tmpl, 2), [ids[0], ids[3]], 'the template matches books/1 and books/2')
        expect_eq(ids_of(every, 4), ids, '"*" gets every update')
        expect_eq(ids_of(both, 2), [ids[0], ids[3]], 'no duplicate through two selectors')
        end = s.publish_ok(BOOK2, 'end')
        expect_eq(ids_of(both, 1), [end], 'nothing extra was queued')

        rep = s.subscribe(BOOKS, last_event_id='earliest')
        expect_eq(ids_of(rep, 3), [ids[0], ids[3], end], 'replay with a template selector')
        st, _, items = s.history(BOOKS)
        expect_eq((st, [it['id'] for it in items]), (200, [ids[0], ids[3], end]),
                  'history with a template selector')

        # A malformed template is an exact topic, as in the Mercure hub.
        odd = 'https://example.com/{broken'
        exact = s.subscribe(odd)
        oid = s.publish_ok(odd, 'odd')
        expect_eq(ids_of(exact, 1), [oid], 'a malformed template matches itself exactly')
        for sub in (tmpl, every, both, rep, exact):
            sub.close()
        s.check_pubsub()


def test_stream_ends_when_the_token_expires():
    with Stack() as s:
        t0 = time.monotonic()   # exp counts from the token's making
        tok = sub_token(s, ['*'], exp=2)
        sub = s.subscribe(BOOK1, headers={'Authorization': 'Bearer ' + tok})
        first = s.publish_ok(BOOK1, 'before expiry', private=True)
        expect_eq(ids_of(sub, 1), [first], 'received while valid')
        clean = sub.wait_closed(scaled(6))
        took = time.monotonic() - t0
        expect(clean, 'the response must end cleanly (terminated chunks)')
        # exp is whole seconds: the token lives 1 to 2 s.
        expect(1.0 <= took <= 1 + scaled(3), 'ended %.1f s after the token was made (exp 2 s)',
               took)
        st, _, _ = s.request('GET', s.subscribe_target(BOOK1), headers={
            'Authorization': 'Bearer ' + tok})
        expect_eq(st, 401, 'subscribing with the expired token')
        sub.close()


def test_subscriber_401():
    with Stack() as s:
        target = s.subscribe_target(BOOK1)
        for name, tok in (('wrong key', s.token(subscribe=['*'], key='other-key')),
                          ('alg none', s.token(subscribe=['*'], alg='none')),
                          ('garbage', 'not.a.jwt'),
                          ('empty payload', 'eyJhbGciOiJIUzI1NiJ9..c2ln')):
            st, _, _ = s.request('GET', target, headers={'Authorization': 'Bearer ' + tok})
            expect_eq(st, 401, 'subscriber token: ' + name)
    with Stack(extra_hubd_args=['--anonymous', 'no']) as s:
        st, _, _ = s.request('GET', s.subscribe_target(BOOK1))
        expect_eq(st, 401, 'anonymous subscriber when anonymous access is off')
        st, _, _ = s.history(BOOK1)
        expect_eq(st, 401, 'anonymous history when anonymous access is off')
        sub = s.subscribe(BOOK1, headers={'Authorization': 'Bearer ' + sub_token(s, [])})
        expect_eq(sub.status, 200, 'a valid token without claims may subscribe')
        pub = s.publish_ok(BOOK1, 'hello')
        expect_eq(ids_of(sub, 1), [pub], 'and receives public updates')
        sub.close()


def test_publish_claim_templates():
    with Stack() as s:
        tok = s.token(publish=[BOOKS])
        st, _, _ = s.publish(BOOK2, 'ok', token=tok)
        expect_eq(st, 200, 'a template publish claim covers a matching topic')
        st, _, _ = s.publish(AUTHOR, 'no', token=tok)
        expect_eq(st, 403, 'and not another one')
        st, _, _ = s.publish([BOOK1, AUTHOR], 'no', token=tok)
        expect_eq(st, 403, 'every topic of the update must be covered')


def test_rs256_end_to_end():
    """RSA keys: hubd verifies RS256 tokens with the public key files; an
    HS256 token "signed" with the public key's text is refused."""
    with Stack() as s:
        priv = os.path.join(s.tmpdir, 'rsa.pem')
        pub = os.path.join(s.tmpdir, 'rsa.pub')
        subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
                        'rsa_keygen_bits:2048', '-out', priv], check=True, capture_output=True)
        subprocess.run(['openssl', 'pkey', '-in', priv, '-pubout', '-out', pub],
                       check=True, capture_output=True)
        s.kill_hubd(signal.SIGTERM)
        s.extra_hubd_args += ['--publisher-key-file', pub, '--subscriber-key-file', pub]
        s.start_hubd()

        def rs_token(*args):
            r = s.hubctl('token', '-K', priv, *args)
            expect_eq(r.returncode, 0, 'hubctl token -K: %s' % r.stderr)
            return r.stdout.strip()
        sub = s.subscribe(BOOK1, headers={
            'Authorization': 'Bearer ' + rs_token('--subscribe', BOOK1)})
        st, _, pid = s.publish(BOOK1, 'rsa', private=True, token=rs_token('--publish', '*'))
        expect_eq(st, 200, 'an RS256 publish')
        expect_eq(ids_of(sub, 1), [pid], 'a private update to an RS256 subscriber')
        with open(pub) as f:
            confused = H.make_jwt({'mercure': {'publish': ['*']}}, f.read(), 'HS256')
        st, _, msg = s.publish(BOOK1, 'x', token=confused)
        expect_eq(st, 401, 'HS256 signed with the public key text (algorithm confusion): %s' % msg)
        st, _, _ = s.publish(BOOK1, 'x', token=s.token())
        expect_eq(st, 401, 'an HS256 token once RSA keys are configured')
        sub.close()


if __name__ == '__main__':
    H.run_tests(globals())
