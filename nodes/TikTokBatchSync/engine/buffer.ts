import type { MappingAction } from '../../shared/transport/types';
import { Chunk } from './chunk';
import type { Clock } from './clock';
import type { Destination } from './types';

/** Where one distinct user of a window is carried. A later action for the same user in the window moves it. */
export interface WindowEntry {
	chunk: Chunk;
}

interface Slot extends WindowEntry {
	action: MappingAction;
	/** Its row in `chunk`. */
	row: number;
	/** Submitted users it stands for (duplicates merged into it). */
	users: number;
}

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
	private slots = new Map<string, Slot>();
	private window = -1;
	private windowTimer: unknown;

	constructor(
		/** The audience; the action of each request is the users'. */
		readonly destination: Destination,
		private readonly clock: Clock,
		/** Receives each cut (sealed) chunk. */
		private readonly onCut: (chunk: Chunk) => void,
	) {}

	/** Adds one user; the returned entry tells which chunk carries it (read it later: a later action may move it). */
	add(
		key: string,
		ids: ReadonlyArray<string | undefined>,
		action: MappingAction,
		now: number,
		windowMs: number,
		usersPerRequest: number,
	): WindowEntry {
		if (this.window === -1) {
			this.window = takeWindowNumber();
			this.windowTimer = this.clock.setTimeout(() => {
				this.windowTimer = undefined;
				this.cut();
			}, windowMs);
		}
		const slot = this.slots.get(key);
		if (slot && slot.action === action) {
			slot.chunk.addDuplicate(now);
			slot.users++;
			return slot;
		}
		const chunk = this.chunkFor(action, now);
		if (slot) {
			// The last action wins: the user leaves the other request, with every submission it stood for.
			slot.chunk.cancelRow(slot.row, slot.users);
			chunk.append(ids, now);
			chunk.addMergedUsers(slot.users);
			slot.chunk = chunk;
			slot.action = action;
			slot.row = chunk.rows - 1;
			slot.users++;
			return slot;
		}
		chunk.append(ids, now);
		const created: Slot = { chunk, action, row: chunk.rows - 1, users: 1 };
		this.slots.set(key, created);
		if (this.slots.size >= usersPerRequest) this.cut();
		return created;
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
		this.slots = new Map();
		this.window = -1;
	}
}
