import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type ILoadOptionsFunctions,
	type INode,
} from 'n8n-workflow';

import { baseUrlFromCredential } from '../../credentials/environment';
import { TikTokClient, type ClientOptions, type TikTokConnection } from './transport/client';

// eslint-disable-next-line @n8n/community-nodes/no-hardcoded-secrets -- a credential type name, not a secret
export const OAUTH2_CREDENTIAL = 'tikTokBusinessOAuth2Api';
export const ACCESS_TOKEN_CREDENTIAL = 'tikTokBusinessApi';

type NodeContext = IExecuteFunctions | ILoadOptionsFunctions;

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
					'Open the credential, press "Connect" again and approve the app in TikTok. If it keeps failing, check that Client ID and Client Secret are the App ID and Secret of the TikTok app whose Advertiser redirect URL is n8n’s OAuth Redirect URL.',
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
