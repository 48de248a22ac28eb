// eventsource_client.mjs -- subscribes with the `eventsource` npm package
// (the EventSource many Node Mercure clients use) and prints one JSON line
// per thing that happens: {"open":true}, {"message":{id,type,data}},
// {"error":{code,message,readyState}}. Exits when stdin closes or after
// --seconds. Used by tests/integration/test_eventsource_npm.py.
//   node eventsource_client.mjs URL [--bearer TOKEN] [--seconds N]
import { EventSource } from 'eventsource';

const args = process.argv.slice(2);
const url = args[0];
let bearer = null;
let seconds = 30;
for (let i = 1; i < args.length; i++) {
	if (args[i] === '--bearer') bearer = args[++i];
	else if (args[i] === '--seconds') seconds = Number(args[++i]);
}
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// The package takes a fetch to send our own headers (Authorization).
const es = new EventSource(url, {
	fetch: (input, init) => fetch(input, {
		...init,
		headers: { ...(init.headers || {}), ...(bearer ? { Authorization: 'Bearer ' + bearer } : {}) },
	}),
});
es.onopen = () => out({ open: true });
es.onmessage = (e) => out({ message: { id: e.lastEventId, type: e.type, data: e.data } });
es.addEventListener('hubd-replay-reset', (e) => out({ reset: JSON.parse(e.data) }));
es.onerror = (e) => out({ error: { code: e.code ?? null, message: e.message ?? null, readyState: es.readyState } });

const stop = () => { es.close(); process.exit(0); };
setTimeout(stop, seconds * 1000);
process.stdin.on('end', stop);
process.stdin.resume();
