#!/usr/bin/env python3
"""test_redis_nodes.py -- several hubd nodes, each behind its own lighttpd,
on one real redis-server (store = redis): every subscriber on every node
gets every update once, in one order that is the same on every node;
replay and history through any node; a node SIGKILLed while 8 publishers
post to all nodes loses nothing it or the others acknowledged for the
survivors' subscribers; Redis restarted during publishing, and down then
up (publishes 503 at once, streams stay open and catch up); a lost log
ends the streams and a reconnection gets the replay reset, never a
silent gap; retention trims the shared log; the publisher's retry rule
holds across nodes.

Skipped (exit 77) only when redis-server is not installed; in CI it is
(contrib/quickstart installs it)."""

import contextlib
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import RedisServer, Stack, expect, expect_eq, scaled  # noqa: E402

T = 'https://example.com/nodes'


@contextlib.contextmanager
def cluster(n, redis=None, prefix='hubd', extra=()):
    """n nodes (hubd + lighttpd + hub.fcgi each) on one redis-server (a
    new one unless given); yields (redis, [stacks]); stops all by pid."""
    own = redis is None
    redis = redis or RedisServer().start()
    stacks = []
    try:
        for i in range(n):
            stacks.append(Stack(name='node%d' % (i + 1),
                                extra_hubd_args=redis.hubd_args(prefix) + list(extra)).start())
        yield redis, stacks
    except BaseException:
        for s in stacks:
            s.dump_logs()
        raise
    finally:
        for s in stacks:
            s.stop(check=False)
        if own:
            redis.close()


def ids_of(events):
    return [e['id'] for e in events]


def read_ids(sub, n, timeout=20):
    return ids_of(sub.events(n, scaled(timeout)))


def expect_once_each(seq, what):
    expect(len(seq) == len(set(seq)), '%s: an update came twice: %r', what,
           [i for i in set(seq) if seq.count(i) > 1][:5])


class Resuming(threading.Thread):
    """A subscriber that behaves as EventSource does: when its stream ends
    (or is refused), it connects again -- to the next node of its list --
    with Last-Event-ID, and collects every update id it is given."""

    def __init__(self, stacks, topic=T, hop_every=0):
        super().__init__(daemon=True)
        self.stacks, self.topic = stacks, topic
        # hop_every > 0: leave after that many updates and go on at the
        # next node, as a client whose connection broke would.
        self.hop_every = hop_every
        self.ids = []
        self.resets = 0
        self.reconnects = 0
        self.stop_flag = threading.Event()
        self.ready = threading.Event()

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            stack = self.stacks[i % len(self.stacks)]
            last = self.ids[-1] if self.ids else None
            try:
                sub = stack.subscribe(self.topic, last_event_id=last, timeout=5)
            except (H.Timeout, H.Closed, OSError):
                i += 1
                time.sleep(0.1)
                continue
            with sub:
                if sub.status != 200 or sub.header('x-hubd-status'):
                    i += 1
                    time.sleep(0.1)
                    continue
                self.ready.set()
                got = 0
                while not self.stop_flag.is_set() and not (self.hop_every and
                                                           got >= self.hop_every):
                    try:
                        ev = sub.next_event(0.2)
                    except H.Timeout:
                        continue
                    except (H.Closed, OSError):
                        break
                    if ev.get('event') == 'hubd-replay-reset':
                        self.resets += 1
                    elif ev['id']:
                        self.ids.append(ev['id'])
                        got += 1
            self.reconnects += 1
            i += 1


