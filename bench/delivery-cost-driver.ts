import { type Publisher, startPublisher } from './publisher.ts';
import { type BenchReceiver, startReceiverWorker } from './receiver-worker.ts';

/**
 * The other side of the delivery cost benchmark (bench/delivery-cost.ts), in a process of its
 * own so that the service process's CPU time is the service's alone: the webhook receiver
 * (bench/receiver-worker.ts) and the event publishers (bench/publisher.ts), driven over the
 * child-process IPC channel.
 */
export type DriverRequest =
  | { type: 'connect'; url: string; connections: number }
  | { type: 'publish'; prefix: string; total: number; concurrency: number }
  | { type: 'count' }
  | { type: 'take' }
  | { type: 'close' };

export type DriverReply =
  | { type: 'receiver'; url: string }
  | { type: 'connected' }
  | { type: 'published'; accepted: number }
  | { type: 'count'; count: number }
  | { type: 'taken'; received: number; duplicates: number }
  | { type: 'closed' }
  | { type: 'failed'; message: string };

async function serve(send: (reply: DriverReply) => void): Promise<void> {
  const receiver: BenchReceiver = await startReceiverWorker();
  let publisher: Publisher | undefined;
  const handle = async (request: DriverRequest): Promise<DriverReply> => {
    switch (request.type) {
      case 'connect':
        await publisher?.close();
        publisher = await startPublisher({
          kind: 'http',
          url: request.url,
          connections: request.connections,
        });
        return { type: 'connected' };
      case 'publish': {
        if (!publisher) throw new Error('not connected');
        const { accepted } = await publisher.run(request.prefix, {
          mode: 'burst',
          total: request.total,
          concurrency: request.concurrency,
        });
        return { type: 'published', accepted: accepted.length };
      }
      case 'count':
        return { type: 'count', count: await receiver.count() };
      case 'take': {
        const taken = await receiver.take();
        return { type: 'taken', received: taken.receipts.length, duplicates: taken.duplicates };
      }
      case 'close':
        await publisher?.close();
        await receiver.close();
        return { type: 'closed' };
    }
  };
  process.on('message', (request: DriverRequest) => {
    handle(request).then(send, (error: unknown) =>
      send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
    );
  });
  send({ type: 'receiver', url: receiver.url });
}

if (process.send) {
  const channel = process.send.bind(process);
  await serve((reply) => channel(reply));
}
