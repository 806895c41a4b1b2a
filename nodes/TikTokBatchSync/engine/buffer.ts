import { Chunk } from './chunk';
import type { Clock } from './clock';
import type { Destination } from './types';

/**
 * Gathers the users of one queue (scope + destination) into the next request. The window timer starts when the
 * first user enters an empty buffer; the buffer is cut when the window ends or when it holds a full request.
 * Because a buffer never holds more than one request's worth of distinct users, it is exactly one forming Chunk
 * and its dedupe set never grows beyond 10,000 keys.
 */
export class UserBuffer {
	private chunk: Chunk | undefined;
	private keys = new Set<string>();
	private windowTimer: unknown;

	constructor(
		readonly destination: Destination,
		private readonly clock: Clock,
		/** Receives each cut (sealed) chunk. */
		private readonly onCut: (chunk: Chunk) => void,
	) {}

	/** Adds one user and returns the chunk that will carry it (read it before the next add: the chunk may be cut). */
	add(key: string, ids: ReadonlyArray<string | undefined>, now: number, windowMs: number, usersPerRequest: number): Chunk {
		let chunk = this.chunk;
		if (!chunk) {
			chunk = new Chunk(this.destination, now);
			this.chunk = chunk;
			this.windowTimer = this.clock.setTimeout(() => {
				this.windowTimer = undefined;
				this.cut();
			}, windowMs);
		}
		const distinctBefore = this.keys.size;
		this.keys.add(key); // one hash lookup instead of has() + add()
		if (this.keys.size === distinctBefore) {
			chunk.addDuplicate(now);
		} else {
			chunk.append(ids, now);
			if (chunk.rows >= usersPerRequest) this.cut();
		}
		return chunk;
	}

	/** Sends the buffered users now, whatever the window says. */
	cut(): Chunk | undefined {
		const chunk = this.chunk;
		if (!chunk) return undefined;
		if (this.windowTimer !== undefined) this.clock.clearTimeout(this.windowTimer);
		this.windowTimer = undefined;
		this.chunk = undefined;
		this.keys = new Set();
		chunk.seal();
		this.onCut(chunk);
		return chunk;
	}

	/** The chunk still gathering users, if any (the journal must include it). */
	get forming(): Chunk | undefined {
		return this.chunk;
	}

	dispose(): void {
		if (this.windowTimer !== undefined) this.clock.clearTimeout(this.windowTimer);
		this.windowTimer = undefined;
		this.chunk = undefined;
		this.keys = new Set();
	}
}
