import type { MappingAction } from '../../shared/transport/types';
import { Chunk } from './chunk';
import type { Destination } from './types';

/** Each window gets the next number: an audience's requests go out in window order when their actions differ. */
let nextWindow = 0;

/** A window number for chunks rebuilt from a journal (taken in their saved order, before any new window). */
export function takeWindowNumber(): number {
	return nextWindow++;
}

/**
 * Gathers the users of one audience (scope + advertiser + audience + id schema) into the next requests: one for
 * the users to add and one for those to remove. The window opens with the first user of an empty buffer and ends
 * `windowMs` later (the store cuts it then), or as soon as it has taken a full request's worth of submissions. A user
 * met again in the window shares its row; with another action, the last action wins and the user moves to that
 * request (to its end: rows are in the order their users took their last action).
 */
export class UserBuffer {
	private forming: Partial<Record<MappingAction, Chunk>> = {};
	/** Per distinct user: its row × 2, plus 1 when the user is to be removed (a number: no object per user). */
	private rows = new Map<string, number>();
	/** Submissions merged into a row beyond the first, only for users met more than once. */
	private merged: Map<string, number> | undefined;
	private window = -1;
	/** Submissions taken into the open window (duplicates included): at a full request's worth it is cut. */
	private submissions = 0;
	/** When the open window ends. */
	endsAt = 0;

	constructor(
		/** The audience; the action of each request is the users'. */
		readonly destination: Destination,
		/** Receives each cut (sealed) chunk that has users, with the time it became due. */
		private readonly onCut: (chunk: Chunk, at: number) => void,
	) {}

	/** The open window's number, or -1. */
	get openWindow(): number {
		return this.window;
	}

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
			this.endsAt = now + windowMs;
		}
		const removing = action === 'delete' ? 1 : 0;
		const chunk = this.chunkFor(action, now);
		const full = ++this.submissions >= usersPerRequest;
		const known = this.rows.get(key);
		if (known === undefined) {
			this.rows.set(key, chunk.append(ids, now) * 2 + removing);
		} else {
			const merged = this.merged ?? (this.merged = new Map());
			const earlier = 1 + (merged.get(key) ?? 0);
			merged.set(key, earlier);
			if ((known & 1) === removing) {
				chunk.addDuplicate(now);
			} else {
				// The last action wins: the user leaves the other request, with every submission it stood for.
				const previous = this.forming[removing ? 'add' : 'delete'] as Chunk;
				previous.cancelRow(known >> 1, earlier, key, chunk);
				this.rows.set(key, chunk.append(ids, now, key) * 2 + removing);
				chunk.addMergedUsers(earlier);
			}
		}
		if (full) this.cut(now);
		return chunk;
	}

	/** Ends the open window: its requests become due at `at`. */
	cut(at: number): void {
		if (this.window === -1) return;
		const chunks = this.formingChunks;
		this.reset();
		for (const chunk of chunks) {
			chunk.seal();
			// A request whose every user moved to the other action has nobody left to send.
			if (chunk.rows > 0) this.onCut(chunk, at);
		}
	}

	/** The chunks still gathering users (the journal must include them), adds first. */
	get formingChunks(): Chunk[] {
		return [this.forming.add, this.forming.delete].filter((chunk): chunk is Chunk => chunk !== undefined);
	}

	dispose(): void {
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
		this.forming = {};
		this.rows = new Map();
		this.merged = undefined;
		this.window = -1;
		this.submissions = 0;
	}
}
