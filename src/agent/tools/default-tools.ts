import { calculator } from './calculator.js';
import { currentTime } from './current-time.js';

/** The tools every default agent gets. Pass your own `tools` to `createAgent` to replace them. */
export const defaultTools = { calculator, current_time: currentTime };
