// The tests' fake OpenAI-compatible server as a standalone process, answering every request at
// once with a short streamed reply. Prints its base URL on the first line of stdout.
import { startFakeLlm } from '../../test/support/fake-llm.js';

const fake = await startFakeLlm({ port: Number(process.env['PORT'] ?? 0) });
fake.setDefault({ text: 'Hello from the fake upstream.', chunks: ['Hello', ' from the', ' fake upstream.'] });
process.stdout.write(`${fake.url}\n`);
process.once('SIGTERM', () => void fake.close().then(() => process.exit(0)));
