export interface Interrupt {
  /** Aborts on the first Ctrl+C. */
  readonly signal: AbortSignal;
  readonly interrupted: boolean;
  /** Stops listening for Ctrl+C (the command is done with the service). */
  dispose(): void;
}

/**
 * For a command that streams to stdout: the first Ctrl+C aborts `signal`, so the command can say
 * what it left behind; a second one exits at once. A reader that goes away (`| head`) ends the
 * process quietly, which hangs up on the service.
 */
export function watchInterrupt(): Interrupt {
  const ac = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130); // a second Ctrl+C: stop waiting
    interrupted = true;
    ac.abort();
  };
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`agent-api: cannot write the reply: ${err.message}\n`);
    process.exit(1);
  };
  process.on('SIGINT', onSigint);
  // Left on after dispose(): stdout may still fail while it drains.
  process.stdout.on('error', onStdoutError);
  return {
    signal: ac.signal,
    get interrupted() {
      return interrupted;
    },
    dispose: () => process.off('SIGINT', onSigint),
  };
}