def test_every_node_every_update_in_one_order():
    with cluster(3) as (_, nodes):
        subs = [s.subscribe(T) for s in nodes]
        for sub in subs:
            expect_eq(sub.status, 200, 'subscribe')
        acked = []
        lock = threading.Lock()

        def post(node, k):
            for j in range(10):
                uid = node.publish_ok(T, 'n%d-%d' % (k, j))
                with lock:
                    acked.append(uid)
        threads = [threading.Thread(target=post, args=(n, k)) for k, n in enumerate(nodes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = [read_ids(sub, 30) for sub in subs]
        expect_once_each(got[0], 'node 1')
        expect_eq(sorted(got[0]), sorted(acked), 'node 1 got every acknowledged update')
        expect_eq(got[1], got[0], 'node 2 delivers in the order node 1 does')
        expect_eq(got[2], got[0], 'node 3 delivers in the order node 1 does')
        end = nodes[2].publish_ok(T, 'end')
        for sub in subs:  # nothing between: no update delivered twice, late
            expect_eq(read_ids(sub, 1), [end], 'the marker next')
            sub.close()


def test_replay_through_another_node():
    with cluster(3) as (_, (a, b, c)):
        sub = a.subscribe(T)
        first = [a.publish_ok(T, 'a%d' % i) if i % 2 else b.publish_ok(T, 'b%d' % i)
                 for i in range(4)]
        expect_eq(read_ids(sub, 4), first, 'the first updates on node 1')
        sub.close()
        missed = [b.publish_ok(T, 'm%d' % i) if i % 2 else c.publish_ok(T, 'm%d' % i)
                  for i in range(5)]
        with c.subscribe(T, last_event_id=first[-1]) as again:
            expect_eq(again.status, 200, 'resubscribe on node 3')
            expect(again.header('x-hubd-replay') is None, 'no reset: the id is in the log')
            expect_eq(read_ids(again, 5), missed, 'exactly the missed updates, in order')
            live = a.publish_ok(T, 'live')
            expect_eq(read_ids(again, 1), [live], 'then the live ones')


def test_replay_races_publishes_on_other_nodes():
    """A client that leaves and comes back through another node every few
    updates, with Last-Event-ID, while 4 publishers post to the other nodes
    all along: it ends with exactly the updates, in the order, of a
    subscriber that never left -- no gap, no duplicate between replay and
    live."""
    with cluster(3) as (_, (a, b, c)):
        steady = a.subscribe(T)
        hopper = Resuming([a, b, c], hop_every=7)
        hopper.start()
        expect(hopper.ready.wait(scaled(15)), 'the hopping client connected')
        pubs = [H.Publisher((b, c)[i % 2], [T], 50, prefix='race%d' % i, stop_on_error=False,
                            delay=0.005) for i in range(4)]
        for p in pubs:
            p.start()
        for p in pubs:
            p.join(scaled(120))
        acked = [uid for p in pubs for uid, _ in p.acked]
        expect_eq(len(acked), 200, 'every publish acknowledged')
        want = read_ids(steady, 200, timeout=60)
        expect_eq(sorted(want), sorted(acked), 'the steady subscriber got every update')
        H.wait_for(lambda: len(hopper.ids) >= 200, scaled(30), 'the hopping client to catch up')
        hopper.stop_flag.set()
        hopper.join(scaled(10))
        expect(hopper.reconnects >= 10, 'the client hopped (%d times)', hopper.reconnects)
        expect_eq(hopper.resets, 0, 'no replay reset: every id was in the log')
        expect_eq(hopper.ids, want, 'the hopping client: the same updates in the same order')
        steady.close()


def test_history_on_any_node():
    with cluster(3) as (_, (a, b, c)):
        ids = [b.publish_ok(T, 'h0'), c.publish_ok(T, 'h1'), b.publish_ok(T, 'h2')]
        st, _, body = a.history(T)
        expect_eq(st, 200, 'history on node 1')
        expect_eq([u['id'] for u in body], ids, 'node 1 lists what nodes 2 and 3 stored')
        expect_eq([u['data'] for u in body], ['h0', 'h1', 'h2'], 'with their data')
        st, _, body = c.history(T, after=ids[0])
        expect_eq((st, [u['id'] for u in body]), (200, ids[1:]), 'history after an id, node 3')


def test_node_killed_mid_publish():
    with cluster(3) as (_, nodes):
        victim, survivors = nodes[0], nodes[1:]
        subs = [s.subscribe(T) for s in survivors for _ in range(2)]
        pubs = [H.Publisher(nodes[i % 3], [T], 40, prefix='k%d' % i, stop_on_error=False)
                for i in range(8)]
        for p in pubs:
            p.start()
        H.wait_for(lambda: sum(len(p.acked) for p in pubs) >= 60, scaled(30),
                   'publishes to be under way')
        victim.kill_hubd(signal.SIGKILL)
        for p in pubs:
            p.join(scaled(120))
        acked = [uid for p in pubs for uid, _ in p.acked]
        expect(len(acked) >= 60, 'publishes went through: %d', len(acked))
        expect(any(p.errors for p in pubs if p.stack is victim),
               'the killed node refused publishes after its death')
        got = []
        for sub in subs:
            seen = []
            H.wait_for(lambda: seen.extend(ids_of(sub.events(sub.pending_events() or 1,
                                                             scaled(10)))) or
                       set(acked) <= set(seen), scaled(30),
                       'every acknowledged update on the survivors')
            got.append(seen)
        for i, seen in enumerate(got):
            expect_once_each(seen, 'subscriber %d' % i)
            missing = set(acked) - set(seen)
            expect(not missing, 'subscriber %d misses %d acknowledged updates', i, len(missing))
        # Updates stored but never acknowledged (the victim's last) may be
        # there or not, but the same on every survivor, in the same order:
        # read each up to a marker published after everything.
        end = survivors[0].publish_ok(T, 'end')
        for sub, seen in zip(subs, got):
            while end not in seen:
                seen.append(sub.next_event(scaled(10))['id'])
        for i, seen in enumerate(got[1:], 1):
            expect_eq(seen, got[0], 'subscriber %d in the order of subscriber 0' % i)
        for s in subs:
            s.close()


def test_redis_restart_during_publishing():
    with cluster(2) as (redis, nodes):
        clients = [Resuming([n]) for n in nodes]
        for c in clients:
            c.start()
        for c in clients:
            expect(c.ready.wait(scaled(15)), 'subscribers connected')
        pubs = [H.Publisher(n, [T], 60, prefix='r%d' % i, stop_on_error=False, delay=0.01)
                for i, n in enumerate(nodes)]
        for p in pubs:
            p.start()
        H.wait_for(lambda: sum(len(p.acked) for p in pubs) >= 20, scaled(30),
                   'publishes to be under way')
        redis.stop(signal.SIGTERM)
        redis.start()
        for p in pubs:
            p.join(scaled(120))
        acked = [uid for p in pubs for uid, _ in p.acked]
        expect(len(acked) >= 60, 'most publishes went through: %d', len(acked))
        H.wait_for(lambda: all(set(acked) <= set(c.ids) for c in clients), scaled(30),
                   'every acknowledged update on both nodes')
        for c in clients:
            c.stop_flag.set()
        for c in clients:
            c.join(scaled(10))
        for i, c in enumerate(clients):
            expect_once_each(c.ids, 'subscriber of node %d' % (i + 1))
            expect_eq(c.resets, 0, 'no reset: the log survived (appendfsync always)')
        expect_eq(clients[1].ids, clients[0].ids, 'both nodes in one order')
        for n in nodes:
            expect(n.stats()['store_reconnects'] >= 1, 'the node reconnected to Redis')


def test_redis_down_then_up():
    with cluster(2) as (redis, (a, b)):
        sub = b.subscribe(T)
        first = a.publish_ok(T, 'before')
        expect_eq(read_ids(sub, 1), [first], 'before the outage')
        redis.stop(signal.SIGKILL)
        t0 = time.monotonic()
        st, _, body = a.publish(T, 'during')
        took = time.monotonic() - t0
        expect_eq(st, 503, 'a publish while Redis is down: %r' % body)
        expect(took < scaled(2.5), 'the 503 comes quickly (%.2f s)', took)
        t0 = time.monotonic()
        st, _, _ = a.publish(T, 'during again')
        expect(st == 503 and time.monotonic() - t0 < scaled(1.0), 'and the next one at once')
        expect(not a.stats()['store_connected'], 'stats: the store is not connected')
        time.sleep(1.0)
        expect(not sub.closed(), 'the open stream stays open')
        redis.start()
        H.wait_for(lambda: a.stats()['store_connected'] and b.stats()['store_connected'],
                   scaled(15), 'both nodes to reconnect')
        after = a.publish_ok(T, 'after')
        expect_eq(read_ids(sub, 1), [after], 'the open stream catches up')
        sub.close()


def test_lost_log_ends_streams_and_resets_replay():
    with cluster(2) as (redis, (a, b)):
        sub = b.subscribe(T)
        old = [a.publish_ok(T, 'old%d' % i) for i in range(2)]
        expect_eq(read_ids(sub, 2), old, 'before the log is lost')
        redis.command('FLUSHALL')
        a.publish_ok(T, 'new log')
        sub.wait_closed(scaled(15))  # raises Timeout when it does not end
        expect(sub.closed(), 'the stream on node 2 ends')
        H.wait_for(lambda: b.stats()['feed_resets'] >= 1, scaled(10), 'node 2 counts the reset')
        with b.subscribe(T, last_event_id=old[-1]) as again:
            expect_eq(again.status, 200, 'resubscribe')
            expect_eq(again.header('x-hubd-replay'), 'reset', 'the replay says it is a reset')
            ev = again.next_event(scaled(5))
            expect_eq(ev['event'], 'hubd-replay-reset', 'the reset event first, not a gap')
            expect_eq([e['data'] for e in again.events(1, scaled(5))], ['new log'],
                      'then what the new log holds')


def test_retention_trims_the_shared_log():
    with cluster(2, extra=('--retention-count', '5')) as (redis, (a, b)):
        ids = [(a if i % 2 else b).publish_ok(T, 'r%d' % i) for i in range(20)]
        for node in (a, b):
            st, _, body = node.history(T)
            expect_eq((st, [u['id'] for u in body]), (200, ids[-5:]), 'the last 5, on any node')
        expect_eq(redis.command('XLEN', 'hubd:log'), 5, 'the log holds 5 entries')
        expect_eq(redis.command('HLEN', 'hubd:ids'), 5, 'and 5 ids')


def test_retry_rule_across_nodes():
    with cluster(3) as (_, (a, b, c)):
        sub = c.subscribe(T)
        uid = 'urn:test:retry-across-nodes'
        st, _, body = a.publish(T, 'same', id=uid)
        expect_eq((st, body), (200, uid), 'first publish, node 1')
        st, _, body = b.publish(T, 'same', id=uid)
        expect_eq((st, body), (200, uid), 'the retry on node 2 is acknowledged')
        st, _, body = c.publish(T, 'different', id=uid)
        expect_eq(st, 409, 'the same id with other data, node 3: %r' % body)
        after = a.publish_ok(T, 'after')
        expect_eq(read_ids(sub, 2), [uid, after], 'stored and delivered once')
        expect_eq(b.stats()['duplicates'], 1, 'node 2 counted a duplicate')


if __name__ == '__main__':
    if not RedisServer.installed():
        print('# SKIPPED: %s is not installed (apt-get install redis-server)' % H.REDIS_SERVER)
        sys.exit(77)
    H.run_tests(globals())
