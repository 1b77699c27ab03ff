/**
 * A Jupyter kernel client over ZeroMQ, as jupyter_client's: it starts a kernel process from a kernelspec
 * argv with a fresh connection file, and speaks to it on shell, control, iopub and heartbeat.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as zmq from 'zeromq';
import { decode, encode, endpoint, newHeader, type ConnectionInfo, type Message } from './wire';

export class KernelError extends Error {
  readonly code: string;
  constructor(code: 'RELULAB_KERNEL_START' | 'RELULAB_KERNEL_DIED' | 'RELULAB_KERNEL_TIMEOUT', message: string) {
    super(message);
    this.code = code;
  }
}

/** An output as nbformat stores it. */
export type Output = Record<string, unknown> & { output_type: string };

export interface ExecuteResult {
  reply: Message;
  outputs: Output[];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  /** The kernel command; `{connection_file}` is replaced by the connection file's path. */
  argv: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Milliseconds to wait for the first kernel_info_reply. */
  startupTimeout?: number;
  /** Called with the kernel's stderr. */
  onStderr?: (text: string) => void;
}

export class KernelClient {
  private readonly shell = new zmq.Dealer();
  private readonly control = new zmq.Dealer();
  private readonly iopub = new zmq.Subscriber();
  private readonly pending = new Map<string, (m: Message) => void>();
  private readonly listeners = new Map<string, (m: Message) => void>();
  private readonly watchers = new Set<(m: Message) => void>();
  private readonly session = crypto.randomUUID();
  private exitInfo: string | null = null;
  private shellChain: Promise<void> = Promise.resolve();
  private controlChain: Promise<void> = Promise.resolve();
  readonly connectionFile: string;

  private constructor(readonly connection: ConnectionInfo, readonly process: ChildProcess, connectionFile: string) {
    this.connectionFile = connectionFile;
    process.on('exit', (code, signal) => {
      this.exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
      for (const reject of this.deathWatchers) reject(new KernelError('RELULAB_KERNEL_DIED', `the kernel died (${this.exitInfo})`));
    });
  }

  private readonly deathWatchers = new Set<(e: Error) => void>();

  /** Starts a kernel and waits until it answers kernel_info. */
  static async start({ argv, cwd = process.cwd(), env = process.env, startupTimeout = 60_000, onStderr }: StartOptions): Promise<KernelClient> {
    const ports = await Promise.all([1, 2, 3, 4, 5].map(freePort));
    const connection: ConnectionInfo = {
      transport: 'tcp', ip: '127.0.0.1', key: crypto.randomUUID(), signature_scheme: 'hmac-sha256',
      shell_port: ports[0], iopub_port: ports[1], stdin_port: ports[2], control_port: ports[3], hb_port: ports[4],
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-kernel-'));
    const file = path.join(dir, 'connection.json');
    fs.writeFileSync(file, JSON.stringify(connection), { mode: 0o600 });
    const args = argv.map((a) => a.replace('{connection_file}', file));
    if (args.length === 0) throw new KernelError('RELULAB_KERNEL_START', 'the kernel command is empty');
    const child = spawn(args[0], args.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const client = new KernelClient(connection, child, file);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(d.toString());
    });
    child.stdout!.on('data', () => undefined);
    const spawnError = new Promise<never>((_, reject) =>
      child.on('error', (e) => {
        client.exitInfo = `not started: ${e.message}`;
        reject(new KernelError('RELULAB_KERNEL_START', `cannot start the kernel (${args[0]}): ${e.message}`));
      }),
    );
    await client.connect();
    try {
      await Promise.race([client.request('shell', 'kernel_info_request', {}, startupTimeout), spawnError]);
    } catch (e) {
      await client.close();
      const detail = stderr.trim() ? `\n${stderr.trim().split('\n').slice(-10).join('\n')}` : '';
      throw new KernelError('RELULAB_KERNEL_START', `the kernel did not start: ${(e as Error).message}${detail}`);
    }
    return client;
  }

  private async connect(): Promise<void> {
    const c = this.connection;
    this.shell.connect(endpoint(c, c.shell_port));
    this.control.connect(endpoint(c, c.control_port));
    this.iopub.connect(endpoint(c, c.iopub_port));
    this.iopub.subscribe();
    void this.listen(this.shell);
    void this.listen(this.control);
    void this.listenIopub();
  }

  private async listen(socket: zmq.Dealer): Promise<void> {
    try {
      for await (const frames of socket) {
        const msg = decode(this.connection.key, frames);
        const parent = msg.parent_header.msg_id;
        if (parent !== undefined) this.pending.get(parent)?.(msg);
      }
    } catch {
      // the socket was closed
    }
  }

  private async listenIopub(): Promise<void> {
    try {
      for await (const frames of this.iopub) {
        const msg = decode(this.connection.key, frames);
        for (const watch of this.watchers) watch(msg);
        const parent = msg.parent_header.msg_id;
        if (parent !== undefined) this.listeners.get(parent)?.(msg);
      }
    } catch {
      // the socket was closed
    }
  }

