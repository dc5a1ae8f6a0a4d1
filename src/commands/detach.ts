import { UserError } from '../errors.js';

/** `rejectc detach`: not built yet (see the open issues). */
export default function detachCommand(): number {
  throw new UserError('"detach" is not implemented yet');
}
