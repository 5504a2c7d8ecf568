import { tool } from 'ai';
import { z } from 'zod';

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const currentTime = tool({
  description: 'Get the current date and time, optionally in an IANA time zone such as "Asia/Shanghai" or "America/New_York".',
  inputSchema: z.object({
    timezone: z.string().max(64).optional().describe('IANA time zone name; UTC when omitted'),
  }),
  execute: async ({ timezone }) => {
    const timeZone = timezone ?? 'UTC';
    if (!isTimeZone(timeZone)) throw new Error(`Unknown time zone '${timeZone}'; use an IANA name such as "Europe/Paris"`);
    const now = new Date();
    const local = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      dateStyle: 'full',
      timeStyle: 'long',
    }).format(now);
    return { timezone: timeZone, iso: now.toISOString(), local };
  },
});
