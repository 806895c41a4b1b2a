import { convertRecords, layoutOf, sameLayout, slotPresent, unionLayout, type Layout } from './layout';
import { RecordSet } from './recordSet';
import type { ChunkWriter, LogOp, MirrorStorage, SnapshotInfo } from './storage';

/** Snapshots are written in chunks of about this size (whole records). */
const WRITE_CHUNK_BYTES = 1 << 20;
/** Log records below which the log is never folded into a new snapshot. */
const COMPACT_AFTER = 50_000;

const ABSENT = 0;
const PRESENT = 1;
/** Sent to TikTok, answer unknown: TikTok may or may not hold it (a crash, a timeout, a failed request). */
const UNCONFIRMED = 2;

const STATE_OF: Record<LogOp, number> = { add: PRESENT, remove: ABSENT, unconfirmed: UNCONFIRMED, part: -1 };

/**
 * What a mirror remembers: members TikTok holds (present) and members whose state in TikTok is not known
 * (unconfirmed: a request about them went out and its answer was a failure or never came). The next mirror sends an
 * unconfirmed member again either way: added if it is in the list, removed if not, so nothing a lost answer applied
 * stays wrong.
 *
 * Stored as a snapshot (present members, then unconfirmed ones) and a log of changes since; opening reads the
 * unconfirmed members and the log (both small: the log is folded into a new snapshot at the end of every mirror)
 * into an overlay; scanning streams the snapshot and lets the overlay decide for the members it touched, so only the
 * overlay is held in memory. Replaying a log on a snapshot that already holds it is harmless: each member's last
 * change decides its state however often the changes are replayed.
 */
export class MirrorMemory {
	private info: SnapshotInfo | undefined;
	private overlay: RecordSet | undefined;
	/** Per overlay record: ABSENT, PRESENT or UNCONFIRMED. */
	private states = new Uint8Array(0);
	private logged = 0;

	private constructor(private readonly storage: MirrorStorage) {}

	static async open(storage: MirrorStorage): Promise<MirrorMemory> {
		const memory = new MirrorMemory(storage);
		memory.info = await storage.readSnapshotInfo();
		const layout = memory.layout;
		if (memory.info && layout) {
			const unconfirmed = await storage.readUnconfirmed(memory.info);
			memory.note(UNCONFIRMED, unconfirmed, unconfirmed.length / layout.width);
			await storage.readLog(memory.info.generation, layout.width, (entry) => {
				if (entry.op !== 'part') memory.note(STATE_OF[entry.op], entry.records, entry.count);
			});
			memory.logged = memory.logged - unconfirmed.length / layout.width;
		}
		return memory;
	}

	/** The layout remembered records are in; undefined before anything was remembered. */
	get layout(): Layout | undefined {
		return this.info ? layoutOf(this.info.types) : undefined;
	}

	/**
	 * Whether a run ever changed the memory: more than the first, empty snapshot a first run writes before it sends
	 * (a later snapshot, or changes in the log). An audience a mirror emptied has a history; a forgotten one has none.
	 */
	get hasHistory(): boolean {
		return this.info !== undefined && (this.info.generation > 1 || this.info.count > 0 || this.logged > 0);
	}

	/** Members in the log since the snapshot. */
	get pendingChanges(): number {
		return this.logged;
	}

	/**
	 * Streams every present member, in chunks of whole records (converted to `as` when given). Returns how many.
	 * The chunks are views: copy what must outlive the call.
	 */
	async scan(visit: (records: Buffer, count: number) => void | Promise<void>, as?: Layout): Promise<number> {
		const layout = this.layout;
		if (!this.info || !layout) return 0;
		const convert = as && !sameLayout(as, layout) ? as : undefined;
		const emit = async (records: Buffer, count: number) => {
			if (count === 0) return;
			await visit(convert ? convertRecords(records, count, layout, convert) : records, count);
		};
		const overlay = this.overlay;
		let total = 0;
		let kept = Buffer.alloc(0);
		await this.storage.readSnapshot(this.info, async (chunk) => {
			const count = chunk.length / layout.width;
			if (!overlay || overlay.count === 0) {
				total += count;
				await emit(chunk, count);
				return;
			}
			if (kept.length < chunk.length) kept = Buffer.allocUnsafe(chunk.length);
			let keptCount = 0;
			for (let n = 0; n < count; n++) {
				const offset = n * layout.width;
				if (overlay.find(chunk, offset) >= 0) continue;
				chunk.copy(kept, keptCount * layout.width, offset, offset + layout.width);
				keptCount++;
			}
			total += keptCount;
			await emit(kept, keptCount);
		});
		for (const [records, count] of this.overlayChunks(PRESENT)) {
			total += count;
			await emit(records, count);
		}
		return total;
	}

	/** The unconfirmed members (converted to `as` when given), with their count. */
	unconfirmed(as?: Layout): { records: Buffer; count: number } {
		const layout = this.layout;
		if (!layout) return { records: Buffer.alloc(0), count: 0 };
		const chunks = [...this.overlayChunks(UNCONFIRMED)].map(([records, count]) => Buffer.from(records.subarray(0, count * layout.width)));
		const records = Buffer.concat(chunks);
		const count = records.length / layout.width;
		return as && !sameLayout(as, layout) ? { records: convertRecords(records, count, layout, as), count } : { records, count };
	}

