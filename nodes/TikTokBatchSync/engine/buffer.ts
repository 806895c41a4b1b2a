import type { MappingAction } from '../../shared/transport/types';
import { Chunk } from './chunk';
import type { Clock } from './clock';
import type { Destination } from './types';

/** Each window gets the next number: an audience's requests go out in window order when their actions differ. */
let nextWindow = 0;

/** A window number for chunks rebuilt from a journal (taken in their saved order, before any new window). */
export function takeWindowNumber(): number {
	return nextWindow++;
}

/**
 * Gathers the users of one audience (scope + advertiser + audience + id schema) into the next requests: one for
 * the users to add and one for those to remove. The window timer starts when the first user enters an empty buffer;
 * the buffer is cut when the window ends or when it holds a full request's worth of distinct users. A user met again
 * in the window shares its row; with another action, the last action wins and the user moves to that request.
 */
export class UserBuffer {
	private forming: Partial<Record<MappingAction, Chunk>> = {};
	/** Per distinct user: its row × 2, plus 1 when the user is to be removed (a number: no object per user). */
	private rows = new Map<string, number>();
	/** Submissions merged into a row beyond the first, only for users met more than once. */
	private merged: Map<string, number> | undefined;
	private window = -1;
	private windowTimer: unknown;

	constructor(
		/** The audience; the action of each request is the users'. */
		readonly destination: Destination,
		private readonly clock: Clock,
		/** Receives each cut (sealed) chunk. */
		private readonly onCut: (chunk: Chunk) => void,
	) {}

	/**
	 * Adds one user; returns the chunk that carries it now (a later action for the same user in the window may move
	 * it: Chunk.carrierOf follows).
	 */
	add(
		key: string,
		ids: ReadonlyArray<string | undefined>,
		action: MappingAction,
		now: number,
		windowMs: number,
		usersPerRequest: number,
	): Chunk {
		if (this.window === -1) {
			this.window = takeWindowNumber();
			this.windowTimer = this.clock.setTimeout(() => {
				this.windowTimer = undefined;
				this.cut();
			}, windowMs);
		}
		const removing = action === 'delete' ? 1 : 0;
		const chunk = this.chunkFor(action, now);
		const known = this.rows.get(key);
		if (known === undefined) {
			this.rows.set(key, chunk.append(ids, now) * 2 + removing);
			if (this.rows.size >= usersPerRequest) this.cut();
			return chunk;
		}
		const merged = this.merged ?? (this.merged = new Map());
		const earlier = 1 + (merged.get(key) ?? 0);
		merged.set(key, earlier);
		if ((known & 1) === removing) {
			chunk.addDuplicate(now);
			return chunk;
		}
		// The last action wins: the user leaves the other request, with every submission it stood for.
		const previous = this.forming[removing ? 'add' : 'delete'] as Chunk;
		previous.cancelRow(known >> 1, earlier, key, chunk);
		this.rows.set(key, chunk.append(ids, now, key) * 2 + removing);
		chunk.addMergedUsers(earlier);
		return chunk;
	}
	/** Sends the buffered users now, whatever the window says. */
	cut(): Chunk[] {
		if (this.window === -1) return [];
		if (this.windowTimer !== undefined) this.clock.clearTimeout(this.windowTimer);
		const chunks = this.formingChunks;
		this.reset();
		for (const chunk of chunks) {
			chunk.seal();
			// A request whose every user moved to the other action has nobody left to send.
			if (chunk.rows > 0) this.onCut(chunk);
		}
		return chunks;
	}

	/** The chunks still gathering users (the journal must include them). */
	get formingChunks(): Chunk[] {
		return [this.forming.delete, this.forming.add].filter((chunk): chunk is Chunk => chunk !== undefined);
	}

	dispose(): void {
		if (this.windowTimer !== undefined) this.clock.clearTimeout(this.windowTimer);
		this.reset();
	}

	private chunkFor(action: MappingAction, now: number): Chunk {
		let chunk = this.forming[action];
		if (!chunk) {
			chunk = new Chunk({ ...this.destination, action }, now, { window: this.window });
			this.forming[action] = chunk;
		}
		return chunk;
	}

	private reset(): void {
		this.windowTimer = undefined;
		this.forming = {};
		this.rows = new Map();
		this.merged = undefined;
		this.window = -1;
	}
}
