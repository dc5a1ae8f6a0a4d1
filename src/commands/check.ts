import { UserError } from '../errors.js';

/** `rejectc check`: not built yet (see the open issues). */
export default function checkCommand(): number {
  throw new UserError('"check" is not implemented yet');
}