	/**
	 * Writes down, durably, what is known about these members in TikTok: `unconfirmed` before their request goes out
	 * (so a crash during it cannot leave TikTok holding members nobody remembers), then `add` or `remove` once TikTok
	 * accepted it. Records are in the memory's layout (see prepareFor).
	 */
	async commit(op: 'add' | 'remove' | 'unconfirmed', records: Buffer, count: number): Promise<void> {
		if (count === 0) return;
		if (!this.info) throw new Error('prepareFor() creates the memory before the first commit');
		await this.storage.appendLog(this.info.generation, { op, records, count });
		this.note(STATE_OF[op], records, count);
	}

	/**
	 * Makes the memory able to hold records of `run` and returns the layout to compare in: the memory's own when it
	 * already has every type of `run`, else both layouts' types (Fields to Match changed: the old identifiers must stay
	 * known until they are removed). Rewrites the snapshot in that case; creates an empty memory on a first run.
	 */
	async prepareFor(run: Layout): Promise<Layout> {
		const current = this.layout;
		if (!current) {
			await this.rewrite(run);
			return run;
		}
		const union = unionLayout(current, run);
		if (!sameLayout(union, current)) await this.rewrite(union);
		return union;
	}

	/**
	 * Folds the log into a new snapshot once it holds more than an eighth of the members (or 50,000): a nightly
	 * mirror with 1% changed rewrites its snapshot every few nights, not every night. Identifier types the run (`run`)
	 * no longer uses are dropped once no remembered member has them (Fields to Match lost one and its members were
	 * removed).
	 */
	async compact(run?: Layout, force = false): Promise<void> {
		const layout = this.layout;
		if (!layout || !this.info) return;
		let target = layout;
		if (run && layout.types.some((type) => !run.types.includes(type))) {
			const used = await this.usedTypes(layout);
			if (used.length > 0 && used.length < layout.types.length) target = layoutOf(used);
		}
		const due = force ? this.logged > 0 : this.logged > Math.max(COMPACT_AFTER, this.info.count / 8);
		if (!due && sameLayout(target, layout)) return;
		await this.rewrite(target);
	}

	/** Present members, counted from the snapshot and the log (streams the snapshot when the log is not empty). */
	async count(): Promise<number> {
		if (!this.info) return 0;
		if (this.logged === 0) return this.info.count;
		return await this.scan(() => undefined);
	}

	private async usedTypes(layout: Layout) {
		const used = new Array<boolean>(layout.types.length).fill(false);
		const look = (records: Buffer, count: number) => {
			for (let slot = 0; slot < layout.types.length; slot++) {
				for (let n = 0; n < count && !used[slot]; n++) used[slot] = slotPresent(records, n * layout.width, layout, slot);
			}
		};
		await this.scan(look);
		const unconfirmed = this.unconfirmed();
		look(unconfirmed.records, unconfirmed.count);
		return layout.types.filter((_, slot) => used[slot]);
	}

	/** Writes the memory as a new snapshot in `target`, which becomes current with an empty log. */
	private async rewrite(target: Layout): Promise<void> {
		const previous = this.info?.generation ?? 0;
		const unconfirmed = this.unconfirmed(target);
		this.info = await this.storage.replaceSnapshot(
			previous,
			[...target.types],
			async (write: ChunkWriter) => {
				const buffer = Buffer.allocUnsafe(Math.max(target.width, Math.floor(WRITE_CHUNK_BYTES / target.width) * target.width));
				let used = 0;
				const written = await this.scan(async (records, count) => {
					let offset = 0;
					const bytes = count * target.width;
					while (offset < bytes) {
						const take = Math.min(bytes - offset, buffer.length - used);
						records.copy(buffer, used, offset, offset + take);
						used += take;
						offset += take;
						if (used === buffer.length) {
							await write(buffer);
							used = 0;
						}
					}
				}, target);
				if (used > 0) await write(buffer.subarray(0, used));
				return written;
			},
			unconfirmed.records,
		);
		this.overlay = undefined;
		this.states = new Uint8Array(0);
		this.logged = 0;
		if (unconfirmed.count > 0) this.note(UNCONFIRMED, unconfirmed.records, unconfirmed.count);
		this.logged = 0;
	}

	/** The overlay's records in `state`, as [chunk, count] pairs (the chunk buffer is reused between pairs). */
	private *overlayChunks(state: number): Generator<[Buffer, number]> {
		const layout = this.layout;
		const overlay = this.overlay;
		if (!layout || !overlay) return;
		const records = overlay.records();
		const out = Buffer.allocUnsafe(Math.max(layout.width, Math.min(records.length, WRITE_CHUNK_BYTES)));
		const perChunk = Math.max(1, Math.floor(out.length / layout.width));
		let count = 0;
		for (let n = 0; n < overlay.count; n++) {
			if (this.states[n] !== state) continue;
			records.copy(out, count * layout.width, n * layout.width, (n + 1) * layout.width);
			if (++count === perChunk) {
				yield [out, count];
				count = 0;
			}
		}
		if (count > 0) yield [out, count];
	}

	private note(state: number, records: Buffer, count: number): void {
		const layout = this.layout;
		if (!layout || count === 0) return;
		if (!this.overlay) this.overlay = new RecordSet(layout, Math.max(1024, count));
		for (let n = 0; n < count; n++) {
			const found: number = this.overlay.add(records, n * layout.width);
			const index = found >= 0 ? found : -found - 1;
			if (index >= this.states.length) {
				const grown = new Uint8Array(Math.max(1024, this.states.length * 2, index + 1));
				grown.set(this.states);
				this.states = grown;
			}
			this.states[index] = state;
		}
		this.logged += count;
	}
}
