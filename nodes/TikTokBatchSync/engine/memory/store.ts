import type { MappingAction } from '../../../shared/transport/types';
import { UserBuffer } from '../buffer';
import type { Chunk } from '../chunk';
import { CounterBook, type Counters } from '../counters';
import { horizonReason, isPastHorizon } from '../failurePolicy';
import { MAX_CHAIN } from '../limits';
import { runResult, carrierOf, type PlacedUsers, type Rejection } from '../runResult';
import type { SyncSettings } from '../settings';
import type { AdmitReply, Claimed, ClaimReply, ScopeStore, Settlement } from '../store';
import type { Destination, SubmitResult, SyncUser } from '../types';
import { ReadyQueue, RetryHeap } from './queues';

/** A chunk taken to be sent. */
export interface MemoryClaim extends Claimed {
	readonly chunk: Chunk;
}

/** A run's users, and the chunks they went into. */
export interface MemoryPlacement extends PlacedUsers {
	destination: Destination;
	chunks: Chunk[];
}

/**
 * The state of one scope in this n8n process (regular mode: journaled in a file, appended at each execution
 * end). Its verbs run to completion before anything else, so they are atomic as they are. No leases: only this
 * process sends for the scope.
 */
export class MemoryStore implements ScopeStore<MemoryClaim, MemoryPlacement> {
	readonly leased = false;
	readonly counters = new CounterBook();
	/** Restored from a journal already (once per scope and process). */
	restored = false;
	/** After a rate-limit error nothing new is sent before this time. */
	private holdUntil = 0;
	private readonly buffers = new Map<string, UserBuffer>();
	private readonly ready = new ReadyQueue();
	private readonly retries = new RetryHeap();
	/** Waiting after an authorization failure: a success (or a new credential's probe) releases them early. */
	private readonly reauthorizing = new Set<Chunk>();
	private readonly sending = new Set<Chunk>();
	/** Per audience and action, its sealed chunks not yet synced or errored, in window order. */
	private readonly unsettledByAudience = new Map<string, Record<MappingAction, Set<Chunk>>>();

	placement(users: ReadonlyArray<SyncUser>, destination: Destination): MemoryPlacement {
		return { users, destination, chunks: [], chunkIndexOfUser: new Int32Array(users.length).fill(-1) };
	}

	admit(placement: MemoryPlacement, from: number, settings: SyncSettings, now: number): AdmitReply {
		const { users, destination, chunks, chunkIndexOfUser } = placement;
		const { windowMs, usersPerRequest, maxPendingUsers } = settings;
		const room = maxPendingUsers - this.counters.pending;
		const end = Math.min(users.length, from + Math.max(0, room));
		const buffer = this.bufferFor(destination);
		const readyBefore = this.ready.length;
		for (let index = from; index < end; index++) {
			const user = users[index];
			const chunk = buffer.add(user.key, user.ids, user.action ?? destination.action, now, windowMs, usersPerRequest);
			if (chunks[chunks.length - 1] !== chunk) chunks.push(chunk);
			chunkIndexOfUser[index] = chunks.length - 1;
		}
		const admitted = end - from;
		this.counters.admit(admitted);
		const full = end < users.length;
		if (full) this.cut(now);
		const wakeAt = this.ready.length > readyBefore ? now : buffer.openWindow === -1 ? undefined : buffer.endsAt;
		return { admitted, full, drainable: full && this.canDrainSoon(now), wakeAt };
	}

	claim(now: number, settings: SyncSettings): ClaimReply<MemoryClaim> {
		let changed = this.cutRipeWindows(now);
		for (let chunk = this.retries.popDue(now); chunk; chunk = this.retries.popDue(now)) {
			changed = true;
			if (!this.gaveUpPastHorizon(chunk, settings, now)) this.requeue(chunk, chunk.dueAt);
		}
		if (now < this.holdUntil) return { nextAt: this.nextAt(now), changed };
		for (;;) {
			const chunk = this.ready.take((candidate) => this.blockerOf(candidate) === undefined);
			if (!chunk) return { nextAt: this.nextAt(now), changed };
			if (this.gaveUpPastHorizon(chunk, settings, now)) {
				changed = true;
				continue;
			}
			chunk.startSending();
			this.sending.add(chunk);
			return { claim: { chunk, batch: chunk.toBatch(), failures: chunk.failures, lastEnteredAt: chunk.lastEnteredAt }, nextAt: now, changed };
		}
	}

