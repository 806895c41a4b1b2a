import type { INodeProperties } from 'n8n-workflow';

import * as add from './add.operation';
import * as addOrRemove from './addOrRemove.operation';
import * as remove from './remove.operation';

export { add, addOrRemove, remove };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { resource: ['user'] } },
		options: [
			{ name: 'Add to Audience', value: 'add', description: 'Add users to an audience', action: 'Add users to an audience' },
			{
				name: 'Add or Remove per Item',
				value: 'addOrRemove',
				description: 'Each item says "add" or "remove" (e.g. opt-ins and opt-outs in one flow)',
				action: 'Add or remove users per item',
			},
			{
				name: 'Remove From Audience',
				value: 'remove',
				description: 'Remove users from an audience',
				action: 'Remove users from an audience',
			},
		],
		default: 'add',
	},
	...add.description,
	...addOrRemove.description,
	...remove.description,
];
