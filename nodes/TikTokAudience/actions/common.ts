import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { checkTikTokId } from '../../shared/descriptions';
import { toNodeError } from '../../shared/errors';

/** Read an ad account or audience ID (list or ID mode) for one item, trimmed and checked (empty stays empty). */
export function locatorValue(context: IExecuteFunctions, name: 'advertiserId' | 'audienceId', itemIndex: number): string {
	const value = String(context.getNodeParameter(name, itemIndex, '', { extractValue: true }) ?? '').trim();
	return value ? checkTikTokId(context.getNode(), name, value, itemIndex) : value;
}

/**
 * Run `handler` for every input item: its result becomes that item's output (with pairedItem). A failure becomes an
 * error item when "Continue On Fail" is on, else stops the node with n8n's error classes.
 */
export async function forEachItem(
	context: IExecuteFunctions,
	handler: (itemIndex: number) => Promise<IDataObject | IDataObject[]>,
): Promise<INodeExecutionData[]> {
	const items = context.getInputData();
	const output: INodeExecutionData[] = [];
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const result = await handler(itemIndex);
			for (const json of Array.isArray(result) ? result : [result]) output.push({ json, pairedItem: { item: itemIndex } });
		} catch (error) {
			const nodeError = toNodeError(context.getNode(), error, itemIndex);
			if (context.continueOnFail()) {
				output.push({ json: { error: nodeError.message, description: nodeError.description ?? undefined }, pairedItem: { item: itemIndex } });
				continue;
			}
			throw nodeError;
		}
	}
	return output;
}