	renew(): boolean {
		return true;
	}

	settle({ chunk }: MemoryClaim, settlement: Settlement, now: number): void {
		if (!this.sending.delete(chunk)) return;
		if (settlement.kind === 'synced') {
			chunk.delivered();
			this.settled(chunk);
			this.counters.delivered(chunk.users, chunk.destination.action);
			// The token works (again): chunks waiting after an authorization failure need not wait out their backoff.
			for (const waiting of [...this.reauthorizing]) this.requeue(waiting, now);
			return;
		}
		if (settlement.kind === 'errored') {
			this.giveUp(chunk, settlement.reason);
			return;
		}
		chunk.failed({ errorClass: settlement.reauthorize ? 'reauthorize' : 'retryable', isRateLimit: false, reason: settlement.reason });
		if (settlement.holdUntil !== undefined) this.holdUntil = Math.max(this.holdUntil, settlement.holdUntil);
		chunk.waitForRetry(settlement.dueAt);
		this.retries.push(chunk);
		if (settlement.reauthorize) this.reauthorizing.add(chunk);
		else this.reauthorizing.delete(chunk);
	}

	handBack({ chunk }: MemoryClaim, now: number): void {
		if (!this.sending.delete(chunk)) return;
		chunk.requeue();
		chunk.readyAt = Math.min(chunk.readyAt, now);
		this.ready.insert(chunk);
	}

	handBackHeld(): void {}

	cut(now: number): void {
		for (const buffer of this.buffersByWindow()) buffer.cut(now);
	}

	probe(now: number): void {
		if (this.sending.size > 0) return;
		let probe: Chunk | undefined;
		for (const chunk of this.reauthorizing) if (!probe || chunk.dueAt < probe.dueAt) probe = chunk;
		if (!probe) return;
		this.reauthorizing.delete(probe);
		this.requeue(probe, now);
	}

	busy(now: number): boolean {
		if (this.sending.size > 0) return true;
		if (now < this.holdUntil) return false;
		if ((this.retries.peekAt() ?? Infinity) <= now) return true;
		// Held back by an earlier request: it goes when that one settles, which is counted where that one is.
		return this.ready.chunks.some((chunk) => this.blockerOf(chunk) === undefined);
	}

	attempted(placement: MemoryPlacement, now: number): boolean {
		const held = now < this.holdUntil;
		for (let index = 0; index < placement.users.length; index++) {
			const chunk = carrierOf(placement, index);
			if (!chunk || chunk.isAttempted) continue;
			// Queued during a rate-limit pause, or behind an earlier request waiting for its retry: scheduled already.
			if (chunk.state === 'queued' && (held || this.waitsForRetryOfAnother(chunk))) continue;
			return false;
		}
		return true;
	}

	result(placement: MemoryPlacement, notSynced: number, waited: boolean, rejection: Rejection | undefined): SubmitResult {
		return runResult(placement, notSynced, waited, rejection);
	}

	recordNotSynced(reasons: ReadonlyArray<string>): void {
		this.counters.recordNotSynced(reasons);
	}

	report(): Counters {
		return this.counters.snapshot();
	}

	/** Chunks rebuilt from a journal (in window order): due now, ahead of everything else. */
	restore(chunks: ReadonlyArray<Chunk>, counters: Counters, restoredUsers: number, now: number): void {
		this.counters.absorb(counters, restoredUsers);
		for (const chunk of chunks) {
			this.track(chunk);
			this.requeue(chunk, now);
		}
	}

	/** Every chunk not yet synced or errored: forming, ready, in flight, waiting for a retry (for the journal). */
	unsettledChunks(): Chunk[] {
		const chunks: Chunk[] = [];
		for (const buffer of this.buffers.values()) chunks.push(...buffer.formingChunks);
		for (const sets of this.unsettledByAudience.values()) chunks.push(...sets.add, ...sets.delete);
		return chunks;
	}

	dispose(): void {
		for (const buffer of this.buffers.values()) buffer.dispose();
		this.buffers.clear();
		this.ready.clear();
		this.retries.clear();
		this.reauthorizing.clear();
		this.sending.clear();
		this.unsettledByAudience.clear();
	}

	// ---- internals ----

	private canDrainSoon(now: number): boolean {
		return this.sending.size > 0 || (this.ready.length > 0 && now >= this.holdUntil);
	}

