import { readFileSync } from 'node:fs';
import { UserError } from './errors.js';

export interface SourceText {
  /** The name diagnostics use: the path as given, or `<stdin>` for `-`. */
  file: string;
  text: string;
}

/** Reads a rules file, or standard input for `-`. Throws {@link UserError} if unreadable. */
export function readSource(path: string): SourceText {
  if (path === '-') {
    return { file: '<stdin>', text: readFileSync(0, 'utf8') };
  }
  try {
    return { file: path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UserError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code}`);
  }
}
