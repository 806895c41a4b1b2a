/**
 * Heap per user held by the engine, and journal bytes per pending user. Needs --expose-gc (bench/run.ts passes it).
 * Users are made the way the node makes them (hashUser + dedupeKey), handed over, then dropped by the caller, so
 * what stays on the heap is what the engine keeps.
 */
import type { ServerUrls } from '../lib/local';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';
import { BENCH_DESTINATION, blockedPacer, frozenClock, neverCalled, unreachable } from '../lib/engine';
import { hashedUsers } from '../lib/users';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

export interface MemoryArgs {
	/** Users for the queued and retry measurements (the default journal bound is 250,000). */
	users: number;
	/** Users in the window buffer (at most one request's worth). */
	windowUsers: number;
}

export interface MemoryState {
	users: number;
	heapBytesPerUser: number;
	/** Heap plus Buffers outside the heap (compacted ids live in Buffers). */
	totalBytesPerUser: number;
	journalBytesPerUser: number;
}

export interface MemoryResult {
	/** In the gathering window (one forming request with its dedupe set). */
	window: MemoryState;
	/** Cut into requests, waiting for the pacer / their turn (ids still as strings). */
	queued: MemoryState;
	/** Failed once, waiting for a retry (ids compacted to bytes). */
	retry: MemoryState;
}

function gc(): void {
	if (!global.gc) throw new Error('run with --expose-gc');
	for (let i = 0; i < 3; i++) global.gc();
}

function usage(): { heap: number; total: number } {
	gc();
	const memory = process.memoryUsage();
	return { heap: memory.heapUsed, total: memory.heapUsed + memory.arrayBuffers };
}

async function measure(
	users: number,
	options: { send: () => Promise<void>; pacer: typeof ALREADY_PACED; waitForDelivery: boolean; windowMs: number },
): Promise<MemoryState> {
	const coordinator = newTikTokCoordinator({ clock: frozenClock });
	const scope = 'bench:memory';
	const settings = { windowMs: options.windowMs, maxPendingUsers: Math.max(users, 250_000) };
	// Warm the code paths (and their allocations) up on another scope first.
	await coordinator.submit({
		scope: 'bench:warm-up',
		destination: BENCH_DESTINATION,
		users: hashedUsers(10_000_000, 100),
		send: options.send,
		pacer: options.pacer,
		settings,
		waitForDelivery: false,
	});
	const before = usage();
	for (let start = 0; start < users; start += 10_000) {
		// Each submit is one execution's users; the array is dropped when the submit returns.
		await coordinator.submit({
			scope,
			destination: BENCH_DESTINATION,
			users: hashedUsers(start, Math.min(10_000, users - start)),
			send: options.send,
			pacer: options.pacer,
			settings,
			waitForDelivery: options.waitForDelivery,
		});
	}
	const after = usage();
	const pending = coordinator.report(scope).pending;
	if (pending !== users) throw new Error(`expected ${users} pending users, found ${pending}`);
	const journalBytes = Buffer.byteLength(JSON.stringify(coordinator.exportJournal(scope)));
	coordinator.reset();
	return {
		users,
		heapBytesPerUser: (after.heap - before.heap) / users,
		totalBytesPerUser: (after.total - before.total) / users,
		journalBytesPerUser: journalBytes / users,
	};
}

export async function runMemory(_urls: ServerUrls, args: MemoryArgs): Promise<MemoryResult> {
	// A window longer than the run: every user stays in the forming request.
	const window = await measure(args.windowUsers, { send: neverCalled, pacer: blockedPacer, waitForDelivery: false, windowMs: 3_600_000 });
	const queued = await measure(args.users, { send: neverCalled, pacer: blockedPacer, waitForDelivery: false, windowMs: 5_000 });
	// waitForDelivery: each submit returns once its requests failed and were scheduled for a retry.
	const retry = await measure(args.users, { send: unreachable, pacer: ALREADY_PACED, waitForDelivery: true, windowMs: 0 });
	return { window, queued, retry };
}
