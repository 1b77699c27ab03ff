/**
 * The relulab kernel's Jupyter protocol layer: shell and iopub sockets on the main thread, heartbeat and
 * control in a worker thread (so that interrupt and heartbeat answer while a cell blocks the main thread).
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as zmq from 'zeromq';
import { decodeOrReject, encode, endpoint, newHeader, PROTOCOL_VERSION, type ConnectionInfo, type Header, type Message } from '../src/notebook/wire';
import { setDisplayHook } from '../src/display';
import { attachPublisher, bundleOf, display, HELPERS, outputContext, setFallbackContext } from './display';
import { Session, type RunResult } from './session';

/** Serialises sends on one socket (zeromq rejects a send while another is pending). */
class Outbox {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly socket: zmq.Writable) {}
  send(frames: (Buffer | string)[]): Promise<void> {
    this.chain = this.chain.then(() => this.socket.send(frames)).catch((e: unknown) => {
      process.stderr.write(`relulab kernel: send failed: ${(e as Error).message}\n`);
    });
    return this.chain;
  }
}

interface ExecuteContent {
  code: string;
  silent?: boolean;
  store_history?: boolean;
  stop_on_error?: boolean;
}

/** [session, line, input]; `output` is the execute_result's text, for history with output. */
type HistoryEntry = [number, number, string];
interface Recorded {
  entry: HistoryEntry;
  output: string | null;
}

export interface KernelOptions {
  connection: ConnectionInfo;
  /** Where the worker script lives (dist/kernel/control-worker.js). */
  workerScript?: string;
}

export class Kernel {
  private readonly key: string;
  private readonly session = crypto.randomUUID();
  private readonly shell = new zmq.Router();
  private readonly iopub = new zmq.Publisher();
  private readonly stdin = new zmq.Router();
  private readonly shellOut = new Outbox(this.shell);
  private readonly iopubOut = new Outbox(this.iopub);
  private worker: Worker | null = null;
  private runtime!: Session;
  private executionCount = 0;
  private readonly history: Recorded[] = [];
  private queue: Promise<void> = Promise.resolve();
  private abortBefore = 0;
  private executeSerial = 0;
  private closed = false;

  constructor(private readonly options: KernelOptions) {
    this.key = options.connection.key;
  }

  async start(): Promise<void> {
    const c = this.options.connection;
    await Promise.all([this.shell.bind(endpoint(c, c.shell_port)), this.iopub.bind(endpoint(c, c.iopub_port)), this.stdin.bind(endpoint(c, c.stdin_port))]);
    this.startWorker();
    this.captureStreams();
    attachPublisher({ publish: (t, content, parent) => this.publish(t, content, parent) });
    setDisplayHook(display);
    this.runtime = new Session(process.cwd());
    await this.runtime.loadPrelude(path.join(__dirname, 'display'), HELPERS);
    process.on('SIGINT', () => this.runtime.interrupt());
    void this.serveShell();
  }

  private startWorker(): void {
    const script = this.options.workerScript ?? path.join(__dirname, 'control-worker.js');
    const closed = new Int32Array(new SharedArrayBuffer(4));
    this.worker = new Worker(script, { workerData: { connection: this.options.connection, pid: process.pid, closed } });
    // process.exit() from a cell must not tear the worker's sockets down mid-flight (zeromq aborts then):
    // ask the worker to close them, wait for its signal, then exit
    const exit = process.exit.bind(process);
    process.exit = ((code?: number) => {
      this.worker?.postMessage({ kind: 'close' });
      Atomics.wait(closed, 0, 0, 2000);
      exit(code);
    }) as typeof process.exit;
    this.worker.on('message', (m: { kind: 'request'; frames: Buffer[] }) => {
      void this.handleControl(m.frames.map((f) => Buffer.from(f)));
    });
    this.worker.on('error', (e) => process.stderr.write(`relulab kernel: control worker failed: ${e.message}\n`));
  }

