import type { INodeProperties } from 'n8n-workflow';

import * as create from './create.operation';
import * as deleteAudience from './delete.operation';
import * as get from './get.operation';
import * as getMany from './getMany.operation';

export { create, deleteAudience as delete, get, getMany };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { resource: ['audience'] } },
		options: [
			{ name: 'Create', value: 'create', description: 'Create an audience, or reuse the one with the same name', action: 'Create an audience' },
			{ name: 'Delete', value: 'delete', description: 'Delete an audience', action: 'Delete an audience' },
			{ name: 'Get', value: 'get', description: 'Get an audience’s size, validity and expiry', action: 'Get an audience' },
			{ name: 'Get Many', value: 'getMany', description: 'List the audiences of an ad account', action: 'Get many audiences' },
		],
		default: 'create',
	},
	...create.description,
	...deleteAudience.description,
	...get.description,
	...getMany.description,
];
