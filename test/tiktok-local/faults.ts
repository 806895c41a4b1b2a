/**
 * Failures a test asks for ahead of time. A fault matches requests whose path contains `pathIncludes` (all
 * non-control requests when absent) and is spent after `count` matches or `durationMs`, whichever comes first;
 * with neither, it hits the next matching request only.
 */
export interface FaultSpec {
	/** Fault the next N matching requests. */
	count?: number;
	/** Fault every matching request for this long (from when the fault was added). */
	durationMs?: number;
	/** Substring of the request path, e.g. 'segment/mapping'. */
	pathIncludes?: string;
	/** Envelope code to answer with (HTTP 200 unless httpStatus says otherwise). */
	code?: number;
	/** Envelope message; a TikTok-like default is picked from the code otherwise. */
	message?: string;
	/** Envelope data (default `{}`), e.g. `{ list: [] }` with code 0 for a lookup TikTok answers with nothing found. */
	data?: Record<string, unknown>;
	/** HTTP status to answer with. */
	httpStatus?: number;
	/** Answer with an HTML page, as an edge proxy does (HTTP 502 unless httpStatus is set). */
	html?: boolean;
	/** Wait this long first; alone, the request is then handled normally. */
	delayMs?: number;
	/** Destroy the socket without answering (after delayMs, if set). */
	reset?: boolean;
}

interface ActiveFault {
	id: number;
	spec: FaultSpec;
	remaining: number;
	expiresAt: number;
}

/** Whether the fault answers in place of the real handler (otherwise it only delays). */
export function faultReplacesAnswer(spec: FaultSpec): boolean {
	return spec.reset === true || spec.html === true || spec.code !== undefined || spec.httpStatus !== undefined;
}

function checkOptionalNumber(value: unknown, name: string, min: number): void {
	if (value === undefined) return;
	if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
		throw new Error(`${name} must be a number >= ${min}`);
	}
}

/** Checks a spec that may have come over HTTP; throws with a readable message. */
export function validateFaultSpec(input: unknown): FaultSpec {
	if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new Error('A fault must be a JSON object');
	const spec = input as Record<string, unknown>;
	checkOptionalNumber(spec.count, 'count', 1);
	checkOptionalNumber(spec.durationMs, 'durationMs', 1);
	checkOptionalNumber(spec.code, 'code', 0);
	checkOptionalNumber(spec.httpStatus, 'httpStatus', 100);
	checkOptionalNumber(spec.delayMs, 'delayMs', 0);
	if (spec.httpStatus !== undefined && (spec.httpStatus as number) > 599) throw new Error('httpStatus must be <= 599');
	for (const key of ['pathIncludes', 'message'] as const) {
		if (spec[key] !== undefined && typeof spec[key] !== 'string') throw new Error(`${key} must be a string`);
	}
	if (spec.data !== undefined && (spec.data === null || typeof spec.data !== 'object' || Array.isArray(spec.data))) {
		throw new Error('data must be a JSON object');
	}
	for (const key of ['html', 'reset'] as const) {
		if (spec[key] !== undefined && typeof spec[key] !== 'boolean') throw new Error(`${key} must be a boolean`);
	}
	if (!faultReplacesAnswer(spec as FaultSpec) && spec.delayMs === undefined) {
		throw new Error('A fault needs at least one of code, httpStatus, html, reset or delayMs');
	}
	return spec as FaultSpec;
}

export class FaultInjector {
	private faults: ActiveFault[] = [];
	private nextId = 1;

	add(spec: FaultSpec, now = Date.now()): number {
		const checked = validateFaultSpec(spec);
		const limitedByTime = checked.durationMs !== undefined;
		const id = this.nextId++;
		this.faults.push({
			id,
			spec: { ...checked },
			remaining: checked.count ?? (limitedByTime ? Number.POSITIVE_INFINITY : 1),
			expiresAt: limitedByTime ? now + (checked.durationMs as number) : Number.POSITIVE_INFINITY,
		});
		return id;
	}

	clear(): void {
		this.faults = [];
	}

	get size(): number {
		return this.faults.length;
	}

	/** The first live fault matching the path, spending one of its uses; undefined when none applies. */
	take(path: string, now = Date.now()): FaultSpec | undefined {
		if (this.faults.length === 0) return undefined;
		this.faults = this.faults.filter((fault) => fault.remaining > 0 && fault.expiresAt > now);
		for (const fault of this.faults) {
			if (fault.spec.pathIncludes !== undefined && !path.includes(fault.spec.pathIncludes)) continue;
			fault.remaining--;
			return fault.spec;
		}
		return undefined;
	}
}
