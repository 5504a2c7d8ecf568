// The floor: bare node:http answering the same JSON as /health and the seed's stub /chat.
// No framework can be faster than this on the same machine.
import { randomUUID } from 'node:crypto';
import http from 'node:http';

const health = JSON.stringify({ status: 'healthy', version: '1.0.0' });
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(health);
    return;
  }
  if (req.method === 'POST' && req.url === '/chat') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const { session_id } = JSON.parse(body);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ reply: '这是 Agent 的回复', session_id: session_id ?? randomUUID(), tool_calls: [] }));
    });
    return;
  }
  res.writeHead(404).end();
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
