/**
 * `npm run bench:side-by-side -- <other checkout> [rounds]`: the in-process engine of this checkout and of another one
 * (an older commit, e.g. `git worktree add /tmp/before <commit>` followed by `npm ci` there), measured in one run on
 * the same machine against one local TikTok API: engine users/s (1,000,000 users, the API in bench mode) and memory
 * per user in the gathering window, queued and waiting for a retry. Rounds alternate which side goes first, so both
 * see the same machine load; prints each round, the medians and this ÷ other.
 *
 * Each phase runs in a fresh process of its own checkout (that checkout's bench/phase.ts and node_modules), so the
 * other side only needs the same phase names and arguments (throughput, memory), as every commit since they came.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import type { ServerUrls } from './lib/local';
import { runPhase, startLocalApi } from './lib/processes';
import { median } from './lib/stats';
import type { MemoryResult } from './phases/memory';
import type { ThroughputResult } from './phases/throughput';

const HERE = resolve(__dirname, '..');
const THROUGHPUT = { users: 1_000_000, perSubmit: 10_000, benchMode: true, hashInLoop: false };
const MEMORY = { users: 250_000, windowUsers: 9_999 };
const PHASE_TIMEOUT_MS = 180_000;

interface Figures {
	usersPerSecond: number;
	clientCpuUsPerUser: number;
	windowBytesPerUser: number;
	queuedBytesPerUser: number;
	retryBytesPerUser: number;
}

function log(line: string): void {
	process.stderr.write(`${line}\n`);
}

async function measure(root: string, urls: ServerUrls): Promise<Figures> {
	const run = await runPhase<ThroughputResult>(root, urls, 'throughput', THROUGHPUT, PHASE_TIMEOUT_MS);
	if (run.synced !== THROUGHPUT.users || run.serverUsersReceived !== THROUGHPUT.users) {
		throw new Error(`${root}: the throughput run did not deliver every user exactly once: ${JSON.stringify(run)}`);
	}
	const memory = await runPhase<MemoryResult>(root, urls, 'memory', MEMORY, PHASE_TIMEOUT_MS);
	return {
		usersPerSecond: run.usersPerSecond,
		clientCpuUsPerUser: run.clientCpuUsPerUser,
		windowBytesPerUser: memory.window.totalBytesPerUser,
		queuedBytesPerUser: memory.queued.totalBytesPerUser,
		retryBytesPerUser: memory.retry.totalBytesPerUser,
	};
}

async function main(): Promise<void> {
	const [otherArg, roundsArg] = process.argv.slice(2);
	if (!otherArg) throw new Error('usage: npm run bench:side-by-side -- <other checkout> [rounds]');
	const other = resolve(otherArg);
	if (!existsSync(join(other, 'bench/phase.ts')) || !existsSync(join(other, 'node_modules/.bin/tsx'))) {
		throw new Error(`${other} has no bench/phase.ts or no node_modules (run npm ci there)`);
	}
	const rounds = Number(roundsArg ?? 5);
	const server = await startLocalApi(HERE);
	const { urls } = server;
	const sides: Record<'this' | 'other', Figures[]> = { this: [], other: [] };
	try {
		for (let round = 0; round < rounds; round++) {
			const order: Array<'this' | 'other'> = round % 2 === 0 ? ['other', 'this'] : ['this', 'other'];
			for (const side of order) {
				const figures = await measure(side === 'this' ? HERE : other, urls);
				sides[side].push(figures);
				log(`round ${round + 1} ${side}: ${JSON.stringify(figures)}`);
			}
		}
	} finally {
		server.child.kill('SIGTERM');
	}
	const keys = Object.keys(sides.this[0]) as Array<keyof Figures>;
	const lines = [`| Figure (median of ${rounds} rounds) | ${other} | this checkout | this ÷ other |`, '|---|---|---|---|'];
	for (const key of keys) {
		const before = median(sides.other.map((figures) => figures[key]));
		const after = median(sides.this.map((figures) => figures[key]));
		const all = (values: Figures[]) => values.map((figures) => figures[key].toFixed(key === 'usersPerSecond' ? 0 : 2)).join(' / ');
		lines.push(`| ${key} | ${before.toFixed(2)} (${all(sides.other)}) | ${after.toFixed(2)} (${all(sides.this)}) | ${(after / before).toFixed(3)} |`);
	}
	process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
	process.stderr.write(`side by side failed: ${error instanceof Error ? error.message : String(error)}\n`);
	process.exit(1);
});
