import { UserError } from '../errors.js';

/** `rejectc compile`: not built yet (see the open issues). */
export default function compileCommand(): number {
  throw new UserError('"compile" is not implemented yet');
}