	/** When something may next be claimed: a window's end, a retry, or the end of a pause with requests ready. */
	private nextAt(now: number): number {
		let next = this.retries.peekAt() ?? Infinity;
		for (const buffer of this.buffers.values()) if (buffer.openWindow !== -1) next = Math.min(next, buffer.endsAt);
		if (now < this.holdUntil && this.ready.length > 0) next = Math.min(next, this.holdUntil);
		return Number.isFinite(next) ? next : -1;
	}

	/** Whether any window was cut. */
	private cutRipeWindows(now: number): boolean {
		let cut = false;
		for (const buffer of this.buffersByWindow()) {
			if (buffer.endsAt > now) continue;
			buffer.cut(buffer.endsAt);
			cut = true;
		}
		return cut;
	}

	/** Open buffers, oldest window first: windows cut at one moment queue in window order. */
	private buffersByWindow(): UserBuffer[] {
		const open: UserBuffer[] = [];
		for (const buffer of this.buffers.values()) if (buffer.openWindow !== -1) open.push(buffer);
		if (open.length > 1) open.sort((a, b) => a.openWindow - b.openWindow);
		return open;
	}

	/**
	 * An unsettled chunk of the same audience from an earlier window with the other action: `chunk` must wait for it,
	 * or a quick add-then-remove could reach TikTok as remove-then-add.
	 */
	private blockerOf(chunk: Chunk): Chunk | undefined {
		const other = chunk.destination.action === 'add' ? 'delete' : 'add';
		// Chunks join their set in window order, so the first one left is the oldest: O(1) however long the backlog.
		const oldest = this.unsettledOf(chunk)[other].values().next().value as Chunk | undefined;
		return oldest !== undefined && oldest.window < chunk.window ? oldest : undefined;
	}

	/** Whether `chunk` is held back, directly or down a chain, by an earlier chunk of its audience waiting for a retry. */
	private waitsForRetryOfAnother(chunk: Chunk): boolean {
		let blocker = this.blockerOf(chunk);
		for (let depth = 0; blocker && depth < MAX_CHAIN; depth++) {
			if (blocker.state === 'waitingRetry') return true;
			if (blocker.state !== 'queued') return false;
			blocker = this.blockerOf(blocker);
		}
		return false;
	}

	/** The one horizon check before an attempt: a chunk past it is errored with its last failure. */
	private gaveUpPastHorizon(chunk: Chunk, settings: SyncSettings, now: number): boolean {
		if (!isPastHorizon(chunk.lastEnteredAt, settings.retryHorizonMs, now)) return false;
		this.giveUp(chunk, horizonReason(settings.retryHorizonMs, chunk.lastError));
		return true;
	}

	private giveUp(chunk: Chunk, reason: string): void {
		this.reauthorizing.delete(chunk);
		chunk.giveUp(reason);
		this.settled(chunk);
		this.counters.errorPending(chunk.users, reason);
	}

	/** Queued to be sent, in its place for `readyAt`. */
	private requeue(chunk: Chunk, readyAt: number): void {
		this.reauthorizing.delete(chunk);
		chunk.requeue();
		chunk.readyAt = readyAt;
		this.ready.insert(chunk);
	}

	private settled(chunk: Chunk): void {
		this.unsettledOf(chunk)[chunk.destination.action].delete(chunk);
	}

	private track(chunk: Chunk): void {
		this.unsettledOf(chunk)[chunk.destination.action].add(chunk);
	}

	private unsettledOf(chunk: Chunk): Record<MappingAction, Set<Chunk>> {
		const key = audienceKey(chunk.destination);
		let sets = this.unsettledByAudience.get(key);
		if (!sets) {
			sets = { add: new Set(), delete: new Set() };
			this.unsettledByAudience.set(key, sets);
		}
		return sets;
	}

	private bufferFor(destination: Destination): UserBuffer {
		const key = audienceKey(destination);
		let buffer = this.buffers.get(key);
		if (!buffer) {
			buffer = new UserBuffer({ ...destination, idSchema: [...destination.idSchema] }, (chunk, at) => {
				this.track(chunk);
				this.requeue(chunk, at);
			});
			this.buffers.set(key, buffer);
		}
		return buffer;
	}
}

/** One audience of one advertiser, with the id types its rows carry (adds and removes share its window). */
export function audienceKey(destination: Destination): string {
	return JSON.stringify([destination.advertiserId, destination.audienceId, destination.idSchema]);
}
