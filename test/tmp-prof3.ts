import { phoneValue } from '../nodes/shared/identifiers/phone';
import { phoneOf, e164PhoneOf, nationalPhoneOf } from '../bench/lib/users';
const N = 30000;
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
const sets = { mixed: Array.from({ length: N }, (_, i) => phoneOf(i)), e164: Array.from({ length: N }, (_, i) => e164PhoneOf(i)), nat: Array.from({ length: N }, (_, i) => nationalPhoneOf(i)) };
for (let k = 0; k < 6; k++) { const by: string[] = []; for (let c = 0; c < 6; c++) { const raw = sets.mixed.filter((_, i) => i % 6 === c); const t = cpu(); for (let r = 0; r < 5; r++) for (const x of raw) phoneValue(x, '44'); by.push(((cpu() - t) / raw.length / 5).toFixed(2)); }
 const o: string[] = []; for (const [n, raw] of Object.entries(sets)) { const t = cpu(); for (const x of raw) phoneValue(x, '44'); o.push(n + ' ' + ((cpu() - t) / N).toFixed(2)); }
 if (k > 1) console.log('mixed by case', by.join(' '), '|', o.join(' ')); }
