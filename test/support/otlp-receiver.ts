/**
 * An in-process OTLP/HTTP trace receiver: collects POST /v1/traces in either encoding the exporters
 * speak (http/json, http/protobuf) and turns both into the same plain spans for assertions. The
 * protobuf is decoded field by field against opentelemetry/proto/trace/v1 (no decoder ships with
 * the exporters).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  /** Nanoseconds since the epoch. */
  startTime: bigint;
  endTime: bigint;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  spans: ReceivedSpan[];
  /** The content-type of every export request, in order. */
  contentTypes: string[];
  close(): Promise<void>;
}

// ---- protobuf: just enough of the wire format to walk the messages ----

type Field = { no: number; wire: number; varint?: bigint; bytes?: Buffer };

function readVarint(buf: Buffer, at: number): [bigint, number] {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buf[at++]!;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const [key, next] = readVarint(buf, at);
    at = next;
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, n] = readVarint(buf, at);
      out.push({ no, wire, varint: v });
      at = n;
    } else if (wire === 1) {
      out.push({ no, wire, bytes: buf.subarray(at, at + 8) });
      at += 8;
    } else if (wire === 2) {
      const [len, n] = readVarint(buf, at);
      out.push({ no, wire, bytes: buf.subarray(n, n + Number(len)) });
      at = n + Number(len);
    } else if (wire === 5) {
      out.push({ no, wire, bytes: buf.subarray(at, at + 4) });
      at += 4;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return out;
}

const sub = (fs: Field[], no: number) => fs.filter((f) => f.no === no).map((f) => f.bytes!);

function anyValue(buf: Buffer): unknown {
  const [f] = fields(buf);
  if (!f) return undefined;
  switch (f.no) {
    case 1:
      return f.bytes!.toString('utf8');
    case 2:
      return f.varint !== 0n;
    case 3:
      return Number(BigInt.asIntN(64, f.varint!));
    case 4:
      return f.bytes!.readDoubleLE(0);
    case 5:
      return sub(fields(f.bytes!), 1).map(anyValue);
    default:
      return f.bytes;
  }
}

function protoAttributes(list: Buffer[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list) {
    const fs = fields(kv);
    const key = sub(fs, 1)[0]?.toString('utf8') ?? '';
    const value = sub(fs, 2)[0];
    out[key] = value === undefined ? undefined : anyValue(value);
  }
  return out;
}

export function decodeProtobufTraces(body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of sub(fields(body), 1)) {
    const rsf = fields(rs);
    const resourceBuf = sub(rsf, 1)[0];
    const resource = resourceBuf ? protoAttributes(sub(fields(resourceBuf), 1)) : {};
    for (const ss of sub(rsf, 2)) {
      for (const s of sub(fields(ss), 2)) {
        const sf = fields(s);
        const status = sub(sf, 15)[0];
        spans.push({
          traceId: sub(sf, 1)[0]?.toString('hex') ?? '',
          spanId: sub(sf, 2)[0]?.toString('hex') ?? '',
          parentSpanId: sub(sf, 4)[0]?.toString('hex') ?? '',
          name: sub(sf, 5)[0]?.toString('utf8') ?? '',
          kind: Number(sf.find((f) => f.no === 6)?.varint ?? 0n),
          startTime: sub(sf, 7)[0]?.readBigUInt64LE(0) ?? 0n,
          endTime: sub(sf, 8)[0]?.readBigUInt64LE(0) ?? 0n,
          statusCode: status ? Number(fields(status).find((f) => f.no === 3)?.varint ?? 0n) : 0,
          attributes: protoAttributes(sub(sf, 9)),
          resource,
        });
      }
    }
  }
  return spans;
}

// ---- JSON ----

interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
}
type JsonKeyValue = { key: string; value: JsonAnyValue };

function jsonValue(v: JsonAnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(jsonValue);
  return undefined;
}

const jsonAttributes = (list: JsonKeyValue[] = []) => Object.fromEntries(list.map((kv) => [kv.key, jsonValue(kv.value)]));

interface JsonTraces {
  resourceSpans?: Array<{
    resource?: { attributes?: JsonKeyValue[] };
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        startTimeUnixNano: string | number;
        endTimeUnixNano: string | number;
        status?: { code?: number };
        attributes?: JsonKeyValue[];
      }>;
    }>;
  }>;
}

export function decodeJsonTraces(body: Buffer): ReceivedSpan[] {
  const parsed = JSON.parse(body.toString('utf8')) as JsonTraces;
  const spans: ReceivedSpan[] = [];
  for (const rs of parsed.resourceSpans ?? []) {
    const resource = jsonAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: s.kind,
          startTime: BigInt(s.startTimeUnixNano),
          endTime: BigInt(s.endTimeUnixNano),
          statusCode: s.status?.code ?? 0,
          attributes: jsonAttributes(s.attributes),
          resource,
        });
      }
    }
  }
  return spans;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const type = req.headers['content-type'] ?? '';
      contentTypes.push(type);
      const body = Buffer.concat(chunks);
      try {
        spans.push(...(type.startsWith('application/json') ? decodeJsonTraces(body) : decodeProtobufTraces(body)));
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (type.startsWith('application/json')) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
