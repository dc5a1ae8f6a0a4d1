import { UserError } from '../errors.js';

/** `rejectc print`: not built yet (see the open issues). */
export default function printCommand(): number {
  throw new UserError('"print" is not implemented yet');
}
