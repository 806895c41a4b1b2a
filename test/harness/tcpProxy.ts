import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of one server (e.g. Redis), so a test can cut one client off while every other
 * client keeps its own connection: `blackhole()` stops passing bytes both ways (connections stay open, nothing
 * arrives: what a network partition looks like), `restore()` passes them again.
 */
export class TcpProxy {
	private readonly server: Server;
	private readonly pairs = new Set<[Socket, Socket]>();
	private holding = false;
	/** Replies to let through before the one to drop (undefined: none to drop). */
	private dropAfter: number | undefined;

	private constructor(target: { host: string; port: number }) {
		this.server = createServer((client) => {
			const upstream = connect(target.port, target.host);
			const pair: [Socket, Socket] = [client, upstream];
			this.pairs.add(pair);
			const forward = (from: Socket, to: Socket, replies: boolean) =>
				from.on('data', (chunk) => {
					if (replies && this.dropAfter !== undefined && this.dropAfter-- === 0) {
						// The command ran on the server; its reply is lost with the connection.
						this.dropAfter = undefined;
						client.destroy();
						upstream.destroy();
						return;
					}
					// Held bytes are dropped, as a partition drops packets: the client sees no answer.
					if (!this.holding) to.write(chunk);
				});
			forward(client, upstream, false);
			forward(upstream, client, true);
			const close = () => {
				this.pairs.delete(pair);
				client.destroy();
				upstream.destroy();
			};
			client.on('close', close);
			upstream.on('close', close);
			client.on('error', close);
			upstream.on('error', close);
		});
	}

	static async start(target: { host: string; port: number }): Promise<TcpProxy> {
		const proxy = new TcpProxy(target);
		await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
		return proxy;
	}

	get port(): number {
		return (this.server.address() as AddressInfo).port;
	}

	/**
	 * The connection drops right after the server answers a command, losing that answer: the `after`-th reply from
	 * now on (0: the next). Keep each reply small enough for one TCP segment.
	 */
	dropReply(after = 0): void {
		this.dropAfter = after;
	}

	blackhole(): void {
		this.holding = true;
	}

	restore(): void {
		this.holding = false;
	}

	async close(): Promise<void> {
		for (const [client, upstream] of this.pairs) {
			client.destroy();
			upstream.destroy();
		}
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}
}