  /** Sees every iopub message; returns a function that stops watching. */
  watchIopub(fn: (m: Message) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Whether the kernel process is still running. */
  get alive(): boolean {
    return this.exitInfo === null;
  }

  private send(channel: 'shell' | 'control', msgType: string, content: Record<string, unknown>): string {
    const header = newHeader(msgType, this.session);
    const frames = encode(this.connection.key, { identities: [], header, parent_header: {}, metadata: {}, content });
    if (channel === 'shell') this.shellChain = this.shellChain.then(() => this.shell.send(frames));
    else this.controlChain = this.controlChain.then(() => this.control.send(frames));
    return header.msg_id;
  }

  /** Sends a request and resolves with its reply. */
  request(channel: 'shell' | 'control', msgType: string, content: Record<string, unknown>, timeout = 30_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      if (!this.alive) return reject(new KernelError('RELULAB_KERNEL_DIED', `the kernel is not running (${this.exitInfo})`));
      const id = this.send(channel, msgType, content);
      const timer = setTimeout(() => finish(new KernelError('RELULAB_KERNEL_TIMEOUT', `no reply to ${msgType} within ${timeout} ms`)), timeout);
      const died = (e: Error) => finish(e);
      const finish = (error: Error | null, msg?: Message) => {
        clearTimeout(timer);
        this.pending.delete(id);
        this.deathWatchers.delete(died);
        if (error) reject(error);
        else resolve(msg!);
      };
      this.deathWatchers.add(died);
      this.pending.set(id, (m) => finish(null, m));
    });
  }

  /**
   * Executes code and collects its outputs (nbformat-shaped) until the kernel goes idle and the reply is in.
   * `onOutput` sees each output as it arrives.
   */
  execute(code: string, { timeout = 600_000, onOutput, stopOnError = true }: { timeout?: number; onOutput?: (o: Output) => void; stopOnError?: boolean } = {}): Promise<ExecuteResult> {
    return new Promise((resolve, reject) => {
      if (!this.alive) return reject(new KernelError('RELULAB_KERNEL_DIED', `the kernel is not running (${this.exitInfo})`));
      const outputs: Output[] = [];
      const displays = new Map<string, Output[]>();
      let reply: Message | null = null;
      let idle = false;
      let clearPending = false;
      const id = this.send('shell', 'execute_request', { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: stopOnError });
      const push = (o: Output) => {
        if (clearPending) {
          outputs.length = 0;
          clearPending = false;
        }
        // consecutive stream text of the same name joins into one output, as nbformat stores it
        const last = outputs[outputs.length - 1];
        if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name) last.text = String(last.text) + String(o.text);
        else outputs.push(o);
        onOutput?.(o);
      };
      this.listeners.set(id, (m) => {
        const c = m.content as Record<string, unknown>;
        switch (m.header.msg_type) {
          case 'stream':
            push({ output_type: 'stream', name: c.name, text: c.text });
            break;
          case 'display_data':
          case 'update_display_data': {
            const displayId = (c.transient as { display_id?: string } | undefined)?.display_id;
            if (m.header.msg_type === 'update_display_data') {
              for (const o of displayId ? (displays.get(displayId) ?? []) : []) {
                o.data = c.data;
                o.metadata = c.metadata ?? {};
              }
              break;
            }
            const o: Output = { output_type: 'display_data', data: c.data, metadata: c.metadata ?? {} };
            if (displayId) displays.set(displayId, [...(displays.get(displayId) ?? []), o]);
            push(o);
            break;
          }
          case 'execute_result':
            push({ output_type: 'execute_result', execution_count: c.execution_count, data: c.data, metadata: c.metadata ?? {} });
            break;
          case 'error':
            push({ output_type: 'error', ename: c.ename, evalue: c.evalue, traceback: c.traceback });
            break;
          case 'clear_output':
            if (c.wait) clearPending = true;
            else outputs.length = 0;
            break;
          case 'status':
            if (c.execution_state === 'idle') {
              idle = true;
              if (reply) done(null);
            }
            break;
        }
      });
      const timer = setTimeout(() => done(new KernelError('RELULAB_KERNEL_TIMEOUT', `the cell did not finish within ${timeout} ms`)), timeout);
      const died = (e: Error) => done(e);
      const done = (error: Error | null) => {
        clearTimeout(timer);
        this.listeners.delete(id);
        this.pending.delete(id);
        this.deathWatchers.delete(died);
        if (error) reject(error);
        else resolve({ reply: reply!, outputs });
      };
      this.deathWatchers.add(died);
      this.pending.set(id, (m) => {
        reply = m;
        if (idle) done(null);
      });
    });
  }

  /** Asks the kernel to interrupt the running cell (over control, as interrupt_mode "message"). */
  async interrupt(): Promise<void> {
    await this.request('control', 'interrupt_request', {}, 10_000);
  }

  private closing: Promise<void> | null = null;

  /** Shuts the kernel down (asking first, then killing it), and closes the sockets; later calls wait for the first. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.alive) {
      try {
        await this.request('control', 'shutdown_request', { restart: false }, 5_000);
      } catch {
        // the kernel does not answer: killed below
      }
      await new Promise<void>((resolve) => {
        if (!this.alive) return resolve();
        const timer = setTimeout(() => {
          this.process.kill('SIGKILL');
          resolve();
        }, 3_000);
        this.process.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    for (const s of [this.shell, this.control, this.iopub]) s.close();
    fs.rmSync(path.dirname(this.connectionFile), { recursive: true, force: true });
  }
}
