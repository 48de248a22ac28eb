"""bench.py -- the hubd benchmark (make bench): fan-out, memory per idle subscriber, publish rate.

Starts the real stack (hubd behind lighttpd with hub.fcgi, through
tests/integration/harness.py) once per scenario and round, drives it with
tests/bench/loadgen, and prints a table of figures with the median of the
rounds. It measures; it never asserts. The exit status is 1 only when a
round could not be run at all (the benchmark itself is broken).

Environment (all optional):
    HUBD_BUILDDIR, HUBD_SRCDIR  build and source trees (as for the tests)
    BENCH_QUICK=1               short smoke run (~30 s) with small numbers
    BENCH_ROUNDS                rounds per scenario (default 3, quick 1)
    BENCH_SCENARIOS             comma list of fanout,idle,publish (default all)
    BENCH_FANOUT_SUBS           (1) subscribers (default 1000)
    BENCH_FANOUT_RATE           (1) updates per second (default 100)
    BENCH_FANOUT_SECONDS        (1) seconds of publishing (default 10)
    BENCH_FANOUT_PUB_CONNS      (1) publishing connections (default 16)
    BENCH_IDLE_SUBS             (2) idle subscribers (default 5000)
    BENCH_PUB_CONNS             (3) closed-loop publishers (default 8)
    BENCH_PUB_SECONDS           (3) seconds (default 10)
    BENCH_SUBS_PER_PROC         subscribers per loadgen process (default 4000, quick 250)
    BENCH_JSON=PATH             also write every raw result there as JSON
    BENCH_HUBD_ARGS             extra hubd options for every run, e.g. '--sync normal'
    LOADGEN                     a prebuilt loadgen binary to use
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get('HUBD_SRCDIR') or os.path.join(HERE, '..', '..'))


def _default_builddir():
    if os.environ.get('HUBD_BUILDDIR'):
        return os.environ['HUBD_BUILDDIR']
    if os.access(os.path.join(os.getcwd(), 'hubd', 'hubd'), os.X_OK):
        return os.getcwd()
    return SRCDIR


BUILDDIR = os.path.abspath(_default_builddir())
os.environ['HUBD_SRCDIR'] = SRCDIR
os.environ['HUBD_BUILDDIR'] = BUILDDIR
sys.path.insert(0, os.path.join(SRCDIR, 'tests', 'integration'))

import harness  # noqa: E402  (needs the environment above)
from harness import Stack, stop_process, child_pids  # noqa: E402

HUB_PATH = '/.well-known/mercure'
QUICK = os.environ.get('BENCH_QUICK', '') not in ('', '0', 'no')


def env_int(name, default, quick):
    v = os.environ.get(name)
    return int(v) if v else (quick if QUICK else default)


HUBD_ARGS = tuple(os.environ.get('BENCH_HUBD_ARGS', '').split())

ROUNDS = env_int('BENCH_ROUNDS', 3, 1)
FANOUT_SUBS = env_int('BENCH_FANOUT_SUBS', 1000, 100)
FANOUT_RATE = env_int('BENCH_FANOUT_RATE', 100, 50)
FANOUT_SECONDS = env_int('BENCH_FANOUT_SECONDS', 10, 3)
FANOUT_PUB_CONNS = env_int('BENCH_FANOUT_PUB_CONNS', 16, 16)
IDLE_SUBS = env_int('BENCH_IDLE_SUBS', 5000, 500)
PUB_CONNS = env_int('BENCH_PUB_CONNS', 8, 8)
PUB_SECONDS = env_int('BENCH_PUB_SECONDS', 10, 3)
SUBS_PER_PROC = env_int('BENCH_SUBS_PER_PROC', 4000, 250)
SCENARIOS = [x.strip() for x in
             os.environ.get('BENCH_SCENARIOS', 'fanout,idle,publish').split(',') if x.strip()]
CLK_TCK = os.sysconf('SC_CLK_TCK')


# ---- the load generator -------------------------------------------------------

def find_loadgen(tmp):
    """The loadgen binary: $LOADGEN, the one `make bench` built, or one
    compiled here from tests/bench/loadgen.c when that is missing or stale."""
    if os.environ.get('LOADGEN'):
        return os.environ['LOADGEN']
    src = os.path.join(SRCDIR, 'tests', 'bench', 'loadgen.c')
    built = os.path.join(BUILDDIR, 'tests', 'bench', 'loadgen')
    if os.access(built, os.X_OK) and os.path.getmtime(built) >= os.path.getmtime(src):
        return built
    out = os.path.join(tmp, 'loadgen')
    cc = os.environ.get('CC', 'cc')
    subprocess.run([cc, '-std=gnu11', '-O2', '-Wall', '-Wextra', '-o', out, src], check=True)
    return out


_next_source = [0]


def next_sources(n):
    """n loopback source addresses 127.0.0.2 .. 127.0.0.254, a fresh set each
    call (so connections of one round never meet the TIME_WAITs of another)."""
    out = []
    for _ in range(n):
        out.append('127.0.0.%d' % (2 + _next_source[0] % 253))
        _next_source[0] += 1
    return out


class Procs:
    """Every loadgen this run starts, so each is stopped by pid at the end."""

    def __init__(self):
        self.procs = []

    def start(self, argv, out_path, err_path):
        with open(out_path, 'wb') as out, open(err_path, 'wb') as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            stop_process(p, 5)
        self.procs = []


def read_report(out_path, err_path):
    """The JSON line a loadgen printed, or {'error': ...}."""
    try:
        with open(out_path) as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        return json.loads(lines[-1])
    except (OSError, ValueError, IndexError):
        try:
            with open(err_path, errors='replace') as f:
                tail = f.read()[-500:]
        except OSError:
            tail = ''
        return {'error': 'loadgen printed no report: ' + tail.strip()}


class Subscribers:
    """A group of loadgen subscribe processes, SUBS_PER_PROC each at most,
    each on its own 127.0.0.x source addresses."""

    def __init__(self, procs, tmp, tag, url, topic, count, duration, expect=0):
        nproc = max(1, -(-count // SUBS_PER_PROC))
        self.groups = []
        for k in range(nproc):
            n = count // nproc + (1 if k < count % nproc else 0)
            base = os.path.join(tmp, '%s-%d' % (tag, k))
            argv = [LOADGEN, 'subscribe', '--url', url, '--topic', topic,
                    '--count', str(n), '--source', ','.join(next_sources(2)),
                    '--duration', str(duration), '--ready-file', base + '.ready', '--hist']
            if expect:
                argv += ['--expect', str(expect)]
            p = procs.start(argv, base + '.out', base + '.err')
            self.groups.append({'proc': p, 'base': base})

    def wait_ready(self, timeout):
        """Waits until every process has tried all its connections; returns
        (connected, failed) as they reported then."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [g for g in self.groups
                       if not os.path.exists(g['base'] + '.ready') and g['proc'].poll() is None]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        connected = failed = 0
        for g in self.groups:
            try:
                with open(g['base'] + '.ready') as f:
                    r = json.load(f)
                connected += r['connected']
                failed += r['failed']
            except (OSError, ValueError):
                pass
        return connected, failed

    def wait_exit(self, timeout):
        """Waits up to timeout for every process to finish by itself."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(g['proc'].poll() is not None for g in self.groups):
                return True
            time.sleep(0.02)
        return False

    def finish(self):
        """Stops the processes (SIGTERM makes them report) and merges the reports."""
        for g in self.groups:
            stop_process(g['proc'], 10)
        reports = [read_report(g['base'] + '.out', g['base'] + '.err') for g in self.groups]
        return merge_subscribe(reports)


def merge_subscribe(reports):
    errors = [r['error'] for r in reports if 'error' in r]
    reports = [r for r in reports if 'error' not in r]
    m = {'processes': len(reports) + len(errors)}
    if errors:
        m['error'] = '; '.join(errors)
    if not reports:
        return m
    for k in ('requested', 'connected', 'failed', 'disconnected', 'deliveries', 'missing',
              'duplicates', 'out_of_order', 'other_events', 'bytes'):
        m[k] = sum(r[k] for r in reports)
    m['deliveries_per_s'] = sum(r['deliveries_per_s'] for r in reports)
    m['cpu_pct'] = sum(100.0 * r['cpu_s'] / r['elapsed_s'] for r in reports if r['elapsed_s'] > 0)
    m['connect_ms'] = max(r['connect_ms'] for r in reports)
    m['connect_p99_ms'] = max(r['connect_p99_ms'] for r in reports)
    hist = {}
    for r in reports:
        for v, n in r.get('latency_hist_us', []):
            hist[v] = hist.get(v, 0) + n
    total = sum(hist.values())
    for name, p in (('p50', 0.50), ('p90', 0.90), ('p99', 0.99)):
        m['latency_%s_ms' % name] = quantile(hist, total, p) / 1000.0 if total else None
    m['latency_max_ms'] = max(r['latency_max_ms'] for r in reports) if total else None
    m['first_error'] = next((r['first_error'] for r in reports if r.get('first_error')), '')
    return m


def quantile(hist, total, p):
    want = max(1, -(-int(p * total * 1000000) // 1000000))
    seen = 0
    for v in sorted(hist):
        seen += hist[v]
        if seen >= want:
            return v
    return max(hist)


def run_publisher(procs, tmp, tag, url, token, seconds, conns, rate=None):
    base = os.path.join(tmp, tag)
    argv = [LOADGEN, 'publish', '--url', url, '--topic', TOPIC, '--token', token,
            '--duration', str(seconds), '--conns', str(conns)]
    argv += ['--rate', str(rate)] if rate else ['--closed-loop']
    p = procs.start(argv, base + '.out', base + '.err')
    try:
        p.wait(seconds + 30)
    except subprocess.TimeoutExpired:
        stop_process(p, 5)
    return read_report(base + '.out', base + '.err')


# ---- what the stack's processes use --------------------------------------------

def cpu_seconds(pid):
    """utime + stime of pid in seconds (from /proc/PID/stat), or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def rss_kb(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def fcgi_pids(s):
    return sorted(set(s.fcgi_pids) | set(child_pids(s.lighttpd_pid)))


def cpu_snapshot(s):
    """CPU seconds used so far by hubd, lighttpd and the hub.fcgi processes."""
    fc = {pid: cpu_seconds(pid) for pid in fcgi_pids(s)}
    return {'hubd': cpu_seconds(s.hubd_pid), 'lighttpd': cpu_seconds(s.lighttpd_pid),
            'fcgi': fc, 't': time.monotonic()}


def cpu_delta(a, b):
    """CPU seconds between two snapshots, per process group."""
    d = {}
    for k in ('hubd', 'lighttpd'):
        d[k] = b[k] - a[k] if a[k] is not None and b[k] is not None else None
    d['fcgi'] = sum(b['fcgi'][p] - a['fcgi'][p] for p in b['fcgi']
                    if a['fcgi'].get(p) is not None and b['fcgi'][p] is not None)
    d['wall'] = b['t'] - a['t']
    return d


def per_unit_us(seconds, units):
    if seconds is None or not units:
        return None
    return seconds * 1e6 / units


def percent(seconds, wall):
    if seconds is None or not wall:
        return None
    return 100.0 * seconds / wall


# ---- scenarios ------------------------------------------------------------------

TOPIC = 'https://bench.example/updates'


def scenario_fanout(rnd, tmp, procs):
    """(1) FANOUT_SUBS subscribers, FANOUT_RATE updates/s for FANOUT_SECONDS."""
    total = FANOUT_RATE * FANOUT_SECONDS
    with Stack(extra_hubd_args=HUBD_ARGS) as s:
        url = s.base_url + HUB_PATH
        subs = Subscribers(procs, tmp, 'fanout%d' % rnd, url, TOPIC, FANOUT_SUBS,
                           duration=FANOUT_SECONDS + 90, expect=total)
        connected, failed = subs.wait_ready(60)
        c0 = cpu_snapshot(s)
        pub = run_publisher(procs, tmp, 'fanout%d-pub' % rnd, url, s.token(publish=['*']),
                            FANOUT_SECONDS, FANOUT_PUB_CONNS, rate=FANOUT_RATE)
        # Subscribers leave by themselves once they hold every update; give
        # the stragglers a few seconds after the last publish.
        subs.wait_exit(5)
        c1 = cpu_snapshot(s)
        sub = subs.finish()
    cpu = cpu_delta(c0, c1)
    dl = sub.get('deliveries', 0)
    # Subscribers count missing against --expect (every update scheduled);
    # updates the publisher never got acknowledged are not the hub's loss.
    missing = sub.get('missing')
    if missing is not None and pub.get('acked') is not None:
        missing = max(0, missing - (total - pub['acked']) * (sub.get('connected') or 0))
    return {
        'connected': sub.get('connected'),
        'connect_ms': sub.get('connect_ms'),
        'published': pub.get('acked'),
        'publish_errors': pub.get('errors'),
        'deliveries': dl,
        'deliveries_per_s': sub.get('deliveries_per_s'),
        'latency_p50_ms': sub.get('latency_p50_ms'),
        'latency_p90_ms': sub.get('latency_p90_ms'),
        'latency_p99_ms': sub.get('latency_p99_ms'),
        'latency_max_ms': sub.get('latency_max_ms'),
        'missing': missing,
        'duplicates': sub.get('duplicates'),
        'out_of_order': sub.get('out_of_order'),
        'disconnected': sub.get('disconnected'),
        'hubd_us_per_delivery': per_unit_us(cpu['hubd'], dl),
        'lighttpd_us_per_delivery': per_unit_us(cpu['lighttpd'], dl),
        'fcgi_us_per_publish': per_unit_us(cpu['fcgi'], pub.get('acked')),
        'hubd_cpu_pct': percent(cpu['hubd'], cpu['wall']),
        'lighttpd_cpu_pct': percent(cpu['lighttpd'], cpu['wall']),
        'ack_p99_ms': pub.get('ack_p99_ms'),
        'pub_lag_ms': pub.get('schedule_lag_max_ms'),
        'loadgen_cpu_pct': sub.get('cpu_pct'),
        '_ready': [connected, failed],
        '_sub': sub, '_pub': pub, '_cpu': cpu,
        '_notes': [x for x in (sub.get('error'), sub.get('first_error'), pub.get('error'),
                               pub.get('first_error')) if x],
    }


def scenario_idle(rnd, tmp, procs):
    """(2) RSS of hubd and lighttpd before and after IDLE_SUBS idle subscribers."""
    with Stack(extra_hubd_args=HUBD_ARGS) as s:
        s.check_pubsub()  # warm up: store, first subscriber, first publish
        time.sleep(0.3)
        before = {'hubd': rss_kb(s.hubd_pid), 'lighttpd': rss_kb(s.lighttpd_pid)}
        subs = Subscribers(procs, tmp, 'idle%d' % rnd, s.base_url + HUB_PATH, TOPIC,
                           IDLE_SUBS, duration=180)
        connected, failed = subs.wait_ready(120)
        time.sleep(1.0)  # let the last handovers finish
        after = {'hubd': rss_kb(s.hubd_pid), 'lighttpd': rss_kb(s.lighttpd_pid)}
        hubd_fds = len(os.listdir('/proc/%d/fd' % s.hubd_pid))
        sub = subs.finish()
    n = connected or None

    def per_sub(k):
        if before[k] is None or after[k] is None or not n:
            return None
        return (after[k] - before[k]) / n
    return {
        'connected': connected,
        'failed': failed,
        'connect_ms': sub.get('connect_ms'),
        'connect_p99_ms': sub.get('connect_p99_ms'),
        'hubd_rss_before_kb': before['hubd'],
        'hubd_rss_after_kb': after['hubd'],
        'hubd_kb_per_sub': per_sub('hubd'),
        'lighttpd_rss_before_kb': before['lighttpd'],
        'lighttpd_rss_after_kb': after['lighttpd'],
        'lighttpd_kb_per_sub': per_sub('lighttpd'),
        'hubd_fds': hubd_fds,
        '_sub': sub,
        '_notes': [x for x in (sub.get('error'), sub.get('first_error')) if x],
    }


def scenario_publish(rnd, tmp, procs):
    """(3) PUB_CONNS closed-loop publishers for PUB_SECONDS, no subscribers."""
    with Stack(extra_hubd_args=HUBD_ARGS) as s:
        c0 = cpu_snapshot(s)
        pub = run_publisher(procs, tmp, 'publish%d' % rnd, s.base_url + HUB_PATH,
                            s.token(publish=['*']), PUB_SECONDS, PUB_CONNS)
        c1 = cpu_snapshot(s)
    cpu = cpu_delta(c0, c1)
    acked = pub.get('acked')
    return {
        'publishes_per_s': pub.get('publishes_per_s'),
        'acked': acked,
        'errors': pub.get('errors'),
        'ack_p50_ms': pub.get('ack_p50_ms'),
        'ack_p99_ms': pub.get('ack_p99_ms'),
        'ack_max_ms': pub.get('ack_max_ms'),
        'hubd_us_per_publish': per_unit_us(cpu['hubd'], acked),
        'lighttpd_us_per_publish': per_unit_us(cpu['lighttpd'], acked),
        'fcgi_us_per_publish': per_unit_us(cpu['fcgi'], acked),
        'hubd_cpu_pct': percent(cpu['hubd'], cpu['wall']),
        '_pub': pub, '_cpu': cpu,
        '_notes': [x for x in (pub.get('error'), pub.get('first_error')) if x],
    }


SCENARIO_TABLE = {
    'fanout': (
        scenario_fanout,
        lambda: '(1) fan-out: %d subscribers x %d updates/s for %d s (%d publishing conns)' % (
            FANOUT_SUBS, FANOUT_RATE, FANOUT_SECONDS, FANOUT_PUB_CONNS),
        [('connected', 'subscribers connected'),
         ('connect_ms', 'time to connect all (ms)'),
         ('published', 'updates acknowledged'),
         ('publish_errors', 'publish errors'),
         ('deliveries', 'deliveries'),
         ('deliveries_per_s', 'deliveries/s'),
         ('latency_p50_ms', 'publish->receive p50 (ms)'),
         ('latency_p90_ms', 'publish->receive p90 (ms)'),
         ('latency_p99_ms', 'publish->receive p99 (ms)'),
         ('latency_max_ms', 'publish->receive max (ms)'),
         ('missing', 'missing'),
         ('duplicates', 'duplicates'),
         ('out_of_order', 'out of order'),
         ('disconnected', 'streams ended by server'),
         ('hubd_us_per_delivery', 'hubd CPU (us/delivery)'),
         ('lighttpd_us_per_delivery', 'lighttpd CPU (us/delivery)'),
         ('fcgi_us_per_publish', 'hub.fcgi CPU (us/publish)'),
         ('hubd_cpu_pct', 'hubd CPU (% of a core)'),
         ('lighttpd_cpu_pct', 'lighttpd CPU (% of a core)'),
         ('loadgen_cpu_pct', 'loadgen subs CPU (% of core)'),
         ('ack_p99_ms', 'publish ack p99 (ms)'),
         ('pub_lag_ms', 'publisher behind plan max(ms)')]),
    'idle': (
        scenario_idle,
        lambda: '(2) memory: %d idle subscribers' % IDLE_SUBS,
        [('connected', 'subscribers connected'),
         ('failed', 'subscribers failed'),
         ('connect_ms', 'time to connect all (ms)'),
         ('connect_p99_ms', 'one connect p99 (ms)'),
         ('hubd_rss_before_kb', 'hubd RSS before (KB)'),
         ('hubd_rss_after_kb', 'hubd RSS after (KB)'),
         ('hubd_kb_per_sub', 'hubd KB per subscriber'),
         ('lighttpd_rss_before_kb', 'lighttpd RSS before (KB)'),
         ('lighttpd_rss_after_kb', 'lighttpd RSS after (KB)'),
         ('lighttpd_kb_per_sub', 'lighttpd KB per subscriber'),
         ('hubd_fds', 'hubd open descriptors')]),
    'publish': (
        scenario_publish,
        lambda: '(3) publish: %d closed-loop publishers for %d s, no subscribers' % (
            PUB_CONNS, PUB_SECONDS),
        [('publishes_per_s', 'acknowledged publishes/s'),
         ('acked', 'publishes acknowledged'),
         ('errors', 'errors'),
         ('ack_p50_ms', 'ack p50 (ms)'),
         ('ack_p99_ms', 'ack p99 (ms)'),
         ('ack_max_ms', 'ack max (ms)'),
         ('hubd_us_per_publish', 'hubd CPU (us/publish)'),
         ('lighttpd_us_per_publish', 'lighttpd CPU (us/publish)'),
         ('fcgi_us_per_publish', 'hub.fcgi CPU (us/publish)'),
         ('hubd_cpu_pct', 'hubd CPU (% of a core)')]),
}


# ---- output ---------------------------------------------------------------------

def fmt(v):
    if v is None:
        return '-'
    if isinstance(v, int):
        return str(v)
    a = abs(v)
    if a >= 1000:
        return '%.0f' % v
    if a >= 100:
        return '%.1f' % v
    if a >= 1:
        return '%.2f' % v
    return '%.3f' % v


def median(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    m = statistics.median(vals)
    if all(isinstance(v, int) for v in vals) and m == int(m):
        return int(m)
    return m


def print_table(title, rows, results):
    print()
    print(title)
    heads = ['round %d' % (i + 1) for i in range(len(results))]
    if len(results) > 1:
        heads.append('median')
    print('  %-30s' % 'figure' + ''.join('%12s' % h for h in heads))
    for key, label in rows:
        vals = [r.get(key) if r else None for r in results]
        cells = [fmt(v) for v in vals]
        if len(results) > 1:
            cells.append(fmt(median(vals)))
        print('  %-30s' % label + ''.join('%12s' % c for c in cells))
    notes = set()
    for r in results:
        if r:
            notes.update(r.get('_notes', []))
    for n in sorted(notes):
        print('  note: %s' % n)
    sys.stdout.flush()


def machine_line():
    try:
        with open('/proc/loadavg') as f:
            load = ' '.join(f.read().split()[:3])
    except OSError:
        load = '?'
    return '# %d CPUs, kernel %s, load average %s, %s' % (
        os.cpu_count() or 0, os.uname().release, load, time.strftime('%Y-%m-%d %H:%M:%S'))


def main():
    global LOADGEN
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix='hubd-bench-')
    procs = Procs()
    broken = False
    everything = {}
    try:
        LOADGEN = find_loadgen(tmp)
        print('# hubd benchmark%s: %d round(s) per scenario; builddir %s' % (
            ' (quick)' if QUICK else '', ROUNDS, BUILDDIR))
        print(machine_line())
        print('# figures are measured, not checked; compare medians between runs on one machine')
        sys.stdout.flush()
        for name in SCENARIOS:
            if name not in SCENARIO_TABLE:
                print('# unknown scenario %r (known: %s)' % (name, ', '.join(SCENARIO_TABLE)))
                broken = True
                continue
            fn, title, rows = SCENARIO_TABLE[name]
            results = []
            for rnd in range(ROUNDS):
                t0 = time.monotonic()
                try:
                    r = fn(rnd, tmp, procs)
                except Exception:
                    broken = True
                    print('# %s round %d failed:' % (name, rnd + 1))
                    for ln in traceback.format_exc().rstrip().splitlines():
                        print('#   ' + ln)
                    r = None
                finally:
                    procs.stop_all()
                if r is not None:
                    r['_seconds'] = time.monotonic() - t0
                results.append(r)
                sys.stdout.flush()
            print_table(title(), rows, results)
            everything[name] = results
        print()
        print('# total %.0f s' % (time.monotonic() - t_start))
        if os.environ.get('BENCH_JSON'):
            with open(os.environ['BENCH_JSON'], 'w') as f:
                json.dump({'rounds': ROUNDS, 'quick': QUICK, 'results': everything}, f,
                          indent=1, default=str)
    finally:
        procs.stop_all()
        harness._stop_all_stacks()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if broken else 0


LOADGEN = None

if __name__ == '__main__':
    sys.exit(main())
