import { NodeApiError, NodeOperationError, type INode, type JsonObject } from 'n8n-workflow';

import { MAX_AUDIENCES_PER_AD_ACCOUNT } from './audiences';
import { isTikTokApiError, type TikTokApiError } from './transport/errors';

/**
 * The one vocabulary for TikTok failures, used by both nodes: a short reason (what a user's status carries and the
 * Batch Sync metrics tally) and the advice (what to do about it) that n8n's error shows.
 */

const MAX_REASON_LENGTH = 300;

/**
 * One line for a failure: TikTok's code (or HTTP status) and message, never request data, so it can be stored with
 * a user's status. Anything that is not a TikTok answer (a bug, a socket failing oddly) is named by its error class.
 */
export function describeTikTokFailure(error: unknown): string {
	let text: string;
	if (isTikTokApiError(error)) {
		const label =
			error.code !== undefined
				? `TikTok error ${error.code}`
				: error.httpStatus !== undefined
					? `TikTok HTTP ${error.httpStatus}`
					: 'TikTok request failed';
		text = `${label}: ${error.tiktokMessage}`;
	} else {
		text = error instanceof Error ? `${error.name}: ${error.message}` : `unexpected failure: ${String(error)}`;
	}
	return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text;
}

/** TikTok's answer to a create beyond the per-account audience cap ("… 400 custom audiences, the maximum", "… exceeds the limit"). */
function isAudienceCapMessage(message: string): boolean {
	return /audiences?\b.*\b(maximum|limit|exceed)|\b(maximum|limit|exceed)\w*\b.*\baudiences?\b/i.test(message);
}

/** What to tell the user for each kind of TikTok failure. */
export function adviceFor(error: TikTokApiError): string {
	if (error.errorClass === 'reauthorize') {
		return 'The TikTok token is no longer valid or lacks a permission: reconnect the TikTok credential (and check the app has Audience Management and Ad Account Management).';
	}
	if (!error.isRateLimit && isAudienceCapMessage(error.tiktokMessage)) {
		return `This ad account has reached TikTok's limit of ${MAX_AUDIENCES_PER_AD_ACCOUNT} custom audiences: delete audiences it no longer needs (TikTok Audience → Delete, or in TikTok Ads Manager) or reuse one by name, then run again.`;
	}
	if (error.code === 40002 && /audience/i.test(error.tiktokMessage)) {
		return 'TikTok does not know this audience: it may have been deleted in TikTok, or belong to another ad account.';
	}
	if (error.code === 40001) {
		return 'TikTok refused access: check that the connected account can manage this ad account.';
	}
	if (error.isRateLimit) {
		return 'TikTok is rate-limiting this app: wait and run again, or use the TikTok Batch Sync node, which paces and retries.';
	}
	if (error.errorClass === 'retryable') {
		return 'TikTok had a temporary problem: run again later, or use the TikTok Batch Sync node, which retries for hours.';
	}
	return 'TikTok rejected the request: check the parameters.';
}

/** Turn anything thrown while talking to TikTok into n8n's error classes, with the fix in the message. */
export function toNodeError(node: INode, error: unknown, itemIndex?: number): NodeApiError | NodeOperationError {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	if (isTikTokApiError(error)) {
		const response: JsonObject = {
			code: error.code ?? null,
			message: error.tiktokMessage,
			request_id: error.requestId ?? null,
			httpStatus: error.httpStatus ?? null,
		};
		return new NodeApiError(node, response, {
			message: `${adviceFor(error)} (${describeTikTokFailure(error)})`,
			description: error.requestId ? `TikTok request ID: ${error.requestId}` : undefined,
			httpCode: error.httpStatus ? String(error.httpStatus) : undefined,
			itemIndex,
		});
	}
	return new NodeOperationError(node, error instanceof Error ? error : String(error), { itemIndex });
}
