import type { INodeProperties } from 'n8n-workflow';

import * as add from './add.operation';
import * as remove from './remove.operation';

export { add, remove };

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
				name: 'Remove From Audience',
				value: 'remove',
				description: 'Remove users from an audience',
				action: 'Remove users from an audience',
			},
		],
		default: 'add',
	},
	...add.description,
	...remove.description,
];
