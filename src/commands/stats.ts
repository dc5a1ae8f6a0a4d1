import { UserError } from '../errors.js';

/** `rejectc stats`: not built yet (see the open issues). */
export default function statsCommand(): number {
  throw new UserError('"stats" is not implemented yet');
}
