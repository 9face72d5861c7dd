/**
 * MQTT 3.1.1 packets built by hand, byte for byte: for what a well-behaved client library will
 * not send (a CONNECT announcing 250 MB, a half packet, an empty client id with a session). Used
 * by the broker's tests and benches and by `pnpm fuzz`; never by the broker itself.
 */

/** MQTT's remaining-length encoding (1-4 bytes, at most 268,435,455). */
export function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

/** A length-prefixed UTF-8 string (or raw bytes, to send what is not UTF-8). */
export function mqttString(text: string | Buffer): Buffer {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
}

export interface ConnectOptions {
  clientId: string | Buffer;
  /** Default true. */
  clean?: boolean;
  /** Seconds; default 30. */
  keepalive?: number;
  will?: { topic: string; payload: string | Buffer; qos?: number; retain?: boolean };
  username?: string | undefined;
  password?: string | undefined;
  protocolLevel?: number;
  protocolName?: string;
}

export function connectPacket(options: ConnectOptions): Buffer {
  let flags = options.clean === false ? 0 : 0x02;
  const payload = [mqttString(options.clientId)];
  if (options.will) {
    flags |= 0x04 | ((options.will.qos ?? 0) << 3) | (options.will.retain ? 0x20 : 0);
    payload.push(mqttString(options.will.topic), mqttString(options.will.payload));
  }
  if (options.username !== undefined) {
    flags |= 0x80;
    payload.push(mqttString(options.username));
  }
  if (options.password !== undefined) {
    flags |= 0x40;
    payload.push(mqttString(options.password));
  }
  const keepalive = options.keepalive ?? 30;
  const variable = Buffer.concat([
    mqttString(options.protocolName ?? 'MQTT'),
    Buffer.from([options.protocolLevel ?? 4, flags, keepalive >> 8, keepalive & 0xff]),
  ]);
  const body = Buffer.concat([variable, ...payload]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** The start of a QoS 0 PUBLISH whose payload is announced as `payloadBytes` long. */
export function publishHeader(topic: string, payloadBytes: number): Buffer {
  const name = mqttString(topic);
  return Buffer.concat([Buffer.from([0x30]), remainingLength(name.length + payloadBytes), name]);
}

/** The start of a CONNECT announcing `announced` bytes in all. */
export function connectHeader(announced: number): Buffer {
  return Buffer.concat([Buffer.from([0x10]), remainingLength(announced), mqttString('MQTT'), Buffer.from([4, 0x02, 0, 30])]);
}
