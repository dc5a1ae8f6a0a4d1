import { UserError } from '../errors.js';

/** `rejectc run`: not built yet (see the open issues). */
export default function runCommand(): number {
  throw new UserError('"run" is not implemented yet');
}
