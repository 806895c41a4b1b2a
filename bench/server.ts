/**
 * The local TikTok API in its own process, so its CPU is measured apart from the client's. Started by bench/run.ts
 * with fork(); tells the parent its ports over IPC and runs until the parent disconnects.
 *
 * Besides the local API (test/tiktok-local) it serves a small bench control API on another loopback port:
 *   GET /cpu      {userUs, systemUs, at}: process.cpuUsage() of this process, and the time it was read
 *   GET /accepts  [{at, rows}]: every /segment/mapping/ request the API accepted (code 0), in order, with the time
 *                 its answer was handed to the socket (`at`, ms on the shared wall clock: timeOrigin + now())
 *   GET /arrivals [at, …]: when each /segment/mapping/ request arrived (its headers were parsed), accepted or not,
 *                 in order, ms on the same clock: the busiest sliding second of what the clients sent
 *   POST /accepts/clear (clears the arrivals too)
 */
import * as diagnostics from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { startTikTokLocal } from '../test/tiktok-local/server';
import { wallNow } from './lib/stats';

interface Accept {
	at: number;
	rows: number;
}

const MAX_ACCEPTS = 200_000;

async function main(): Promise<void> {
	const benchMode = process.argv.includes('--bench-mode');
	const local = await startTikTokLocal({ port: 0, benchMode });

	// Which mapping requests were accepted. The API handles a request synchronously from its parsed body to res.end(),
	// so at end() the counters moved by exactly this request; 'finish' is when the answer was handed to the socket.
	let accepts: Accept[] = [];
	let arrivals: number[] = [];
	let lastUsers = 0;
	diagnostics.subscribe('http.server.request.start', (message) => {
		const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
		if (!request.url?.startsWith('/open_api/v1.3/segment/mapping')) return;
		if (arrivals.length < MAX_ACCEPTS) arrivals.push(wallNow());
		const end = response.end as (...args: unknown[]) => ServerResponse;
		let rows = -1;
		response.end = function (this: ServerResponse, ...args: unknown[]) {
			const usersReceived = local.stats().usersReceived;
			if (usersReceived < lastUsers) lastUsers = 0; // the API was reset
			const body = args[0];
			if (typeof body === 'string' && body.startsWith('{"code":0,')) rows = usersReceived - lastUsers;
			lastUsers = usersReceived;
			return end.apply(this, args);
		} as ServerResponse['end'];
		response.once('finish', () => {
			if (rows >= 0 && accepts.length < MAX_ACCEPTS) accepts.push({ at: wallNow(), rows });
		});
	});

	const control = createServer((req, res) => {
		const send = (payload: unknown) => {
			const text = JSON.stringify(payload);
			res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
			res.end(text);
		};
		req.resume();
		req.on('end', () => {
			if (req.url === '/cpu') {
				const usage = process.cpuUsage();
				send({ userUs: usage.user, systemUs: usage.system, at: wallNow(), rssBytes: process.memoryUsage().rss });
			} else if (req.url === '/accepts') {
				send(accepts);
			} else if (req.url === '/arrivals') {
				send(arrivals);
			} else if (req.url === '/accepts/clear' && req.method === 'POST') {
				accepts = [];
				arrivals = [];
				lastUsers = local.stats().usersReceived;
				send({ ok: true });
			} else {
				res.writeHead(404).end();
			}
		});
	});
	await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
	const controlPort = (control.address() as AddressInfo).port;

	const stop = () => {
		control.close();
		control.closeAllConnections();
		local.close().finally(() => process.exit(0));
	};
	process.on('disconnect', stop);
	process.on('SIGTERM', stop);
	process.send?.({ url: local.url, controlUrl: `http://127.0.0.1:${controlPort}`, benchMode });
}

main().catch((error: unknown) => {
	process.stderr.write(`bench server: ${String(error)}\n`);
	process.exit(1);
});
