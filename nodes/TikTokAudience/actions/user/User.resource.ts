import type { INodeProperties } from 'n8n-workflow';

import * as add from './add.operation';
import * as addOrRemove from './addOrRemove.operation';
import * as forgetMirror from './forgetMirror.operation';
import * as mirror from './mirror.operation';
import * as remove from './remove.operation';

export { add, addOrRemove, forgetMirror, mirror, remove };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { resource: ['user'] } },
		options: [
			{
				name: 'Add or Remove per Item',
				value: 'addOrRemove',
				description: 'Each item says "add" or "remove" (e.g. opt-ins and opt-outs in one flow)',
				action: 'Add or remove users per item',
			},
			{ name: 'Add to Audience', value: 'add', description: 'Add users to an audience', action: 'Add users to an audience' },
			{
				name: 'Forget Mirror Memory',
				value: 'forgetMirror',
				description: 'Forget what Mirror List sent to an audience, so the next mirror starts over',
				action: 'Forget what a list mirror sent',
			},
			{
				name: 'Mirror List',
				value: 'mirror',
				description: 'Make the audience equal to a list: add who joined, remove who left, send only the changes',
				action: 'Mirror a list into an audience',
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
	...forgetMirror.description,
	...mirror.description,
	...remove.description,
];
