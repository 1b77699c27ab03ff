/** The relulab kernel over ZeroMQ, driven by relulab's own client: every message type we promise. */
import fs from 'node:fs';
import path from 'node:path';
import * as zmq from 'zeromq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelClient, type Output } from '../src/notebook/client';
import { encode, endpoint, newHeader, type Message } from '../src/notebook/wire';

const root = path.resolve(__dirname, '..');
export const kernelArgv = [process.execPath, path.join(root, 'dist', 'src', 'cli', 'main.js'), 'kernel', '--connection-file', '{connection_file}'];
let kc: KernelClient;

const text = (o: Output | undefined) => String((o?.data as Record<string, unknown> | undefined)?.['text/plain'] ?? o?.text ?? '');

beforeAll(async () => {
  kc = await KernelClient.start({ argv: kernelArgv, cwd: path.join(root, 'test') });
}, 60_000);
afterAll(async () => kc?.close());

describe('the relulab kernel', () => {
  it('answers kernel_info with status ok and real versions', async () => {
    const r = await kc.request('shell', 'kernel_info_request', {});
    const c = r.content as Record<string, any>;
    expect(r.header.msg_type).toBe('kernel_info_reply');
    expect(c.status).toBe('ok');
    expect(c.implementation).toBe('relulab');
    expect(c.implementation_version).toBe(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
    expect(c.language_info.name).toBe('typescript');
    expect(c.language_info.version).toMatch(/^5\./);
    expect(c.protocol_version).toBe('5.3');
  });

  it('has the engine in scope from the first cell, and shows the last expression as a rich execute_result', async () => {
    const { reply, outputs } = await kc.execute('const x = tensor([-1, 0, 2], { requiresGrad: true });\nrelu(x).sum().backward();\nx.grad');
    expect((reply.content as any).status).toBe('ok');
    expect(outputs).toHaveLength(1);
    expect(outputs[0].output_type).toBe('execute_result');
    const data = outputs[0].data as Record<string, string>;
    expect(data['text/plain']).toBe('tensor([0., 0., 1.], shape=[3], dtype=float32)');
    expect(data['text/html']).toContain('<table');
  });

  it('renders plain values as text/plain and objects with Symbol.for("Jupyter.display") with their bundle', async () => {
    expect(text((await kc.execute('({ a: 1, b: [1, 2] })')).outputs[0])).toBe('{ a: 1, b: [ 1, 2 ] }');
    const custom = await kc.execute('({ [Symbol.for("Jupyter.display")]() { return { "text/markdown": "**hi**" }; } })');
    expect(custom.outputs[0].data).toEqual({ 'text/markdown': '**hi**' });
    expect((await kc.execute('undefined')).outputs).toEqual([]);
  });

  it('broadcasts execute_input and streams stdout', async () => {
    const seen: Message[] = [];
    const stop = kc.watchIopub((m) => seen.push(m));
    const { reply, outputs } = await kc.execute('console.log("hello", 6 * 7)');
    stop();
    const input = seen.find((m) => m.header.msg_type === 'execute_input' && m.parent_header.msg_id === reply.parent_header.msg_id);
    expect((input?.content as any).code).toBe('console.log("hello", 6 * 7)');
    expect((input?.content as any).execution_count).toBe((reply.content as any).execution_count);
    expect(outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'hello 42\n' }]);
  });

  it('display sends display_data, updates it in place, and clearOutput clears', async () => {
    const { outputs } = await kc.execute('display({ "text/html": "<b>one</b>" }, { displayId: "d1" });\ndisplay(tensor([1, 2]));\ndisplay({ "text/html": "<b>two</b>" }, { displayId: "d1", update: true });');
    expect(outputs.map((o) => o.output_type)).toEqual(['display_data', 'display_data']);
    expect((outputs[0].data as any)['text/html']).toBe('<b>two</b>');
    expect(text(outputs[1])).toContain('tensor([1., 2.]');
    const cleared = await kc.execute('console.log("gone"); clearOutput(); console.log("kept")');
    expect(cleared.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'kept\n' }]);
  });

  it('reports runtime errors with ename, evalue and a traceback in cell lines, without kernel frames', async () => {
    const { reply, outputs } = await kc.execute('function f(n: number) {\n  return tensor([[1, 2, 3]]).matmul(tensor([[1, 2]]));\n}\nf(1)');
    const c = reply.content as any;
    expect(c.status).toBe('error');
    expect(c.ename).toBe('ShapeError');
    expect(c.evalue).toBe('matmul: shapes [1, 3] and [1, 2] are incompatible (3 vs 1)');
    expect(outputs[0]).toMatchObject({ output_type: 'error', ename: 'ShapeError' });
    const tb = c.traceback.join('\n');
    expect(tb).toContain('cell line');
    expect(tb).not.toMatch(/tslab[/\\]dist|[/\\]kernel[/\\]|node:internal/);
  });

  it('reports type errors with the cell line and column, and the next cell still runs', async () => {
    const bad = await kc.execute('const n: number = 1;\nconst s: string = n;');
    expect((bad.reply.content as any).ename).toBe('TypeScriptError');
    expect((bad.reply.content as any).evalue).toBe("2:7 - Type 'number' is not assignable to type 'string'.");
    const next = await kc.execute('1 + 1');
    expect((next.reply.content as any).status).toBe('ok');
    expect(text(next.outputs[0])).toBe('2');
  });

  it('lets users shadow prelude names, keeping declarations across cells', async () => {
    await kc.execute('let tensor = 5;');
    expect(text((await kc.execute('tensor * 2')).outputs[0])).toBe('10');
    expect(text((await kc.execute('relu(ones([2])).sum().item()')).outputs[0])).toBe('2');
  });

  it("uses earlier cells' variables in shorthand properties", async () => {
    await kc.execute('const epochs = 3;');
    const { outputs } = await kc.execute('const options = { epochs, lr: 0.1 };\noptions');
    expect(text(outputs[0])).toBe('{ epochs: 3, lr: 0.1 }');
  });

  it('answers history, comm_info, complete, inspect and is_complete', async () => {
    const history = await kc.request('shell', 'history_request', { hist_access_type: 'tail', n: 2, output: false, raw: true });
    const h = (history.content as any).history as [number, number, string][];
    expect(history.header.msg_type).toBe('history_reply');
    expect(h.map((e) => e[2])).toEqual(['const epochs = 3;', 'const options = { epochs, lr: 0.1 };\noptions']);
    const comm = await kc.request('shell', 'comm_info_request', {});
    expect(comm.header.msg_type).toBe('comm_info_reply');
    expect((comm.content as any).comms).toEqual({});
    const complete = await kc.request('shell', 'complete_request', { code: 'leakyR', cursor_pos: 6 });
    expect((complete.content as any).matches).toContain('leakyRelu');
    expect((complete.content as any).cursor_start).toBe(0);
    const inspect = await kc.request('shell', 'inspect_request', { code: 'relu6', cursor_pos: 3, detail_level: 0 });
    expect((inspect.content as any).found).toBe(true);
    expect((inspect.content as any).data['text/plain']).toContain('relu6');
    const incomplete = await kc.request('shell', 'is_complete_request', { code: 'function f() {' });
    expect((incomplete.content as any).status).toBe('incomplete');
    const done = await kc.request('shell', 'is_complete_request', { code: 'const a = 1;' });
    expect((done.content as any).status).toBe('complete');
  });

  it('routes output from an async callback to the cell that scheduled it', async () => {
    const seen: Message[] = [];
    const stop = kc.watchIopub((m) => seen.push(m));
    const first = await kc.execute('setTimeout(() => console.log("late"), 300);');
    await kc.execute('await new Promise((r) => setTimeout(r, 600)); console.log("second")');
    stop();
    const late = seen.find((m) => m.header.msg_type === 'stream' && (m.content as any).text === 'late\n');
    expect(late?.parent_header.msg_id).toBe(first.reply.parent_header.msg_id);
  });

  it('interrupts a synchronous loop within a second over the control channel and keeps state', async () => {
    await kc.execute('const kept = 41;');
    const running = kc.execute('let spins = 0; while (true) { spins++; }');
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await kc.interrupt();
    const { reply } = await running;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((reply.content as any).status).toBe('error');
    expect(text((await kc.execute('kept + 1')).outputs[0])).toBe('42');
  });

  it('interrupts in signal mode too: SIGINT stops a synchronous loop and the kernel lives on', async () => {
    const running = kc.execute('let n = 0; while (true) { n++; }');
    await new Promise((r) => setTimeout(r, 300));
    kc.process.kill('SIGINT');
    const { reply } = await running;
    expect((reply.content as any).status).toBe('error');
    expect(text((await kc.execute('6 * 7')).outputs[0])).toBe('42');
  });

  it('interrupts an awaited promise too', async () => {
    const running = kc.execute('await new Promise(() => {})');
    await new Promise((r) => setTimeout(r, 300));
    await kc.interrupt();
    expect(((await running).reply.content as any).status).toBe('error');
    expect(kc.alive).toBe(true);
  });

  it('rejects a message with a wrong signature and binds only to the connection file address', async () => {
    const dealer = new zmq.Dealer();
    dealer.connect(endpoint(kc.connection, kc.connection.shell_port));
    const header = newHeader('kernel_info_request', 'intruder');
    await dealer.send(encode('not-the-key', { identities: [], header, parent_header: {}, metadata: {}, content: {} }));
    dealer.receiveTimeout = 1000;
    await expect(dealer.receive()).rejects.toThrow();
    dealer.close();
    expect(kc.alive).toBe(true);
    // every kernel socket listens on 127.0.0.1 only (/proc/net/tcp: local address 0100007F)
    const listening = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f[3] === '0A');
    const c = kc.connection;
    for (const port of [c.shell_port, c.iopub_port, c.stdin_port, c.control_port, c.hb_port]) {
      const entries = listening.filter((f) => parseInt(f[1].split(':')[1], 16) === port);
      expect(entries.length).toBeGreaterThan(0);
      for (const f of entries) expect(f[1].split(':')[0]).toBe('0100007F');
    }
  });
});
