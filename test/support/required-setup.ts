import { before, test as nodeTest, type TestContext } from 'node:test';

/**
 * Runs `setup` before the enclosing suite's tests and returns the `test` to declare them with: if
 * the setup failed (a required service such as PostgreSQL or Redis cannot be reached), every test
 * fails with its message, rather than being cancelled or skipped.
 */
export function requiredSetup(setup: () => Promise<void>): (title: string, fn: (t: TestContext) => Promise<void>) => void {
  let setupError: Error | undefined;
  before(async () => {
    try {
      await setup();
    } catch (err) {
      setupError = err instanceof Error ? err : new Error(String(err));
    }
  });
  return (title, fn) => {
    nodeTest(title, async (t) => {
      if (setupError) throw setupError;
      await fn(t);
    });
  };
}