  /** stdout and stderr of cells become `stream` outputs of the cell that wrote them. */
  private captureStreams(): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = process[name];
      const original = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        const ctx = outputContext.getStore();
        if (ctx === undefined) return original(chunk as never, ...(rest as [never]));
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString();
        this.publish('stream', { name, text }, ctx.parent);
        const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        callback?.();
        return true;
      }) as typeof stream.write;
    }
  }

  publish(msgType: string, content: Record<string, unknown>, parent: Partial<Header> | Record<string, unknown>): void {
    if (this.closed) return;
    const header = newHeader(msgType, this.session);
    void this.iopubOut.send(encode(this.key, { identities: [Buffer.from(`kernel.${this.session}.${msgType}`)], header, parent_header: parent, metadata: {}, content }));
  }

  private reply(out: Outbox, request: Message, msgType: string, content: Record<string, unknown>, metadata: Record<string, unknown> = {}): Promise<void> {
    const header = newHeader(msgType, this.session);
    return out.send(encode(this.key, { identities: request.identities, header, parent_header: request.header, metadata, content }));
  }

  private async serveShell(): Promise<void> {
    for await (const frames of this.shell) {
      const msg = decodeOrReject(this.key, frames, 'shell');
      if (msg === null) continue;
      if (msg.header.msg_type === 'execute_request') {
        const serial = ++this.executeSerial;
        this.queue = this.queue.then(() => this.execute(msg, serial));
      } else {
        // everything else is answered at once, while an asynchronous cell runs as well
        await this.handle(msg, this.shellOut);
      }
    }
  }

  private async handle(msg: Message, out: Outbox): Promise<void> {
    const busy = () => this.publish('status', { execution_state: 'busy' }, msg.header);
    const idle = () => this.publish('status', { execution_state: 'idle' }, msg.header);
    const type = msg.header.msg_type;
    const content = msg.content as Record<string, unknown>;
    busy();
    try {
      switch (type) {
        case 'kernel_info_request':
          await this.reply(out, msg, 'kernel_info_reply', kernelInfo());
          break;
        case 'complete_request': {
          const code = String(content.code ?? '');
          const cursor = Number(content.cursor_pos ?? code.length);
          const r = this.runtime.complete(code, cursor);
          await this.reply(out, msg, 'complete_reply', { status: 'ok', matches: r.matches, cursor_start: r.start, cursor_end: r.end, metadata: {} });
          break;
        }
        case 'inspect_request': {
          const code = String(content.code ?? '');
          const text = this.runtime.inspect(code, Number(content.cursor_pos ?? code.length));
          await this.reply(out, msg, 'inspect_reply', { status: 'ok', found: text !== null, data: text === null ? {} : { 'text/plain': text }, metadata: {} });
          break;
        }
        case 'is_complete_request':
          await this.reply(out, msg, 'is_complete_reply', this.runtime.isComplete(String(content.code ?? '')));
          break;
        case 'history_request':
          await this.reply(out, msg, 'history_reply', {
            status: 'ok',
            history: this.historyFor(content).map(({ entry: [session, line, input], output }) => (content.output ? [session, line, [input, output]] : [session, line, input])),
          });
          break;
        case 'comm_info_request':
          await this.reply(out, msg, 'comm_info_reply', { status: 'ok', comms: {} });
          break;
        case 'comm_open':
          // no comm targets are registered: close the comm, as the protocol asks
          this.publish('comm_close', { comm_id: content.comm_id, data: {} }, msg.header);
          break;
        case 'comm_msg':
        case 'comm_close':
          break;
        case 'shutdown_request':
          await this.reply(out, msg, 'shutdown_reply', { status: 'ok', restart: Boolean(content.restart) });
          idle();
          await this.shutdown();
          return;
        case 'interrupt_request':
          this.runtime.interrupt();
          await this.reply(out, msg, 'interrupt_reply', { status: 'ok' });
          break;
        default:
          process.stderr.write(`relulab kernel: unsupported message type ${type}\n`);
      }
    } finally {
      idle();
    }
  }

  /** Requests that arrived on control, forwarded by the worker (which answers interrupts itself). */
  private async handleControl(frames: Buffer[]): Promise<void> {
    const msg = decodeOrReject(this.key, frames, 'control');
    if (msg === null) return;
    const out = { send: (f: (Buffer | string)[]) => this.worker?.postMessage({ kind: 'send', frames: f.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)) }) };
    await this.handle(msg, out as unknown as Outbox);
  }

  private historyFor(content: Record<string, unknown>): Recorded[] {
    const kind = content.hist_access_type;
    if (kind === 'tail') return this.history.slice(-Number(content.n ?? 10));
    if (kind === 'range') {
      const start = Number(content.start ?? 0);
      const stop = content.stop === undefined || content.stop === null ? Infinity : Number(content.stop);
      return this.history.filter(({ entry: [, line] }) => line >= start && line < stop);
    }
    if (kind === 'search') {
      const pattern = String(content.pattern ?? '*');
      const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
      let found = this.history.filter(({ entry: [, , input] }) => re.test(input));
      if (content.unique) found = found.filter(({ entry: [, , input] }, i) => found.findIndex(({ entry: [, , other] }) => other === input) === i);
      return content.n ? found.slice(-Number(content.n)) : found;
    }
    return [];
  }

  private async execute(msg: Message, serial: number): Promise<void> {
    const content = msg.content as unknown as ExecuteContent;
    const parent = msg.header as unknown as Record<string, unknown>;
    this.publish('status', { execution_state: 'busy' }, parent);
    try {
      if (serial <= this.abortBefore) {
        await this.reply(this.shellOut, msg, 'execute_reply', { status: 'aborted', execution_count: this.executionCount }, { status: 'aborted' });
        return;
      }
      const silent = content.silent === true;
      const storeHistory = content.store_history ?? !silent;
      if (storeHistory) this.executionCount++;
      const count = this.executionCount;
      if (!silent) this.publish('execute_input', { code: content.code, execution_count: count }, parent);
      const recorded: Recorded = { entry: [1, count, content.code], output: null };
      if (storeHistory) this.history.push(recorded);
      setFallbackContext({ parent });
      let result: RunResult;
      try {
        result = await outputContext.run({ parent }, () => this.runtime.run(content.code));
      } finally {
        setFallbackContext(null);
      }
      if (result.status === 'ok') {
        if (result.hasValue && !silent && result.value !== undefined) {
          const data = bundleOf(result.value);
          recorded.output = String(data['text/plain'] ?? '');
          this.publish('execute_result', { execution_count: count, data, metadata: {} }, parent);
        }
        await this.reply(this.shellOut, msg, 'execute_reply', { status: 'ok', execution_count: count, payload: [], user_expressions: {} }, { status: 'ok' });
      } else {
        const error = { ename: result.ename, evalue: result.evalue, traceback: result.traceback };
        this.publish('error', error, parent);
        // with stop_on_error, requests already queued behind this one are answered 'aborted'
        if (content.stop_on_error !== false) this.abortBefore = this.executeSerial;
        await this.reply(this.shellOut, msg, 'execute_reply', { status: 'error', execution_count: count, ...error }, { status: 'error' });
      }
    } finally {
      this.publish('status', { execution_state: 'idle' }, parent);
    }
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    attachPublisher(null);
    this.runtime.close();
    for (const s of [this.shell, this.iopub, this.stdin]) s.close();
    // closes the worker's sockets first (see startWorker)
    process.exit(0);
  }
}

function kernelInfo(): Record<string, unknown> {
  const pkg = require('relulab/package.json') as { version: string };
  const ts = require('@tslab/typescript-for-tslab') as { version: string };
  return {
    status: 'ok',
    protocol_version: PROTOCOL_VERSION,
    implementation: 'relulab',
    implementation_version: pkg.version,
    language_info: {
      name: 'typescript',
      version: ts.version,
      mimetype: 'text/x.typescript',
      file_extension: '.ts',
      pygments_lexer: 'typescript',
      codemirror_mode: { name: 'javascript', typescript: true },
      nbconvert_exporter: 'script',
    },
    banner: `relulab ${pkg.version}: deep learning in TypeScript (Node ${process.version}, TypeScript ${ts.version}, tslab 1.0.22)`,
    help_links: [{ text: 'relulab', url: 'https://www.npmjs.com/package/relulab' }],
    debugger: false,
  };
}
