/**
 * Counts the engine's work under way in this process (script calls, pumps, sends), so a test on a manual clock can
 * wait until nothing is in progress before it moves time on.
 */
export class Activity {
	private active = 0;
	private idleWaiters: Array<() => void> = [];

	/** Counts `work` until it ends (its failure is the caller's to handle; here it only ends the count). */
	track<T>(work: Promise<T>): Promise<T> {
		this.active++;
		work.then(
			() => this.done(),
			() => this.done(),
		);
		return work;
	}

	/** Resolves when nothing is under way, with whether that was already so. */
	whenIdle(): Promise<boolean> {
		if (this.active === 0) return Promise.resolve(true);
		return new Promise((resolve) => this.idleWaiters.push(() => resolve(false)));
	}

	private done(): void {
		this.active--;
		if (this.active > 0) return;
		const waiters = this.idleWaiters;
		this.idleWaiters = [];
		for (const resolve of waiters) resolve();
	}
}
