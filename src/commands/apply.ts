import { UserError } from '../errors.js';

/** `rejectc apply`: not built yet (see the open issues). */
export default function applyCommand(): number {
  throw new UserError('"apply" is not implemented yet');
}
