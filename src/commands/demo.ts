import { UserError } from '../errors.js';

/** `rejectc demo`: not built yet (see the open issues). */
export default function demoCommand(): number {
  throw new UserError('"demo" is not implemented yet');
}
