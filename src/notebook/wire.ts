/**
 * The Jupyter messaging wire format (protocol 5.3), shared by the relulab kernel and relulab's own kernel
 * client: connection files, HMAC-SHA256 signatures and the multipart framing
 * `[identities…, '<IDS|MSG>', signature, header, parent_header, metadata, content, buffers…]`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';

export const PROTOCOL_VERSION = '5.3';
const DELIMITER = '<IDS|MSG>';

export interface ConnectionInfo {
  transport: 'tcp' | 'ipc';
  ip: string;
  key: string;
  signature_scheme: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  kernel_name?: string;
}

export interface Header {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

export interface Message<C = Record<string, unknown>> {
  identities: Buffer[];
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
}

export class WireError extends Error {
  readonly code = 'RELULAB_WIRE';
}

export function readConnectionFile(path: string): ConnectionInfo {
  let info: ConnectionInfo;
  try {
    info = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (e) {
    throw new WireError(`cannot read the connection file ${path}: ${(e as Error).message}`);
  }
  if (info.signature_scheme && info.signature_scheme !== 'hmac-sha256') {
    throw new WireError(`connection file ${path}: unsupported signature scheme ${info.signature_scheme} (expected hmac-sha256)`);
  }
  for (const port of ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'] as const) {
    if (!Number.isInteger(info[port])) throw new WireError(`connection file ${path}: ${port} is missing`);
  }
  return info;
}

export function endpoint(info: ConnectionInfo, port: number): string {
  return info.transport === 'ipc' ? `ipc://${info.ip}-${port}` : `tcp://${info.ip}:${port}`;
}

export function sign(key: string, parts: readonly (Buffer | string)[]): string {
  if (key === '') return '';
  const hmac = crypto.createHmac('sha256', key);
  for (const p of parts) hmac.update(p);
  return hmac.digest('hex');
}

export function newHeader(msgType: string, session: string, username = 'relulab'): Header {
  return { msg_id: crypto.randomUUID(), msg_type: msgType, session, username, date: new Date().toISOString(), version: PROTOCOL_VERSION };
}

/** Frames a message for sending, signed with `key`. */
export function encode(key: string, msg: Omit<Message, 'buffers'> & { buffers?: Buffer[] }): (Buffer | string)[] {
  const parts = [JSON.stringify(msg.header), JSON.stringify(msg.parent_header), JSON.stringify(msg.metadata), JSON.stringify(msg.content)];
  return [...msg.identities, DELIMITER, sign(key, parts), ...parts, ...(msg.buffers ?? [])];
}

/** Parses received frames; throws a WireError when the signature does not match. */
export function decode(key: string, frames: readonly Buffer[]): Message {
  const at = frames.findIndex((f) => f.toString() === DELIMITER);
  if (at < 0 || frames.length < at + 6) throw new WireError('malformed message: no <IDS|MSG> delimiter or missing parts');
  const [signature, header, parent, metadata, content] = frames.slice(at + 1, at + 6);
  if (key !== '') {
    const expected = Buffer.from(sign(key, [header, parent, metadata, content]));
    const got = Buffer.from(signature.toString());
    if (expected.length !== got.length || !crypto.timingSafeEqual(expected, got)) throw new WireError('invalid message signature');
  }
  return {
    identities: frames.slice(0, at),
    header: JSON.parse(header.toString()),
    parent_header: JSON.parse(parent.toString()),
    metadata: JSON.parse(metadata.toString()),
    content: JSON.parse(content.toString()),
    buffers: frames.slice(at + 6),
  };
}

/** Parses frames, or reports why they were rejected (bad signature, malformed) on stderr and returns null. */
export function decodeOrReject(key: string, frames: readonly Buffer[], channel: string): Message | null {
  try {
    return decode(key, frames);
  } catch (e) {
    process.stderr.write(`relulab kernel: rejected a ${channel} message: ${(e as Error).message}\n`);
    return null;
  }
}
