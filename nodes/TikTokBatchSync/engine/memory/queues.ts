import type { Chunk } from '../chunk';

/** Send order: when a request became due, then its window, adds before removes. */
export function sendsBefore(a: Chunk, b: Chunk): boolean {
	if (a.readyAt !== b.readyAt) return a.readyAt < b.readyAt;
	if (a.window !== b.window) return a.window < b.window;
	return a.destination.action === 'add' && b.destination.action !== 'add';
}

/**
 * Requests due to be sent, in send order. New requests are due now and go to the end; a retry coming due goes to its
 * place (a binary search: the queue is short unless requests are tiny).
 */
export class ReadyQueue {
	private readonly items: Chunk[] = [];

	get length(): number {
		return this.items.length;
	}

	/** In send order (read-only). */
	get chunks(): ReadonlyArray<Chunk> {
		return this.items;
	}

	insert(chunk: Chunk): void {
		const items = this.items;
		let low = 0;
		let high = items.length;
		if (high === 0 || sendsBefore(items[high - 1], chunk)) {
			items.push(chunk);
			return;
		}
		while (low < high) {
			const middle = (low + high) >> 1;
			if (sendsBefore(items[middle], chunk)) low = middle + 1;
			else high = middle;
		}
		items.splice(low, 0, chunk);
	}

	/** Takes the first request that `canSend` allows (the others keep their places). */
	take(canSend: (chunk: Chunk) => boolean): Chunk | undefined {
		const index = this.items.findIndex(canSend);
		return index === -1 ? undefined : this.items.splice(index, 1)[0];
	}

	clear(): void {
		this.items.length = 0;
	}
}

/**
 * Requests waiting for their retry, earliest due first (a binary heap). An entry whose chunk was released early (a
 * probe, or a success after an authorization failure) is skipped when it surfaces.
 */
export class RetryHeap {
	private readonly heap: Array<{ at: number; chunk: Chunk }> = [];

	get size(): number {
		return this.heap.length;
	}

	push(chunk: Chunk): void {
		const heap = this.heap;
		heap.push({ at: chunk.dueAt, chunk });
		let index = heap.length - 1;
		while (index > 0) {
			const parent = (index - 1) >> 1;
			if (heap[parent].at <= heap[index].at) break;
			[heap[parent], heap[index]] = [heap[index], heap[parent]];
			index = parent;
		}
	}

	/** The earliest live entry's due time, or undefined. */
	peekAt(): number | undefined {
		this.dropStale();
		return this.heap[0]?.at;
	}

	/** Takes the earliest live chunk if it is due by `now`. */
	popDue(now: number): Chunk | undefined {
		this.dropStale();
		const top = this.heap[0];
		if (!top || top.at > now) return undefined;
		this.removeTop();
		return top.chunk;
	}

	clear(): void {
		this.heap.length = 0;
	}

	private dropStale(): void {
		while (this.heap.length > 0) {
			const { at, chunk } = this.heap[0];
			if (chunk.state === 'waitingRetry' && chunk.dueAt === at) return;
			this.removeTop();
		}
	}

	private removeTop(): void {
		const heap = this.heap;
		const last = heap.pop() as { at: number; chunk: Chunk };
		if (heap.length === 0) return;
		heap[0] = last;
		let index = 0;
		for (;;) {
			const left = index * 2 + 1;
			const right = left + 1;
			let smallest = index;
			if (left < heap.length && heap[left].at < heap[smallest].at) smallest = left;
			if (right < heap.length && heap[right].at < heap[smallest].at) smallest = right;
			if (smallest === index) return;
			[heap[smallest], heap[index]] = [heap[index], heap[smallest]];
			index = smallest;
		}
	}
}
