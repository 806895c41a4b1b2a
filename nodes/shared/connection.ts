import {
	NodeApiError,
	NodeOperationError,
	type ICredentialDataDecryptedObject,
	type IDataObject,
	type IExecuteFunctions,
	type ILoadOptionsFunctions,
	type INode,
	type JsonObject,
} from 'n8n-workflow';

import { MAX_AUDIENCES_PER_AD_ACCOUNT } from './audiences';
import { TikTokClient, type ClientOptions, type TikTokConnection } from './transport/client';
import { isTikTokApiError, type TikTokApiError } from './transport/errors';
import { ENVIRONMENT_BASE_URLS, type TikTokEnvironment } from './transport/types';

// eslint-disable-next-line @n8n/community-nodes/no-hardcoded-secrets -- a credential type name, not a secret
export const OAUTH2_CREDENTIAL = 'tikTokBusinessOAuth2Api';
export const ACCESS_TOKEN_CREDENTIAL = 'tikTokBusinessApi';

type NodeContext = IExecuteFunctions | ILoadOptionsFunctions;

export function baseUrlFromCredential(credentials: ICredentialDataDecryptedObject): string {
	const environment = (credentials.environment as TikTokEnvironment | undefined) ?? 'production';
	if (environment === 'custom') return String(credentials.baseUrl ?? '').replace(/\/+$/, '');
	return ENVIRONMENT_BASE_URLS[environment] ?? ENVIRONMENT_BASE_URLS.production;
}

/**
 * The token n8n stored after "Connect". TikTok answers its token endpoint either flat (access_token at the top) or
 * in its envelope (data.access_token); n8n keeps the whole body, so both are read. n8n also stores a TikTok error
 * answer (HTTP 200 with a non-zero code) as if it were a token and says "Connection successful": that is caught here.
 */
export function tokenFromOAuthData(node: INode, oauthTokenData: unknown): string {
	const data = (oauthTokenData ?? {}) as IDataObject;
	const code = data.code === undefined ? 0 : Number(data.code);
	const nested = (data.data ?? {}) as IDataObject;
	const token = (data.access_token ?? nested.access_token) as string | undefined;
	if (code !== 0 || typeof token !== 'string' || token.length === 0) {
		const tiktokMessage = typeof data.message === 'string' && data.message ? ` TikTok said: "${data.message}"` : '';
		throw new NodeOperationError(
			node,
			'The TikTok connection did not complete: reconnect the TikTok credential.' + tiktokMessage,
			{
				description:
					'Open the credential, press "Connect my account" again and approve the app in TikTok. If it keeps failing, check that the App ID and Secret belong to the TikTok app whose redirect URL is n8n’s OAuth callback URL.',
			},
		);
	}
	return token;
}

/** Read whichever credential the node uses and turn it into a TikTok connection. */
export async function getConnection(context: NodeContext): Promise<TikTokConnection> {
	const authentication = context.getNodeParameter('authentication', 0, 'oAuth2') as string;
	if (authentication === 'accessToken') {
		const credentials = await context.getCredentials(ACCESS_TOKEN_CREDENTIAL);
		const accessToken = String(credentials.accessToken ?? '').trim();
		if (!accessToken) {
			throw new NodeOperationError(context.getNode(), 'The TikTok credential has no access token: add one or switch to OAuth2.');
		}
		return {
			baseUrl: baseUrlFromCredential(credentials),
			accessToken,
			appId: String(credentials.appId ?? '').trim() || undefined,
			secret: String(credentials.secret ?? '').trim() || undefined,
		};
	}
	const credentials = await context.getCredentials(OAUTH2_CREDENTIAL);
	return {
		baseUrl: baseUrlFromCredential(credentials),
		accessToken: tokenFromOAuthData(context.getNode(), credentials.oauthTokenData),
		appId: String(credentials.clientId ?? '').trim() || undefined,
		secret: String(credentials.clientSecret ?? '').trim() || undefined,
	};
}

export async function getClient(context: NodeContext, options: ClientOptions = {}): Promise<TikTokClient> {
	return new TikTokClient(await getConnection(context), options);
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

/** One-line summary used as a per-user reason: code and TikTok's message, never request data. */
export function describeTikTokError(error: TikTokApiError): string {
	const parts = [error.code !== undefined ? `TikTok code ${error.code}` : undefined, error.httpStatus && error.httpStatus !== 200 ? `HTTP ${error.httpStatus}` : undefined].filter(Boolean);
	return `${parts.length ? parts.join(', ') + ': ' : ''}${error.tiktokMessage}`;
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
			message: `${adviceFor(error)} (${describeTikTokError(error)})`,
			description: error.requestId ? `TikTok request ID: ${error.requestId}` : undefined,
			httpCode: error.httpStatus ? String(error.httpStatus) : undefined,
			itemIndex,
		});
	}
	return new NodeOperationError(node, error instanceof Error ? error : String(error), { itemIndex });
}
