import { NodeHelpers } from 'n8n-workflow';
import { batchSyncDescription as d } from '../nodes/TikTokBatchSync/versionDescription';
const params: any = { authentication: 'accessToken', operation: 'sync', action: 'add', advertiserId: { __rl: true, mode: 'id', value: '7100000000000000001' }, audienceSelection: 'byName', audienceName: 'n8n bench', matchFields: ['email'], emailValue: '={{ $json.email }}', options: { waitForDelivery: 'return' } };
const node: any = { name: 'Batch Sync', type: 'x', typeVersion: 1, parameters: params, position: [0,0], id: '1' };
console.log('properties', d.properties.length, JSON.stringify(d.properties).length, 'bytes');
for (let r = 0; r < 3; r++) {
  const n = 2000; const t = performance.now();
  for (let i = 0; i < n; i++) NodeHelpers.getNodeParameters(d.properties, params, true, false, node, d);
  console.log('getNodeParameters(returnDefaults=true)', ((performance.now() - t) / n * 1000).toFixed(1), 'µs');
  const t2 = performance.now();
  for (let i = 0; i < n; i++) NodeHelpers.getNodeParameters(d.properties, params, false, false, node, d);
  console.log('getNodeParameters(returnDefaults=false)', ((performance.now() - t2) / n * 1000).toFixed(1), 'µs');
}
