/**
 * Heartbeat and control channel, in a worker thread: they keep answering while a cell blocks the main
 * thread. An interrupt_request is answered here and delivered as SIGINT, which stops a synchronous loop
 * (tslab runs cells with breakOnSigint) or an awaited promise; other control requests go to the main thread.
 */
import crypto from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import * as zmq from 'zeromq';
import { decodeOrReject, encode, endpoint, newHeader, type ConnectionInfo } from '../src/notebook/wire';

const { connection, pid, closed } = workerData as { connection: ConnectionInfo; pid: number; closed: Int32Array };
const session = crypto.randomUUID();

const hb = new zmq.Reply();
const socket = new zmq.Router();

async function heartbeat(): Promise<void> {
  await hb.bind(endpoint(connection, connection.hb_port));
  try {
    for await (const frames of hb) await hb.send(frames);
  } catch {
    // closed at shutdown
  }
}

async function control(): Promise<void> {
  await socket.bind(endpoint(connection, connection.control_port));
  let chain: Promise<void> = Promise.resolve();
  const send = (frames: (Buffer | string)[]) => {
    chain = chain.then(() => socket.send(frames));
  };
  parentPort!.on('message', (m: { kind: 'send'; frames: Uint8Array[] } | { kind: 'close' }) => {
    if (m.kind === 'send') {
      send(m.frames.map((f) => Buffer.from(f)));
      return;
    }
    // shutdown: let pending replies go out (briefly), then close the sockets and tell the main thread
    void Promise.race([chain, new Promise((resolve) => setTimeout(resolve, 500))]).finally(() => {
      socket.close();
      hb.close();
      Atomics.store(closed, 0, 1);
      Atomics.notify(closed, 0);
      parentPort!.close();
    });
  });
  for await (const frames of socket) {
    const msg = decodeOrReject(connection.key, frames, 'control');
    if (msg === null) continue;
    if (msg.header.msg_type === 'interrupt_request') {
      process.kill(pid, 'SIGINT');
      send(encode(connection.key, { identities: msg.identities, header: newHeader('interrupt_reply', session), parent_header: msg.header, metadata: {}, content: { status: 'ok' } }));
    } else {
      parentPort!.postMessage({ kind: 'request', frames });
    }
  }
}

void heartbeat();
void control().catch(() => undefined);
