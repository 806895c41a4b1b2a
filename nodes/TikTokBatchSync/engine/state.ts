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
	/** Puts one user into its destination's window; returns the chunk that will carry it. */
	admit(destination: Destination, user: SyncUser, now: number): Chunk;
	/** Ends every open window now: their chunks become ready. */
	cutWindows(): void;
	/** Queues a ready chunk; retries go to the front. */
	enqueue(chunk: Chunk, front?: boolean): void;
	takeReady(): Chunk | undefined;
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
	private changeWaiters: Array<() => void> = [];

	constructor(
		readonly name: string,
		public settings: SyncSettings,
		private readonly clock: Clock,
		/** Called when a window is cut (by its timer or because it is full). */
		private readonly onReady: () => void,
	) {}

	admit(destination: Destination, user: SyncUser, now: number): Chunk {
		const chunk = this.bufferFor(destination).add(user.key, user.ids, now, this.settings.windowMs, this.settings.usersPerRequest);
		this.counters.admit(1);
		return chunk;
	}

	cutWindows(): void {
		for (const buffer of this.buffers.values()) buffer.cut();
	}

	enqueue(chunk: Chunk, front = false): void {
		if (front) this.readyQueue.unshift(chunk);
		else this.readyQueue.push(chunk);
	}

	takeReady(): Chunk | undefined {
		return this.readyQueue.shift();
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
		for (const buffer of this.buffers.values()) if (buffer.forming) chunks.push(buffer.forming);
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
		const key = destinationKey(destination);
		let buffer = this.buffers.get(key);
		if (!buffer) {
			buffer = new UserBuffer({ ...destination, idSchema: [...destination.idSchema] }, this.clock, (chunk) => {
				this.readyQueue.push(chunk);
				this.onReady();
			});
			this.buffers.set(key, buffer);
		}
		return buffer;
	}
}

export function destinationKey(destination: Destination): string {
	return JSON.stringify([destination.advertiserId, destination.audienceId, destination.action, destination.idSchema]);
}
