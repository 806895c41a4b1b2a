import type { MappingAction } from '../../shared/transport/types';
import { UserBuffer } from './buffer';
import type { Chunk } from './chunk';
import type { Clock } from './clock';
import { CounterBook } from './counters';
import type { SyncSettings } from './settings';
import type { Destination, RequestPacer, SendMapping, SyncUser } from './types';

/**
 * What the scheduler keeps per scope, behind the verbs it uses. This is the in-process implementation (one n8n
 * process, journaled in workflow static data); a shared one (Redis, for queue mode) implements the same verbs.
 */
export interface ScopeStore {
	readonly name: string;
	readonly counters: CounterBook;
	settings: SyncSettings;
	/** Puts one user into its audience's window (with its own action, or the destination's); returns its chunk. */
	admit(destination: Destination, user: SyncUser, now: number): Chunk;
	/** Ends every open window now: their chunks become ready. */
	cutWindows(): void;
	/** Queues a ready chunk; retries go to the front. */
	enqueue(chunk: Chunk, front?: boolean): void;
	/** Queues chunks rebuilt from a journal (in window order) ahead of everything else. */
	enqueueRestored(chunks: ReadonlyArray<Chunk>): void;
	/** Takes the first ready chunk that `canSend` allows (the others keep their places). */
	takeReady(canSend: (chunk: Chunk) => boolean): Chunk | undefined;
	/**
	 * An unsettled chunk of the same audience from an earlier window with the other action: `chunk` must wait for it,
	 * or a quick add-then-remove could reach TikTok as remove-then-add.
	 */
	blockerOf(chunk: Chunk): Chunk | undefined;
	/** A chunk was synced or errored: it no longer holds back its audience's later chunks. */
	settled(chunk: Chunk): void;
	/** Chunks ready to send, in order (read-only). */
	readonly ready: ReadonlyArray<Chunk>;
	readonly inFlight: ReadonlySet<Chunk>;
	readonly parked: ReadonlySet<Chunk>;
	startSending(chunk: Chunk): void;
	finishSending(chunk: Chunk): void;
	/** A chunk waiting for its retry (park) or leaving that wait (unpark). */
	park(chunk: Chunk): void;
	unpark(chunk: Chunk): void;
	/** Every chunk not yet synced or errored: forming, ready, in flight, parked (for the journal). */
	unsettledChunks(): Chunk[];
}

/** The in-process state of one scope. */
export class MemoryScopeState implements ScopeStore {
	readonly counters = new CounterBook();
	send?: SendMapping;
	pacer?: RequestPacer;
	/** After a rate-limit error nothing new is sent before this time. */
	holdUntil = 0;
	holdTimer?: unknown;
	restored = false;
	disposed = false;
	lastError?: string;
	private readonly buffers = new Map<string, UserBuffer>();
	private readonly readyQueue: Chunk[] = [];
	private readonly sending = new Set<Chunk>();
	private readonly waiting = new Set<Chunk>();
	/** Per audience and action, its sealed chunks not yet synced or errored, in window order. */
	private readonly unsettledByAudience = new Map<string, Record<MappingAction, Set<Chunk>>>();
	private changeWaiters: Array<() => void> = [];

	constructor(
		readonly name: string,
		public settings: SyncSettings,
		private readonly clock: Clock,
		/** Called when a window is cut (by its timer or because it is full). */
		private readonly onReady: () => void,
	) {}

	admit(destination: Destination, user: SyncUser, now: number): Chunk {
		const { windowMs, usersPerRequest } = this.settings;
		const chunk = this.bufferFor(destination).add(user.key, user.ids, user.action ?? destination.action, now, windowMs, usersPerRequest);
		this.counters.admit(1);
		return chunk;
	}

	cutWindows(): void {
		for (const buffer of this.buffers.values()) buffer.cut();
	}

	enqueue(chunk: Chunk, front = false): void {
		this.track(chunk);
		if (front) this.readyQueue.unshift(chunk);
		else this.readyQueue.push(chunk);
	}

	enqueueRestored(chunks: ReadonlyArray<Chunk>): void {
		for (const chunk of chunks) this.track(chunk);
		this.readyQueue.unshift(...chunks);
	}

	takeReady(canSend: (chunk: Chunk) => boolean): Chunk | undefined {
		const index = this.readyQueue.findIndex(canSend);
		return index === -1 ? undefined : this.readyQueue.splice(index, 1)[0];
	}

	blockerOf(chunk: Chunk): Chunk | undefined {
		const other = chunk.destination.action === 'add' ? 'delete' : 'add';
		// Chunks join their set in window order, so the first one left is the oldest: O(1) however long the backlog.
		const oldest = this.unsettledOf(chunk)[other].values().next().value as Chunk | undefined;
		return oldest !== undefined && oldest.window < chunk.window ? oldest : undefined;
	}

	settled(chunk: Chunk): void {
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

	get ready(): ReadonlyArray<Chunk> {
		return this.readyQueue;
	}

	get inFlight(): ReadonlySet<Chunk> {
		return this.sending;
	}

	get parked(): ReadonlySet<Chunk> {
		return this.waiting;
	}

	startSending(chunk: Chunk): void {
		chunk.startSending();
		this.sending.add(chunk);
	}

	finishSending(chunk: Chunk): void {
		this.sending.delete(chunk);
	}

	park(chunk: Chunk): void {
		this.waiting.add(chunk);
	}

	unpark(chunk: Chunk): void {
		this.waiting.delete(chunk);
	}

	unsettledChunks(): Chunk[] {
		const chunks: Chunk[] = [];
		for (const buffer of this.buffers.values()) chunks.push(...buffer.formingChunks);
		chunks.push(...this.readyQueue, ...this.sending, ...this.waiting);
		return chunks;
	}

	/** Resolves at the next settled chunk (room may have freed up). */
	nextChange(): Promise<void> {
		return new Promise((resolve) => this.changeWaiters.push(resolve));
	}

	notifyChange(): void {
		const waiters = this.changeWaiters;
		this.changeWaiters = [];
		for (const resolve of waiters) resolve();
	}

	/** Stops every timer and releases every waiter (the engine is being reset). */
	dispose(): void {
		this.disposed = true;
		const chunks = this.unsettledChunks();
		for (const buffer of this.buffers.values()) buffer.dispose();
		if (this.holdTimer !== undefined) this.clock.clearTimeout(this.holdTimer);
		for (const chunk of chunks) {
			if (chunk.retryTimer !== undefined) this.clock.clearTimeout(chunk.retryTimer);
			chunk.markSettled();
		}
		this.notifyChange();
	}

	private bufferFor(destination: Destination): UserBuffer {
		const key = audienceKey(destination);
		let buffer = this.buffers.get(key);
		if (!buffer) {
			buffer = new UserBuffer({ ...destination, idSchema: [...destination.idSchema] }, this.clock, (chunk) => {
				this.enqueue(chunk);
				this.onReady();
			});
			this.buffers.set(key, buffer);
		}
		return buffer;
	}
}

/** One audience of one advertiser, with the id types its rows carry (adds and removes share its window). */
function audienceKey(destination: Destination): string {
	return JSON.stringify([destination.advertiserId, destination.audienceId, destination.idSchema]);
}

export function destinationKey(destination: Destination): string {
	return JSON.stringify([destination.advertiserId, destination.audienceId, destination.action, destination.idSchema]);
}
